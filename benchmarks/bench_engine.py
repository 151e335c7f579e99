"""Embedded engine figures, all measured in this run: execution latency, transitions, cost, cold import.

Ratios (not absolute times) are what compare across machines: the execution's overhead over calling
the handler directly, and a handler module's cold import over a bare interpreter start.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from moto import mock_aws

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]

from callrec import engine  # noqa: E402
from callrec.demo import MOTO_CONFIG  # noqa: E402
from callrec.history import fetch_history, lambda_invocations, state_transitions, wait_for_execution  # noqa: E402
from callrec.stack import LocalStack, client  # noqa: E402

EXECUTIONS = 40
PRICE_PER_1000_TRANSITIONS_USD = 0.025  # Standard workflows, us-east-1


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _request(i: int) -> dict:
    return {
        "provider": "connect",
        "call": {"InstanceId": "bench", "ContactId": f"c-{i}", "InitialContactId": f"c-{i}"},
        "parties": [{"number": "+14155550100"}],
    }


def bench_executions() -> None:
    with mock_aws(config=MOTO_CONFIG):
        began = time.perf_counter()
        deployment = LocalStack(parameter_overrides={"LogLevel": "WARNING"}).deploy()
        deploy_s = time.perf_counter() - began
        sfn = client("stepfunctions")
        arn = deployment.state_machine_arn("RecordingSession")
        latencies, transitions, invocations = [], [], []
        for i in range(EXECUTIONS):
            began = time.perf_counter()
            started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(_request(i)))
            described = wait_for_execution(sfn, started["executionArn"], poll=0.002)
            latencies.append(time.perf_counter() - began)
            assert described["status"] == "SUCCEEDED", described
            events = fetch_history(sfn, started["executionArn"])
            transitions.append(state_transitions(events))
            invocations.append(lambda_invocations(events))
        function = engine.settings.functions[deployment.physical("ValidateRequest")]
        direct = []
        for i in range(EXECUTIONS):
            began = time.perf_counter()
            function.invoke(_request(i))
            direct.append(time.perf_counter() - began)
    p50 = statistics.median(latencies)
    per_call = statistics.mean(transitions)
    print(f"engine: deploy template.yaml                 {deploy_s * 1000:8.1f} ms")
    print(f"engine: RecordingSession execution p50/p99   {p50 * 1000:8.1f} / {_percentile(latencies, 0.99) * 1000:.1f} ms  (n={EXECUTIONS})")
    print(f"engine: execution / direct handler call      {p50 / statistics.median(direct):8.1f} x")
    print(f"engine: state transitions per call           {per_call:8.1f}")
    print(f"engine: lambda invocations per call          {statistics.mean(invocations):8.1f}")
    print(f"engine: cost per 1,000 calls (transitions)   ${per_call * PRICE_PER_1000_TRANSITIONS_USD:8.4f}")


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
        code = f"import sys; sys.path.insert(0, {str(function_dir)!r}); import app"
        cold = _time_python(code)
        print(f"cold import: functions/{function_dir.name:<24} {cold * 1000:8.1f} ms  ({cold / bare:.1f} x a bare interpreter start)")


if __name__ == "__main__":
    bench_executions()
    bench_cold_imports()
