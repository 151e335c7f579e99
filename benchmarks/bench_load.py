"""Throughput through the local stack, measured in this run: N Connect payment calls at once (each: start
through the contact-flow Lambda, consent, a suspend/resume window, hang-up), end to end until every session
and its verification have ended. Prints calls/s and the losses: sessions not in a defined state, signals
neither applied nor refused, windows doubled, and the starts the contact-flow Lambda could not answer with a
consent decision within its deadline (the flow takes its safe path: not recorded). `python benchmarks/bench_load.py 10 50 200` (default 10 25).
Connect's recording-API quota (2/s) is switched off: it would measure the quota, not the stack."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]
logging.getLogger().addHandler(logging.NullHandler())

from moto import mock_aws  # noqa: E402

from callrec import demo, engine  # noqa: E402
from callrec.callcentre import LocalCallCentre  # noqa: E402

DEFINED = {"RECORDED", "NOT_RECORDED", "FAILED"}


def _call(centre: LocalCallCentre, index: int, calls: list, errors: list, pending: list) -> None:
    try:
        call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
        centre.sim.connect.agent_joins(call.contact_id)
        answer = centre.contact_flow(call, "start")
        call.session_id = answer.get("sessionId")
        calls.append(call)
        if "consent" not in answer:  # no decision within the flow's deadline: the flow's safe path, no recording
            pending.append(answer.get("error", "no answer"))
            centre.sim.connect.hang_up(call.contact_id)
            centre.contact_flow(call, "hangup")
            return
        consent = centre.contact_flow(call, "consent", answer="heard")
        if "error" in consent:
            errors.append(f"consent answer refused: {consent}")
        centre.wait_for_status(call.session_id, "RECORDING", "FAILED", "NOT_RECORDED", timeout=120)
        if centre.contact_flow(call, "suspend", idempotencyKey=f"s{index}")["suspended"] == "true":
            centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
        centre.contact_flow(call, "resume", idempotencyKey=f"r{index}")
        centre.sim.connect.hang_up(call.contact_id)
        centre.contact_flow(call, "hangup")
    except Exception as err:  # noqa: BLE001 - counted and reported, not raised
        errors.append(f"{type(err).__name__}: {err}")


def _last_states(centre: LocalCallCentre, session_id: str) -> list[str]:
    from callrec.history import fetch_history

    events = fetch_history(centre.sfn, centre.execution_arn(session_id))
    return [e["type"] + ":" + (e.get("stateEnteredEventDetails", {}).get("name") or
                               str(e.get("taskFailedEventDetails", {}).get("error", ""))) for e in events[-6:]]


def run(n: int) -> None:
    engine.reset()
    engine.install()
    engine.settings.time_scale = demo.DEMO_TIME_SCALE
    with mock_aws(config=demo.MOTO_CONFIG):
        centre = LocalCallCentre()
        centre.sim.throttling = False
        calls: list = []
        errors: list[str] = []
        pending: list[str] = []
        began = time.perf_counter()
        threads = [threading.Thread(target=_call, args=(centre, i, calls, errors, pending)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        undefined = lost = doubled = 0
        for call in calls:
            if not call.session_id:
                undefined += 1
                continue
            try:
                centre.finish(call.session_id)
                centre.verification(call.session_id, timeout=120)
            except Exception as err:  # noqa: BLE001 - a session that never ends is a loss, reported below
                errors.append(f"{type(err).__name__}: {err}")
            session = centre.session(call.session_id) or {}
            signals = centre.signals(call.session_id)
            if session.get("status") not in DEFINED:
                undefined += 1
                errors.append(f"session {call.session_id} {session.get('status')} (signalSeq {session.get('signalSeq')}, "
                              f"processedSeq {session.get('processedSeq')}, waiting for {session.get('waitingFor')}): "
                              + ", ".join(f"{s['kind']}:{s['status']}" for s in signals) + " | last states: "
                              + ", ".join(_last_states(centre, call.session_id)))
            lost += sum(1 for s in signals if s["status"] not in ("applied", "rejected", "failed"))
            doubled += max(0, len(session.get("windows", [])) - 1)
        elapsed = time.perf_counter() - began
    print(f"load: {n:>3} payment calls at once  {elapsed:7.1f} s  {n / elapsed:6.2f} calls/s  "
          f"undefined {undefined}  lost signals {lost}  doubled windows {doubled}  errors {len(errors)}  "
          f"start without a decision (safe path) {len(pending)}"
          + (f" ({sorted(set(pending))})" if pending else "")
          + "".join(f"\n    {error[:1200]}" for error in errors[:4]))


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [10, 25]:
        run(n)


if __name__ == "__main__":
    main()
