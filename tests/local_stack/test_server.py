"""`make serve`: plain boto3 with only endpoint_url set, against the endpoint in a subprocess."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest

from callrec.history import fetch_history, states_entered, wait_for_execution
from callrec.template import Template
from callrec_shared import opening
from tests.conftest import make_role
from tests.eventually import eventually
from tests.local_stack.conftest import endpoint_client as _client
from tests.local_stack.conftest import physical as _physical
from tests.local_stack.conftest import signed

pytestmark = pytest.mark.server

PARAMETERS = Template.load().parameter_values()  # the entry points accept only the deployment's instance and SMA


def test_startup_prints_what_it_deployed(endpoint):
    printed = "".join(endpoint["lines"])
    for logical_id in ("RecordingSession", "RecordingChecks", "SessionsTable", "AuditTable", "RecordingBucket"):
        assert logical_id in printed


def _users_role(endpoint: dict, table: str) -> str:
    """The user's own role for their machine, as on AWS: it may invoke the checks function and write the table."""
    grants = [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:callrec-RecordingChecks",
        },
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
        },
    ]
    return make_role("users-machine", grants, _client(endpoint, "iam"))


def test_a_users_state_machine_runs_through_plain_boto3(endpoint):
    sfn = _client(endpoint, "stepfunctions")
    table = _physical(endpoint, "SessionsTable")
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.go", "BooleanEquals": True, "Next": "Pause"}],
                "Default": "Nope",
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Seal"},
            "Seal": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "callrec-RecordingChecks",
                    "Payload": {"action": "seal", "sessionId.$": "$.sessionId"},
                },
                "ResultSelector": {"sealed.$": "$.Payload.sealed"},
                "ResultPath": "$.seal",
                "Next": "Store",
            },
            "Store": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": table,
                    "Item": {"sessionId": {"S.$": "$.sessionId"}, "status": {"S": "USER"}},
                },
                "ResultPath": None,
                "End": True,
            },
            "Nope": {"Type": "Fail", "Error": "NotGoing"},
        },
    }
    role = _users_role(endpoint, table)
    arn = sfn.create_state_machine(name="users-machine", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"go": True, "sessionId": str(uuid.uuid4())}))

    began = time.monotonic()
    described = wait_for_execution(sfn, started["executionArn"], timeout=60)
    assert described["status"] == "SUCCEEDED"
    assert time.monotonic() - began >= 0.9  # `make serve` honours Wait seconds (tests scale them)

    events = fetch_history(sfn, started["executionArn"])
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert "WaitStateEntered" in {e["type"] for e in events}
    item = _client(endpoint, "dynamodb").get_item(
        TableName=table, Key={"sessionId": {"S": json.loads(described["output"])["sessionId"]}}
    )
    assert item["Item"]["status"] == {"S": "USER"}


def test_the_deployed_recording_session_runs(endpoint):
    """Started with plain boto3 with what an entry point hands it (the request validated and its consent decided:
    callrec_shared.opening), it parks until the contact flow answers; the recordings API's stop ends it, and the
    session and audit trail say how."""
    sfn = _client(endpoint, "stepfunctions")
    arn = _physical(endpoint, "RecordingSession")
    request = {
        "provider": "connect",
        "call": {
            "InstanceId": PARAMETERS["ConnectInstanceArn"].rsplit("/", 1)[1],
            "ContactId": "c",
            "InitialContactId": "c",
        },
        "parties": [{"number": "+15125550100"}],
    }
    opened = opening.opened(request)  # named after its session, as the entry points name it
    execution = sfn.start_execution(stateMachineArn=arn, name=opened["sessionId"], input=json.dumps(opened))[
        "executionArn"
    ]
    eventually(
        lambda: [
            e["stateEnteredEventDetails"]["name"]
            for e in fetch_history(sfn, execution)
            if "stateEnteredEventDetails" in e
        ],
        lambda entered: "Await Consent Answer" in entered,
        what="the workflow to ask the contact flow for consent",
    )
    sessions = _client(endpoint, "dynamodb").scan(TableName=_physical(endpoint, "SessionsTable"))["Items"]
    session_id = next(i["sessionId"]["S"] for i in sessions if i.get("executionArn", {}).get("S") == execution)
    assert signed("POST", f"{endpoint['api']}/recordings/{session_id}/stop").status_code == 202
    described = wait_for_execution(sfn, execution, timeout=60)
    assert described["status"] == "SUCCEEDED"
    assert states_entered(fetch_history(sfn, execution))[-1] == "Not Recorded: Call Ended"
    audit = _client(endpoint, "dynamodb").query(
        TableName=_physical(endpoint, "AuditTable"),
        KeyConditionExpression="sessionId = :s",
        ExpressionAttributeValues={":s": {"S": session_id}},
    )
    records = [item for item in audit["Items"] if not item["at"]["S"].startswith("SEAL#")]  # the seals chain them
    assert [item["event"]["S"] for item in records] == [
        "CONSENT_DECIDED",
        "CONSENT_REQUESTED",
        "SIGNAL_RECEIVED",
        "CALL_ENDED_BEFORE_RECORDING",
        "END_SIGNAL_APPLIED",
    ]


def test_s3_with_the_templates_encryption(endpoint):
    s3 = _client(endpoint, "s3")
    bucket = _physical(endpoint, "RecordingBucket")
    s3.put_object(Bucket=bucket, Key="probe.txt", Body=b"hello")
    head = s3.head_object(Bucket=bucket, Key="probe.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="probe.txt")["Body"].read() == b"hello"


@pytest.mark.stops_server
def test_ctrl_c_stops_it_cleanly(endpoint):
    """The shared endpoint, after the tests that used it (sorted so): Ctrl-C stops it, sessions and all."""
    process = endpoint["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    time.sleep(0.2)
    assert "stopped\n" in endpoint["lines"]
