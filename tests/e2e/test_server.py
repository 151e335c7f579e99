"""`make serve`: plain boto3 with only endpoint_url set, against the endpoint in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import boto3
import pytest

from callrec.history import fetch_history, wait_for_execution
from callrec.template import REPO_ROOT

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "callrec.cli", "serve", "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Use it with"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120):
        process.kill()
        pytest.fail("the endpoint did not come up:\n" + "".join(lines))
    yield {"url": f"http://127.0.0.1:{port}", "process": process, "lines": lines}
    if process.poll() is None:
        process.kill()


def _client(endpoint, service):
    return boto3.client(
        service,
        endpoint_url=endpoint["url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _physical(endpoint, logical_id: str) -> str:
    line = next(l for l in endpoint["lines"] if f" {logical_id} " in l)
    return line.split()[-1]


def test_startup_prints_what_it_deployed(endpoint):
    printed = "".join(endpoint["lines"])
    for logical_id in ("RecordingSession", "ValidateRequest", "SessionsTable", "AuditTable", "RecordingBucket"):
        assert logical_id in printed


def test_a_users_state_machine_runs_through_plain_boto3(endpoint):
    sfn = _client(endpoint, "stepfunctions")
    table = _physical(endpoint, "SessionsTable")
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": True, "Next": "Pause"}], "Default": "Nope"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Validate"},
            "Validate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "callrec-ValidateRequest", "Payload.$": "$.request"},
                "ResultSelector": {"sessionId.$": "$.Payload.sessionId"},
                "Next": "Store",
            },
            "Store": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"sessionId": {"S.$": "$.sessionId"}, "status": {"S": "USER"}}},
                "ResultPath": None,
                "End": True,
            },
            "Nope": {"Type": "Fail", "Error": "NotGoing"},
        },
    }
    arn = sfn.create_state_machine(
        name="users-machine", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/user"
    )["stateMachineArn"]
    request = {"provider": "chime", "call": {"SipMediaApplicationId": "s", "TransactionId": "t", "CallId": "c"}, "parties": [{"number": "+14155550100"}]}
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"go": True, "request": request}))

    began = time.monotonic()
    described = wait_for_execution(sfn, started["executionArn"], timeout=60)
    assert described["status"] == "SUCCEEDED"
    assert time.monotonic() - began >= 0.9  # `make serve` honours Wait seconds (tests scale them)

    events = fetch_history(sfn, started["executionArn"])
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert "WaitStateEntered" in {e["type"] for e in events}
    item = _client(endpoint, "dynamodb").get_item(TableName=table, Key={"sessionId": {"S": json.loads(described["output"])["sessionId"]}})
    assert item["Item"]["status"] == {"S": "USER"}


def test_the_deployed_recording_session_runs(endpoint):
    sfn = _client(endpoint, "stepfunctions")
    arn = _physical(endpoint, "RecordingSession")
    request = {"provider": "connect", "call": {"InstanceId": "i", "ContactId": "c", "InitialContactId": "c"}, "parties": [{"number": "+14155550100"}]}
    described = wait_for_execution(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps(request))["executionArn"], timeout=60)
    assert described["status"] == "SUCCEEDED"
    session_id = json.loads(described["output"])["sessionId"]
    audit = _client(endpoint, "dynamodb").query(
        TableName=_physical(endpoint, "AuditTable"),
        KeyConditionExpression="sessionId = :s",
        ExpressionAttributeValues={":s": {"S": session_id}},
    )
    assert [item["event"]["S"] for item in audit["Items"]] == ["SESSION_OPENED"]


def test_s3_with_the_templates_encryption(endpoint):
    s3 = _client(endpoint, "s3")
    bucket = _physical(endpoint, "RecordingBucket")
    s3.put_object(Bucket=bucket, Key="probe.txt", Body=b"hello")
    head = s3.head_object(Bucket=bucket, Key="probe.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="probe.txt")["Body"].read() == b"hello"


def test_ctrl_c_stops_it_cleanly(endpoint):
    process = endpoint["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    time.sleep(0.2)
    assert "stopped\n" in endpoint["lines"]
