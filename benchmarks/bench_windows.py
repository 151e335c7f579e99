"""Suspend/resume confirmation latency through the local stack, measured in this run: from the entry
point's request to the provider's confirmation (Connect's SuspendContactRecording, or the SMA's
PauseCallRecording ACTION_SUCCESSFUL), for both providers; p50 and p99 over N windows each. The ratio
that compares across machines: p50 against Connect's 8 s contact-flow budget."""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]
logging.getLogger().addHandler(logging.NullHandler())


from benchmarks.figures import figure  # noqa: E402
from callrec import demo  # noqa: E402
from callrec.callcentre import LocalCallCentre  # noqa: E402
from callrec.runtime import LocalRuntime  # noqa: E402

WINDOWS = 25
CONTACT_FLOW_BUDGET_SECONDS = 8.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _measure(session_id: str) -> dict[str, list[float]]:
    from callrec_shared import sessions

    timings: dict[str, list[float]] = {"suspend": [], "resume": []}
    for _ in range(WINDOWS):
        for kind in ("suspend", "resume"):
            began = time.perf_counter()
            outcome = sessions.signal(session_id, kind, actor="api", wait_seconds=10.0)
            elapsed = time.perf_counter() - began
            assert outcome["status"] == "applied", outcome
            timings[kind].append(elapsed)
    return timings


def main() -> None:
    with LocalRuntime(time_scale=demo.DEMO_TIME_SCALE) as runtime:
        centre = LocalCallCentre(runtime.deployment)
        centre.sim.throttling = False  # Connect's 2/s quota would dominate; it is measured by its own tests
        connect = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
        centre.sim.connect.agent_joins(connect.contact_id)
        connect.session_id = centre.contact_flow(connect, "start")["sessionId"]
        centre.contact_flow(connect, "consent", answer="heard")
        centre.wait_for_status(connect.session_id, "RECORDING")
        chime = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
        centre.wait_for_status(chime.session_id, "RECORDING")
        results = {"connect": _measure(connect.session_id), "chime": _measure(chime.session_id)}
    for provider, timings in results.items():
        for kind, values in timings.items():
            p50, p99 = statistics.median(values), _percentile(values, 0.99)
            print(
                f"windows: {provider:7} {kind:7} confirmed  p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
                f"(n={len(values)}; p50 = {p50 / CONTACT_FLOW_BUDGET_SECONDS:.3f} of the 8 s contact-flow budget)"
            )
            for label, value in (("p50", p50), ("p99", p99)):
                figure(
                    "windows",
                    f"{provider} {kind} confirmed, {label} (n={len(values)})",
                    round(value * 1000, 1),
                    "ms",
                    f"{value / CONTACT_FLOW_BUDGET_SECONDS:.3f} of Connect's 8 s contact-flow budget",
                )


if __name__ == "__main__":
    main()
