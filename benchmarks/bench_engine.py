"""Engine and workflow figures, all measured in this run: per demo call, the state transitions, Lambda
invocations, cost at Standard pricing and wall time; the template's deploy time; each function's cold
import (fresh interpreter) against a bare interpreter start, the ratio that compares across machines.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]

from moto import mock_aws  # noqa: E402

from callrec import demo, engine  # noqa: E402
from callrec.stack import LocalStack  # noqa: E402

PRICE_PER_1000_TRANSITIONS_USD = 0.025  # Standard workflows, us-east-1
logging.getLogger().addHandler(logging.NullHandler())  # moto logs every failed execution as an error


def bench_deploy() -> None:
    engine.install()
    with mock_aws(config=demo.MOTO_CONFIG):
        began = time.perf_counter()
        LocalStack(parameter_overrides={"LogLevel": "WARNING"}).deploy()
        print(f"engine: deploy template.yaml into moto            {(time.perf_counter() - began) * 1000:8.1f} ms")


def bench_demo_calls() -> None:
    began = time.perf_counter()
    results = demo.run(as_json=True, out=io.StringIO(), reports=None)
    total = time.perf_counter() - began
    print(f"{'demo call':34} {'final state':32} {'session':>7} {'verify':>6} {'wf lambdas':>10} {'USD/1k calls':>12}")
    for r in results:
        transitions = r["state_transitions"] + r["verify_state_transitions"]
        cost = transitions * PRICE_PER_1000_TRANSITIONS_USD
        print(f"{r['scenario']:34} {r['final_state']:32} {r['state_transitions']:>7} {r['verify_state_transitions']:>6} "
              f"{r['lambda_invocations']:>10} {cost:>12.3f}")
    print("  (transitions of RecordingSession and of VerifyRecording; wf lambdas: RecordingSession's Lambda invocations)")
    print(f"engine: the {len(results)} demo calls end to end, with set-up   {total:8.2f} s")


def _time_python(code: str, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                       env={"PYTHONPATH": f"{REPO / 'layer' / 'python'}", "PATH": "/usr/bin:/bin"})
        best = min(best, time.perf_counter() - began)
    return best


def bench_cold_imports() -> None:
    bare = _time_python("pass")
    for function_dir in sorted((REPO / "functions").iterdir()):
        if not (function_dir / "app.py").is_file():
            continue
        cold = _time_python(f"import sys; sys.path.insert(0, {str(function_dir)!r}); import app")
        print(f"cold import: functions/{function_dir.name:<22} {cold * 1000:8.1f} ms  ({cold / bare:.1f} x a bare interpreter start)")


if __name__ == "__main__":
    bench_deploy()
    bench_demo_calls()
    bench_cold_imports()
