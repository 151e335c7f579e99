"""Every Task state retries by the policy callrec.retries names for it, and names its errors as its integration
raises them: an optimized DynamoDB task `DynamoDB.*`, an SDK integration `DynamoDb.*`. (A retry that names the
other integration's errors never matches: Save Uncertain Start once failed the call on one throttled write.)"""

from __future__ import annotations

import json

import pytest

from callrec import retries

DEFINITIONS = sorted(retries.DEFINITIONS.glob("*.asl.json"))


def _tasks():
    for path in DEFINITIONS:
        for name, state in json.loads(path.read_text())["States"].items():
            if state["Type"] == "Task":
                yield pytest.param(name, state, id=f"{path.name.split('.')[0]}:{name}")


@pytest.mark.parametrize(("name", "state"), list(_tasks()))
def test_each_task_retries_by_its_policy(name, state):
    assert state.get("Retry") == retries.policy_for(name, state), "run: python -m callrec.retries --write"


@pytest.mark.parametrize(("name", "state"), list(_tasks()))
def test_each_task_names_the_errors_its_integration_raises(name, state):
    sdk = state["Resource"].removeprefix("arn:aws:states:::").startswith("aws-sdk:")
    named = [error for field in ("Retry", "Catch") for rule in state.get(field, []) for error in rule["ErrorEquals"]]
    for error in named:
        if error.lower().startswith("dynamodb."):
            assert error.startswith("DynamoDb." if sdk else "DynamoDB."), error
        if error.startswith("DynamoDb.Transaction"):
            assert "transactWriteItems" in state["Resource"], f"only a transaction raises {error}"
