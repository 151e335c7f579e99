"""JSONata and Variables in the engine: every feature the definitions use, values that would break an
expression if they were written into its text, Step Functions' own functions, and errors as AWS raises them."""

from __future__ import annotations

import json
import re

import pytest

from callrec import engine
from callrec.history import states_entered
from callrec.stack import client
from tests.conftest import allow_all_role, key_table, run

AWKWARD = 'O\'Brien "the" \\back\\ ü 😀 ; $states {% $x %} \' & "'

DEFINITION = {
    "QueryLanguage": "JSONata",
    "StartAt": "Start",
    "States": {
        "Start": {
            "Type": "Pass",
            "Assign": {
                "name": "{% $states.input.name %}",
                "count": 0,
                "label": "plain text, no expression",
                "none": None,
            },
            "Output": {"greeting": "{% 'hello ' & $states.input.name %}"},
            "Next": "Loop?",
        },
        "Loop?": {
            "Type": "Choice",
            "Choices": [{"Condition": "{% $count < 3 %}", "Assign": {"count": "{% $count + 1 %}"}, "Next": "Loop?"}],
            "Default": "Call",
        },
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Arguments": {"FunctionName": "echo", "Payload": {"name": "{% $name %}", "count": "{% $count %}"}},
            "Assign": {"echoed": "{% $states.result.Payload %}"},
            "Output": "{% $states.result.Payload %}",
            "Next": "Store",
        },
        "Store": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Arguments": {
                "TableName": "jsonata",
                "Item": {"pk": {"S": "{% $name %}"}, "n": {"N": "{% $string($count) %}"}},
            },
            "Next": "Functions",
        },
        "Functions": {
            "Type": "Pass",
            "Output": {
                "uuid": "{% $uuid() %}",
                "hash": "{% $hash('abc', 'SHA-256') %}",
                "parts": "{% $partition([1, 2, 3, 4, 5], 2) %}",
                "range": "{% $range(0, 10, 5) %}",
                "parsed": "{% $parse('{\"a\": [1, null]}') %}",
                "random": "{% $random() %}",
                "echoed": "{% $echoed %}",
                "name": "{% $name %}",
                "label": "{% $label %}",
                "entered": "{% $states.context.State.Name %}",
                "nothing": "{% null %}",
                "none": "{% $none %}",
            },
            "Next": "Broken",
        },
        "Broken": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Arguments": {"FunctionName": "echo", "Payload": "{% $number('not a number') + $undefinedThing %}"},
            "Catch": [
                {
                    "ErrorEquals": ["States.QueryEvaluationError"],
                    "Output": "{% $states.errorOutput %}",
                    "Next": "Caught",
                }
            ],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


@pytest.fixture
def machine(aws):
    key_table("jsonata")
    calls: list[dict] = []
    engine.register_function(
        engine.LambdaFunction(
            name="echo",
            arn="arn:aws:lambda:us-east-1:123456789012:function:echo",
            load_handler=lambda: lambda event, context: calls.append(event) or {"seen": event},
        )
    )
    arn = client("stepfunctions").create_state_machine(
        name="JSONataFeatures", definition=json.dumps(DEFINITION), roleArn=allow_all_role()
    )["stateMachineArn"]
    return arn, calls


def _states_output(events: list[dict], state: str) -> dict:
    exited = [e["stateExitedEventDetails"] for e in events if e.get("stateExitedEventDetails", {}).get("name") == state]
    return json.loads(exited[-1]["output"])


def test_every_feature_with_awkward_values(machine):
    arn, calls = machine
    described, events = run(client("stepfunctions"), arn, {"name": AWKWARD})
    entered = states_entered(events)
    assert described["status"] == "SUCCEEDED", described
    assert entered.count("Loop?") == 4 and entered[-1] == "Caught"
    assert _states_output(events, "Start") == {"greeting": "hello " + AWKWARD}
    assert calls[0] == {"name": AWKWARD, "count": 3}  # Arguments on a lambda task; the Choice's Assign counted
    item = client("dynamodb").get_item(TableName="jsonata", Key={"pk": {"S": AWKWARD}})["Item"]
    assert item["n"] == {"N": "3"}  # Arguments on an optimised DynamoDB task
    functions = _states_output(events, "Functions")
    assert re.fullmatch(r"[0-9a-f-]{36}", functions["uuid"])
    assert functions["hash"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert functions["parts"] == [[1, 2], [3, 4], [5]] and functions["range"] == [0, 5, 10]
    assert functions["parsed"] == {"a": [1, None]} and 0 <= functions["random"] < 1
    assert functions["echoed"] == {"seen": {"name": AWKWARD, "count": 3}}  # Assign from $states.result
    assert functions["name"] == AWKWARD and functions["label"] == "plain text, no expression"
    assert functions["entered"] == "Functions" and functions["nothing"] is None and functions["none"] is None


def test_an_error_inside_an_expression_is_a_query_evaluation_error(machine):
    arn, calls = machine
    described, events = run(client("stepfunctions"), arn, {"name": "x"})
    failed = [e for e in events if e["type"] == "EvaluationFailed"]
    assert failed and failed[0]["evaluationFailedEventDetails"]["error"] == "States.QueryEvaluationError"
    assert states_entered(events)[-1] == "Caught"
    assert len(calls) == 1  # the broken task never invoked its function
    assert _states_output(events, "Caught")["Error"] == "States.QueryEvaluationError"


def test_an_uncaught_query_error_fails_the_execution(aws):
    broken = {
        "QueryLanguage": "JSONata",
        "StartAt": "Broken",
        "States": {"Broken": {"Type": "Pass", "Output": "{% $nothing.here %}", "End": True}},
    }
    arn = client("stepfunctions").create_state_machine(
        name="Broken", definition=json.dumps(broken), roleArn=allow_all_role()
    )["stateMachineArn"]
    described, _ = run(client("stepfunctions"), arn, {})
    assert (described["status"], described["error"]) == ("FAILED", "States.QueryEvaluationError")
    assert "returned nothing" in described["cause"]


def test_evaluating_jsonata_leaves_the_processs_recursion_limit_as_it_was():
    """jsonata-python sets the process's recursion limit to 10,000 when imported; the functions running in the same
    process must keep Python's (the API refuses a body nested 5,000 deep as unparseable, as on AWS Lambda). In a
    fresh interpreter, so that no earlier import decides it."""
    import subprocess
    import sys

    from callrec.template import REPO_ROOT

    probe = (
        "import sys\n"
        "before = sys.getrecursionlimit()\n"
        "from callrec.engine import jsonata\n"
        "compiled, *_ = jsonata._compile('1 + 1')\n"
        "assert compiled.evaluate(None) == 2\n"
        "print(before, sys.getrecursionlimit())\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    before, after = ran.stdout.split()
    assert after == before != "10000"
