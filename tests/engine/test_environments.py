"""Execution environments: the local engine runs a function's concurrent invocations as Lambda does, each in an
environment of its own (its own copy of the function's module), and reuses an idle one before making another."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from callrec import engine

ARN = "arn:aws:lambda:us-east-1:123456789012:function:stateful"


def _stateful_module(made: list[int]):
    """A function whose module keeps the invocation's event in a global while it works, as Powertools' event
    resolver does (`app.current_event`): safe on Lambda, where an environment serves one invocation at a time."""
    state: dict = {}
    made.append(1)

    def handler(event, context):
        state["event"] = event
        time.sleep(0.05)  # working: another invocation of the same module would overwrite the global now
        return state["event"]

    return handler


def test_concurrent_invocations_each_run_in_their_own_environment_and_idle_ones_are_reused():
    """Before, every invocation ran on one copy of the module: 8 at once all answered the event of whichever wrote
    the global last. (Powertools' event, which lives on a class of the library, not in the function's module, is
    kept per invocation by the engine's powertools records: the next test.)"""
    made: list[int] = []
    function = engine.LambdaFunction(
        "stateful",
        ARN,
        lambda: _stateful_module(made),
        timeout_seconds=30,
        load_environment=lambda n: _stateful_module(made),
    )
    start = threading.Barrier(8)

    def invoke(n: int) -> object:
        start.wait()
        return function.invoke({"n": n})["Payload"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(invoke, range(8)))
    assert answers == [{"n": n} for n in range(8)]
    environments = len(made)
    assert 2 <= environments <= 8
    for n in range(5):  # one at a time: an idle environment serves each, none is made
        assert function.invoke({"n": n})["Payload"] == {"n": n}
    assert len(made) == environments


def test_a_function_without_environments_shares_its_handler():
    """Tests' own stand-in functions (a plain handler, no module) are shared, as before."""
    calls: list[int] = []
    function = engine.LambdaFunction("plain", ARN, lambda: lambda event, context: calls.append(1) or event)
    assert function.invoke({"a": 1})["Payload"] == {"a": 1} and calls == [1]


def _echo_api():
    """A Powertools REST API whose route reads the event it resolves while it works, as functions/api does."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    app = APIGatewayRestResolver()

    @app.get("/echo/<value>")
    def echo(value: str) -> dict:
        time.sleep(0.05)  # working: another invocation resolves its own event now
        return {"route": value, "event": app.current_event.path_parameters["value"]}

    return lambda event, context: app.resolve(event, context)


def _get(value: str) -> dict:
    return {
        "resource": "/echo/{value}",
        "path": f"/echo/{value}",
        "httpMethod": "GET",
        "headers": {},
        "pathParameters": {"value": value},
        "requestContext": {"resourcePath": "/echo/{value}", "httpMethod": "GET", "path": f"/prod/echo/{value}"},
        "body": None,
        "isBase64Encoded": False,
    }


def test_concurrent_api_requests_each_resolve_their_own_event(runtime):
    """Reproduced before (the 50-call load test through the local API, then 200 calls): Powertools keeps the event
    on a class, one per process; two API requests at once in the engine's threads shared it, and a resume reached
    its route with another request's event (502, or 400 naming the session id)."""
    import json

    function = engine.LambdaFunction("echo", ARN, _echo_api, timeout_seconds=30, load_environment=lambda n: _echo_api())
    start = threading.Barrier(8)

    def invoke(n: int) -> dict:
        start.wait()
        return json.loads(function.invoke(_get(f"v{n}"))["Payload"]["body"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(invoke, range(8)))
    assert answers == [{"route": f"v{n}", "event": f"v{n}"} for n in range(8)]
