"""Throughput and loss under load, measured in this run: N Connect calls at once through the local API (HTTP,
SigV4; callrec.load): each started with POST /recordings, its consent reported by the contact flow, some talk,
one or two suspend/resume windows (some double-clicked, some with a stray resume), a stop and the hang-up, its
signals interleaving with every other call's; then each session waited for to its end and its recording
verified. Prints calls/s, the requests sent, and the losses: calls not in a defined state, signals lost or
doubled, answers that contradict the queue, recordings not verified. `python benchmarks/bench_load.py 10 200`
(default 10 50 200). Connect's recording-API quota (2/s) is switched off: it would measure the quota."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]
logging.getLogger().addHandler(logging.NullHandler())
logging.getLogger("werkzeug").setLevel(logging.WARNING)

from benchmarks.figures import figure  # noqa: E402
from callrec import load  # noqa: E402


def run(n: int) -> load.LoadResult:
    with load.centre_with_api() as (centre, api_url):
        return load.run(centre, api_url, n)


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [10, 50, 200]:
        result = run(n)
        verified = result.verdicts.get("VERIFIED", 0)
        print(
            f"load: {n:>3} calls at once via the API  {result.seconds:7.1f} s  {result.calls_per_second:5.2f} calls/s  "
            f"{result.requests} requests, {result.signals} signals  undefined {len(result.undefined)}  "
            f"lost {len(result.lost)}  doubled {len(result.doubled)}  contradicted {len(result.contradicted)}  "
            f"errors {len(result.errors)}  verified {verified}/{n}  "
            f"suspend/resume answered 200 in {_confirmed(result, 'p50 {} ms p99 {} ms')}"
            + "".join(f"\n    {problem[:600]}" for problem in result.problems())
        )
        figure(
            "load",
            f"{n} calls at once through the API: throughput",
            round(result.calls_per_second, 2),
            "calls/s",
            f"{result.seconds:.0f} s end to end incl. verification; {result.requests} HTTP requests",
        )
        figure(
            "load",
            f"{n} calls at once through the API: losses",
            result.losses,
            "",
            f"undefined {len(result.undefined)}, lost {len(result.lost)}, doubled {len(result.doubled)}, "
            f"contradicted {len(result.contradicted)}, errors {len(result.errors)}; verified {verified}/{n}",
        )
        figure(
            "load",
            f"{n} calls at once through the API: suspend/resume answered, p50 / p99",
            _confirmed(result, "{} / {}"),
            "ms",
            "HTTP round trip to the provider's confirmation, the API's 3 s deadline included"
            + ("" if result.confirmed_seconds else "; none was answered 200 (each not confirmed in time: 503)"),
        )


def _confirmed(result: load.LoadResult, form: str) -> str:
    """The p50 and p99 (ms) of the suspends and resumes answered 200, written into `form`, or "none" if not one was
    (a busy moment can leave every one past the API's deadline)."""
    if not result.confirmed_seconds:
        return "none"
    return form.format(f"{result.percentile_ms(0.5):.0f}", f"{result.percentile_ms(0.99):.0f}")


if __name__ == "__main__":
    main()
