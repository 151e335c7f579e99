"""VerifyRecording under MockConfigFile test cases: the function's answers are mocked, the session and
audit tables, the event bus and the alert topic are real (moto), and an SQS queue listens on the bus (where
RecordingStateEvents puts the verdict it reads from the sessions table's stream) and on the topic, so each case
shows what went out. Together the cases enter every state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callrec.history import lambda_invocations, state_transitions, states_entered
from callrec.mock_config import MockConfig
from callrec.stack import client
from callrec.template import REPO_ROOT
from tests.conftest import record_states, run
from tests.eventually import eventually

MOCK_CONFIG = Path(__file__).resolve().parent / "verify_recording.mock.json"
MACHINE = "callrec-VerifyRecording"
DEFINITION = json.loads((REPO_ROOT / "statemachines" / "verify_recording.asl.json").read_text())
SESSION_ID = "3f2b8c1e-9d4a-5b6c-8e7f-0a1b2c3d4e5f"

# case: (execution status, final state, session verification, event detail-type or None, alerted); Chime calls
# unless named in CONNECT (whose function reads the contact record at each look)
SAVED = "Save Verdict"  # a verdict that needs no alert ends the workflow as it is saved
CONNECT = {"ConnectVerified", "ConnectLandsAfterTwoLooks", "ContactRecordUnreadable", "LayoutAmbiguous"}
EXPECTED = {
    "ConnectVerified": ("SUCCEEDED", SAVED, "VERIFIED", "RecordingVerified", False),
    "ConnectLandsAfterTwoLooks": ("SUCCEEDED", SAVED, "VERIFIED", "RecordingVerified", False),
    "ContactRecordUnreadable": ("FAILED", "Not Verified", "UNVERIFIED", "RecordingVerificationFailed", True),
    "LayoutAmbiguous": ("FAILED", "Not Verified", "AMBIGUOUS", "RecordingVerificationFailed", True),
    "Verified": ("SUCCEEDED", SAVED, "VERIFIED", "RecordingVerified", False),
    "LandsAfterTwoLooks": ("SUCCEEDED", SAVED, "VERIFIED", "RecordingVerified", False),
    "WindowLeaked": ("FAILED", "Not Verified", "FAILED", "RecordingVerificationFailed", True),
    "NeverLands": ("FAILED", "Not Verified", "MISSING", "RecordingVerificationFailed", True),
    # the start was never confirmed (a hang-up raced it) and nothing landed: no recording was made, not an alert
    "UncertainStartNothingMade": ("SUCCEEDED", SAVED, "ABSENT", "RecordingAbsent", False),
    "FunctionCrashed": ("FAILED", "Not Verified", "ERROR", "RecordingVerificationFailed", True),
    "CheckCrashed": ("FAILED", "Not Verified", "ERROR", "RecordingVerificationFailed", True),
    "VerdictNotStored": ("FAILED", "Verdict Not Stored", None, None, False),
    "AlertFails": ("FAILED", "Not Verified", "FAILED", "RecordingVerificationFailed", False),
}
EVENT = {
    "VERIFIED": "RECORDING_VERIFIED",
    "FAILED": "RECORDING_VERIFICATION_FAILED",
    "MISSING": "RECORDING_MISSING",
    "ERROR": "RECORDING_VERIFICATION_ERROR",
    "UNVERIFIED": "RECORDING_UNVERIFIED",
    "AMBIGUOUS": "RECORDING_AMBIGUOUS",
    "ABSENT": "RECORDING_ABSENT",
}
CALLS = {
    "connect": {"InstanceId": "i-1", "ContactId": "c-1", "InitialContactId": "c-1"},
    "chime": {"SipMediaApplicationId": "sma-1", "TransactionId": "t-1", "CallId": "call-1"},
}


def _listener(deployment) -> tuple[str, str]:
    """Two SQS queues: one gets every verdict event from the bus, the other every alert from the topic."""
    sqs, events, sns = client("sqs"), client("events"), client("sns")
    bus = deployment.physical("VerdictBus").rsplit("/", 1)[-1]
    queues = []
    for name in ("verdicts", "alerts"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queues.append(
            (url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
        )
    events.put_rule(Name="all-verdicts", EventBusName=bus, EventPattern=json.dumps({"source": ["callrec.recordings"]}))
    events.put_targets(Rule="all-verdicts", EventBusName=bus, Targets=[{"Id": "q", "Arn": queues[0][1]}])
    sns.subscribe(TopicArn=deployment.physical("AlertTopic"), Protocol="sqs", Endpoint=queues[1][1])
    return queues[0][0], queues[1][0]


def _drain(url: str) -> list[dict]:
    messages = (
        client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in messages]


def test_every_test_case_has_a_test():
    assert set(MockConfig.from_file(MOCK_CONFIG).test_cases()[MACHINE]) == set(EXPECTED)


def test_every_task_has_retry_and_catch_with_exact_errors():
    for name, state in DEFINITION["States"].items():
        if state["Type"] == "Task":
            assert state.get("Retry") and state.get("Catch"), name
            for retrier in state["Retry"]:
                assert not {"States.ALL", "States.TaskFailed"} & set(retrier["ErrorEquals"]), (
                    f"{name} retries everything"
                )


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_verify_recording_case(case, deployment, sfn, monkeypatch, record_property):
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(MOCK_CONFIG))
    status, final_state, verification, detail_type, alerted = EXPECTED[case]
    client("dynamodb").put_item(
        TableName=deployment.physical("SessionsTable"),
        Item={"sessionId": {"S": SESSION_ID}, "status": {"S": "RECORDED"}},
    )
    verdicts, alerts = _listener(deployment)

    provider = "connect" if case in CONNECT else "chime"
    described, events = run(
        sfn,
        f"{deployment.state_machine_arn('VerifyRecording')}#{case}",
        {"sessionId": SESSION_ID, "provider": provider, "call": CALLS[provider]},
        name=SESSION_ID,  # as RecordingSession names it
    )

    entered = states_entered(events)
    record_states(record_property, "verify_recording.asl.json", case, sorted(EXPECTED), entered)
    assert (described["status"], entered[-1]) == (status, final_state)
    session = client("dynamodb").get_item(
        TableName=deployment.physical("SessionsTable"), Key={"sessionId": {"S": SESSION_ID}}
    )["Item"]
    assert session.get("verification", {}).get("S") == verification
    audit = client("dynamodb").query(
        TableName=deployment.physical("AuditTable"),
        KeyConditionExpression="sessionId = :s",
        ExpressionAttributeValues={":s": {"S": SESSION_ID}},
    )["Items"]
    from callrec_shared import audit_chain

    records = [a for a in audit if not audit_chain.is_seal(a)]
    assert [a["event"]["S"] for a in records] == ([EVENT[verification]] if verification else [])
    if verification:  # the verdict saved, the audit table's stream seals it: the chain covers every record and holds
        from callrec_shared import sessions

        eventually(lambda: audit_chain.is_closed(SESSION_ID, sessions.require(SESSION_ID)), what="the verdict sealed")
        assert audit_chain.verify(SESSION_ID, sessions.require(SESSION_ID)["auditHead"]).holds
    # the sessions table's stream brings the saved verdict to RecordingStateEvents, which publishes it
    published = eventually(lambda: _drain(verdicts), what="the verdict's event") if detail_type else _drain(verdicts)
    assert [e["detail-type"] for e in published] == ([detail_type] if detail_type else [])
    if published:
        assert published[0]["detail"]["sessionId"] == SESSION_ID
        assert published[0]["detail"]["verification"] == verification
    sent = _drain(alerts)
    assert len(sent) == (1 if alerted else 0)
    if alerted:
        assert SESSION_ID in sent[0]["Message"] and verification in sent[0]["Message"]
    if status == "FAILED" and final_state == "Not Verified":
        assert described["error"] == EVENT[verification]
    if case in ("NeverLands", "LandsAfterTwoLooks", "ConnectLandsAfterTwoLooks"):
        # each look again is a retry of the one look (one transition; its function read how long it had waited)
        assert entered.count("Check Recording") == 1
        assert (lambda_invocations(events), state_transitions(events)) == (3, len(entered) + 2)
    if case == "NeverLands":  # bounded: it gave up, and says how long it waited
        assert session["verificationReason"]["S"] == "missing: the recording had not landed after 15 s"
    found = verification in ("VERIFIED", "FAILED", "UNVERIFIED")
    assert session.get("verifiedObject", {}).get("S", "") == (
        "s3://callrec-recordingbucket/connect/x.wav" if found else ""
    )
    assert session.get("attestation", {}).get("S", "").startswith("s3://") == found
    if published:
        assert published[0]["detail"]["attestation"] == session["attestation"]["S"]
