"""Engine and workflow figures, all measured in this run: per demo call, the state transitions, Lambda
invocations and cost at Standard pricing; the template's deploy time; each function's cold import (fresh
interpreter) against a bare interpreter start, the ratio that compares across machines; and each function's
warm handler time over calls played one after another (in-process, against moto), against its cold import.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]


from benchmarks.figures import figure  # noqa: E402
from callrec import demo, engine, load  # noqa: E402
from callrec.runtime import LocalRuntime  # noqa: E402

PRICE_PER_1000_TRANSITIONS_USD = 0.025  # Standard workflows, us-east-1
logging.getLogger().addHandler(logging.NullHandler())  # moto logs every failed execution as an error
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def bench_deploy(rounds: int = 5) -> None:
    """The template deployed resource by resource into a fresh moto (`fresh`), and the same deployment put back
    from the first of the process (what a test's runtime does: callrec.engine.snapshot); the best of `rounds`."""
    with LocalRuntime(deploy=False) as runtime:
        runtime.deploy_template()  # the first deployment loads botocore's models; a test's deployment is the next
    took: dict[bool, float] = {}
    for fresh in (True, False):
        for _ in range(rounds):
            with LocalRuntime(deploy=False) as runtime:  # a fresh moto: the same names again
                began = time.perf_counter()
                runtime.deploy_template(fresh=fresh)
                took[fresh] = min(took.get(fresh, float("inf")), time.perf_counter() - began)
    made, put_back = took[True] * 1000, took[False] * 1000
    print(f"engine: deploy template.yaml into moto            {made:8.1f} ms (put back: {put_back:.1f} ms)")
    figure("engine", "deploy template.yaml into the local stack", round(made), "ms")
    figure(
        "engine",
        "the same deployment put back into a fresh moto",
        round(put_back, 1),
        "ms",
        f"{put_back / made:.2f}x made resource by resource",
    )


def bench_iam_check(calls: int = 300) -> None:
    """What IAM enforced per role costs: a DynamoDB GetItem in-process, unchecked and acting as the API's role."""
    from callrec.engine import authorization
    from callrec.stack import client

    with LocalRuntime() as runtime:
        deployment = runtime.deployment
        table, dynamodb = deployment.physical("SessionsTable"), client("dynamodb")
        role = f"arn:aws:iam::123456789012:role/{deployment.stack_name}-ApiRole"

        def per_call() -> float:
            began = time.perf_counter()
            for _ in range(calls):
                dynamodb.get_item(TableName=table, Key={"sessionId": {"S": "bench"}})
            return (time.perf_counter() - began) / calls

        per_call()  # warm
        unchecked = per_call()
        with authorization.acting_as(role, "bench"):
            checked = per_call()
    print(
        f"engine: DynamoDB GetItem unchecked {unchecked * 1e6:7.0f} us, as a role {checked * 1e6:7.0f} us "
        f"({checked / unchecked:.2f}x)"
    )
    figure(
        "engine",
        "a DynamoDB call checked against its role",
        round(checked * 1e6),
        "us",
        f"{checked / unchecked:.2f}x unchecked",
    )


def _payment_call_history(runtime: LocalRuntime) -> list[dict]:
    """The demo's connect-payment call played to its end in `runtime`; its RecordingSession's history."""
    from callrec.callcentre import LocalCallCentre
    from callrec.history import fetch_history
    from callrec.stack import client

    centre = LocalCallCentre(runtime.deployment)
    call = next(s for s in demo.SCENARIOS if s.name == "connect-payment").play(centre)
    centre.finish(call.session_id)
    return fetch_history(client("stepfunctions"), centre.execution_arn(call.session_id))


def bench_state_data_copies(rounds: int = 20) -> None:
    """What copying a state's data costs (the interpreter copies a state's input about five times per state
    entered): every state input of a demo payment call's RecordingSession, copied as moto did (copy.deepcopy) and as
    the ledger's records do (callrec.engine.copies.json_copy); the best of `rounds`."""
    import copy
    import json

    from callrec.engine.copies import json_copy

    with LocalRuntime(time_scale=demo.DEMO_TIME_SCALE) as runtime:
        events = _payment_call_history(runtime)
    inputs = [json.loads(e["stateEnteredEventDetails"]["input"]) for e in events if "stateEnteredEventDetails" in e]
    took = {
        name: min(timeit.repeat(lambda copier=copier: [copier(value) for value in inputs], number=1, repeat=rounds))
        / len(inputs)
        for name, copier in (("deepcopy", copy.deepcopy), ("json_copy", json_copy))
    }
    size = statistics.mean(len(json.dumps(value)) for value in inputs)
    ratio = took["deepcopy"] / took["json_copy"]
    print(
        f"engine: a state's input ({len(inputs)} of a payment call, {size:.0f} B mean) copied: deepcopy "
        f"{took['deepcopy'] * 1e6:.0f} us, json_copy {took['json_copy'] * 1e6:.0f} us ({ratio:.1f}x faster)"
    )
    figure(
        "engine",
        "a state's input copied (payment call, mean)",
        round(took["json_copy"] * 1e6, 1),
        "us",
        f"{ratio:.1f}x faster than copy.deepcopy ({took['deepcopy'] * 1e6:.0f} us)",
    )


def bench_answer_reading(rounds: int = 20) -> None:
    """What reading an answer with timestamps costs: a demo payment call's stream records (GetRecords) and its
    RecordingSession's history (GetExecutionHistory), read by botocore's walk against the output shape and as the
    ledger's record reads them (callrec.engine.parsing: json.loads, then the timestamps and the structures the walk
    would change); the best of `rounds`."""
    from botocore.parsers import JSONParser

    bodies: dict[str, list] = {"GetRecordsOutput": [], "GetExecutionHistoryOutput": []}

    with LocalRuntime(time_scale=demo.DEMO_TIME_SCALE) as runtime:
        read = JSONParser._handle_json_body  # the record's, installed by the runtime

        def kept(self, raw_body, shape):
            if shape is not None and shape.name in bodies:
                bodies[shape.name].append((raw_body, shape))
            return read(self, raw_body, shape)

        JSONParser._handle_json_body = kept
        try:
            _payment_call_history(runtime)
        finally:
            JSONParser._handle_json_body = read
        parser = JSONParser()
        for name, answers in bodies.items():
            ways = {
                "walk": lambda answers=answers: [
                    parser._parse_shape(s, parser._parse_body_as_json(b)) for b, s in answers
                ],
                "record": lambda answers=answers: [parser._handle_json_body(b, s) for b, s in answers],
            }
            took = {way: min(timeit.repeat(run, number=1, repeat=rounds)) / len(answers) for way, run in ways.items()}
            size = statistics.mean(len(b) for b, _ in answers)
            ratio = took["walk"] / took["record"]
            operation = name.removesuffix("Output")
            print(
                f"engine: a {operation} answer ({len(answers)} of a payment call, {size / 1000:.1f} kB mean) read: "
                f"botocore's walk {took['walk'] * 1e6:.0f} us, the record {took['record'] * 1e6:.0f} us "
                f"({ratio:.1f}x faster)"
            )
            figure(
                "engine",
                f"a {operation} answer read (payment call, mean)",
                round(took["record"] * 1e6, 1),
                "us",
                f"{ratio:.1f}x faster than botocore's walk ({took['walk'] * 1e6:.0f} us)",
            )


# The first version's figures for the same demo calls (state transitions of both workflows; Lambda invocations by
# the workflows), measured on it with `callrec demo --json`: what every later figure is read against.
FIRST_VERSION = {
    "chime-payment": (73, 4),
    "connect-payment": (71, 4),
    "connect-notice": (41, 4),
    "connect-recording-never-lands": (None, 11),
}


def _against_first(scenario: str, index: int, value: int) -> str:
    first = FIRST_VERSION.get(scenario, (None, None))[index]
    what = ("", "workflows ")[index]
    return f"; first version: {what}{first} ({value / first:.2f}x)" if first else ""


def bench_demo_calls() -> None:
    began = time.perf_counter()
    results = demo.run(as_json=True, out=io.StringIO(), reports=None)
    total = time.perf_counter() - began
    print(f"{'demo call':34} {'final state':32} {'session':>7} {'verify':>6} {'lambdas':>7} {'USD/1k calls':>12}")
    for r in results:
        transitions = r["state_transitions"] + r["verify_state_transitions"]
        lambdas = r["lambda_invocations"] + r["verify_lambda_invocations"] + r["entry_point_invocations"]
        cost = transitions * PRICE_PER_1000_TRANSITIONS_USD
        print(
            f"{r['scenario']:34} {r['final_state']:32} {r['state_transitions']:>7} {r['verify_state_transitions']:>6} "
            f"{lambdas:>7} {cost:>12.3f}"
        )
        figure(
            "per call",
            f"{r['scenario']}: state transitions",
            transitions,
            "",
            f"RecordingSession {r['state_transitions']} + VerifyRecording {r['verify_state_transitions']}"
            + _against_first(r["scenario"], 0, transitions),
        )
        figure(
            "per call",
            f"{r['scenario']}: Lambda invocations",
            lambdas,
            "",
            f"workflows {r['lambda_invocations'] + r['verify_lambda_invocations']} + entry point {r['entry_point_invocations']}"
            + _against_first(r["scenario"], 1, r["lambda_invocations"] + r["verify_lambda_invocations"]),
        )
        figure(
            "per call",
            f"{r['scenario']}: cost per 1,000 calls",
            round(cost, 3),
            "USD",
            "Step Functions Standard, us-east-1",
        )
    print("  (transitions of RecordingSession and of VerifyRecording; lambdas: both workflows' and the entry point's)")
    bench_window_and_landing_retry({r["scenario"]: r for r in results})
    print(f"engine: the {len(results)} demo calls end to end, with set-up   {total:8.2f} s")
    figure("engine", f"the {len(results)} demo calls end to end, with set-up", round(total, 2), "s")


# A card-number window's cost: a payment call less the same call without one (both played in this run)
WINDOW_PAIRS = {"connect": ("connect-payment", "connect-notice"), "chime": ("chime-payment", "chime-opt-in-accepted")}


def bench_window_and_landing_retry(by_scenario: dict[str, dict]) -> None:
    """Two figures the issue sets aims for: what one window adds to a call, and what one more look for a recording
    that has not landed costs (the states between two looks of connect-recording-never-lands)."""
    for provider, (payment, plain) in WINDOW_PAIRS.items():
        added = by_scenario[payment]["state_transitions"] - by_scenario[plain]["state_transitions"]
        print(f"engine: {provider} a card-number window adds {added} state transitions ({payment} less {plain})")
        figure(
            "per call", f"{provider}: a card-number window", added, "", f"RecordingSession of {payment} less {plain}"
        )
    never = by_scenario["connect-recording-never-lands"]
    looks = never["verify_lambda_invocations"]
    # the billed transitions beyond the states entered: each look after the first is a retry of the look
    per_retry = (never["verify_state_transitions"] - len(never["verify_states"])) / (looks - 1)
    print(f"engine: connect a landing retry costs {per_retry:g} state transitions ({looks} looks)")
    figure(
        "per call",
        "connect: a landing retry",
        per_retry,
        "",
        f"VerifyRecording of connect-recording-never-lands: {looks} looks, each after the first a retry of the look",
    )


def bench_warm_handlers(cold_imports: dict[str, float], calls: int = 10) -> None:
    """Each function's handler time over `calls` Connect calls driven through the API (one after another:
    no contention) and as many Chime calls: the median of its invocations after the first (which imported
    it), in-process against moto (so an AWS call costs moto's time here, not AWS's), including any bounded
    wait for the workflow (the API's suspend waits for the provider's confirmation)."""
    with load.centre_with_api() as (centre, api_url):
        for _ in range(calls):
            load.run(centre, api_url, 1)
            chime = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
            centre.wait_for_status(chime.session_id, "RECORDING")
            centre.sim.chime.hang_up(chime.transaction_id)
            centre.finish(chime.session_id)
    functions = {id(f): f for f in engine.settings.functions.values()}.values()
    for function in sorted(functions, key=lambda f: f.name):
        durations = list(function.durations)[1:]  # the first one imported the handler
        if not durations:
            continue
        warm = statistics.median(durations)
        name = function.name.removeprefix("callrec-")
        module = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()  # RecordingChecks -> recording_checks
        cold = cold_imports.get(module)
        print(f"warm handler: {name:<22} {warm * 1000:8.2f} ms median of {len(durations)} invocations")
        figure(
            "handlers",
            f"{module}: warm handler time (median of {len(durations)})",
            round(warm * 1000, 2),
            "ms",
            f"1/{cold / warm:.0f} of its cold import" if cold else "",
        )


def _time_python(code: str, repeats: int = 5) -> float:
    command = [sys.executable, "-c", code]
    environment = {"PYTHONPATH": f"{REPO / 'layer' / 'python'}", "PATH": "/usr/bin:/bin"}
    return min(
        timeit.repeat(lambda: subprocess.run(command, check=True, cwd=REPO, env=environment), number=1, repeat=repeats)
    )


def bench_cold_imports() -> dict[str, float]:
    bare = _time_python("pass")
    colds = {}
    for function_dir in sorted((REPO / "functions").iterdir()):
        if not (function_dir / "app.py").is_file():
            continue
        cold = _time_python(f"import sys; sys.path.insert(0, {str(function_dir)!r}); import app")
        print(
            f"cold import: functions/{function_dir.name:<22} {cold * 1000:8.1f} ms  ({cold / bare:.1f} x a bare interpreter start)"
        )
        figure(
            "handlers",
            f"{function_dir.name}: cold import (fresh interpreter)",
            round(cold * 1000, 1),
            "ms",
            f"{cold / bare:.1f} x a bare interpreter start ({bare * 1000:.0f} ms)",
        )
        colds[function_dir.name] = cold
    return colds


if __name__ == "__main__":
    bench_deploy()
    bench_iam_check()
    bench_state_data_copies()
    bench_answer_reading()
    bench_demo_calls()
    bench_warm_handlers(bench_cold_imports())
