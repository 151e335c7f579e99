"""The figures `make bench` and the demo print count what Step Functions bills: every state entered, and every
retry of a task (Standard workflows are priced per state transition, retries included)."""

from __future__ import annotations

import json

from callrec import engine
from callrec.history import state_transitions, states_entered
from callrec.stack import client
from tests.conftest import allow_all_role, run


def test_a_retried_task_is_billed_once_per_attempt(aws):
    attempts = []

    def flaky(event, context):
        attempts.append(event)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return {"ok": True}

    engine.register_function(
        engine.LambdaFunction(
            name="flaky", arn="arn:aws:lambda:us-east-1:123456789012:function:flaky", load_handler=lambda: flaky
        )
    )
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "flaky", "Payload": {}},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3}],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    sfn = client("stepfunctions")
    machine = sfn.create_state_machine(name="billed", definition=json.dumps(definition), roleArn=allow_all_role())
    described, events = run(sfn, machine["stateMachineArn"], {})
    assert described["status"] == "SUCCEEDED" and len(attempts) == 3
    assert states_entered(events) == ["Call", "Done"]
    assert state_transitions(events) == 2 + 2  # two states entered, and the two retries of Call
