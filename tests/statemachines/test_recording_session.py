"""RecordingSession under Step Functions Local's MockConfigFile: one test per test case, and together
the cases enter every state of the machine. The session and audit tables are real (moto); provider
calls and callbacks are mocked where a case needs a particular answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callrec.mock_config import MockConfig
from callrec.stack import client
from callrec.template import REPO_ROOT, Template
from callrec_shared.identity import session_id_for
from tests.conftest import record_states, run, states_entered

MOCK_CONFIG = Path(__file__).resolve().parent / "recording_session.mock.json"
MACHINE = "callrec-RecordingSession"
DEFINITION = json.loads((REPO_ROOT / "statemachines" / "recording_session.asl.json").read_text())

PARAMETERS = Template.load().parameter_values()
INSTANCE_ID = PARAMETERS["ConnectInstanceArn"].rsplit("/", 1)[1]  # the entry points accept only the deployment's
SMA_ID = PARAMETERS["SipMediaApplicationId"]
CONNECT = {  # a Texas caller to a Texas centre: notice (one-party), with the real consent policy
    "provider": "connect",
    "call": {"InstanceId": INSTANCE_ID, "ContactId": "contact-1", "InitialContactId": "contact-1"},
    "parties": [
        {"number": "+15125550100", "role": "caller"},
        {"number": "+18005550199", "role": "callee", "jurisdiction": "US-TX"},
    ],
}
CHIME = {  # a Californian caller: opt-in (all-party), with the real consent policy
    "provider": "chime",
    "call": {"SipMediaApplicationId": SMA_ID, "TransactionId": "txn-1", "CallId": "call-1"},
    "parties": [{"number": "+14155550123", "role": "caller"}, {"number": "+15125550199", "role": "callee"}],
}

# test case: (request, execution status, final state, session status afterwards)
EXPECTED = {
    "ConnectNoticeHangUp": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectStopByApi": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectStopAfterContactEnded": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectStopFails": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectThrottledThenStarted": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectStartRefused": (CONNECT, "FAILED", "Recording Failed", "FAILED"),
    "ConnectConsentTimedOut": (CONNECT, "SUCCEEDED", "Not Recorded: No Consent", "NOT_RECORDED"),
    "ConnectHangUpDuringConsent": (CONNECT, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    "ConnectOptInDeclined": (CONNECT, "SUCCEEDED", "Not Recorded: Consent Declined", "NOT_RECORDED"),
    "ConnectOptInOnlyHeard": (CONNECT, "SUCCEEDED", "Not Recorded: No Consent", "NOT_RECORDED"),
    "ConnectEndedWhileBusy": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectCallTooLong": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ChimeOptInAccepted": (CHIME, "SUCCEEDED", "Recorded", "RECORDED"),
    "ChimeNoConsentNeeded": (CHIME, "SUCCEEDED", "Recorded", "RECORDED"),
    "ChimeNoAccessToDestination": (CHIME, "FAILED", "Recording Failed", "FAILED"),
    "ChimeCallGoneDuringPrompt": (CHIME, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    "ChimePromptFailed": (CHIME, "FAILED", "Recording Failed", "FAILED"),
    "ChimeHangUpBeforeRecording": (CHIME, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    "ChimeStopWhenCallGone": (CHIME, "SUCCEEDED", "Recorded", "RECORDED"),
    "InvalidRequest": (CONNECT, "FAILED", "Request Rejected", "FAILED"),
    "ValidatorCrashed": (CONNECT, "FAILED", "Validation Failed", "FAILED"),
    "SessionAlreadyOpen": (CONNECT, "SUCCEEDED", "Session Already Open", None),
    "ConsentPolicyCrashed": (CONNECT, "FAILED", "Recording Failed", "FAILED"),
    "SessionStoreDown": (CHIME, "FAILED", "Session Store Failed", "OPENED"),
    "ConnectParkedThenHangUp": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectPaymentWindow": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ChimePaymentWindow": (CHIME, "SUCCEEDED", "Recorded", "RECORDED"),
    "WindowSignalsOutOfOrder": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ConnectRefusesSuspension": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "SuspendWithdrawnBeforeTaken": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "ChimePauseFails": (CHIME, "SUCCEEDED", "Recorded", "RECORDED"),
    "WindowTooLong": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    "LeftoverSignalRejected": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    # a collision first (retried through the check), then a hang-up queued before the wait parked
    "ConnectHungUpBeforeConsentWait": (CONNECT, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    # the flow reported the answer before the wait parked: the wait refuses to park and takes it
    "ConnectConsentReportedBeforeWait": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    # VerifyRecording cannot be started: the recording stays RECORDED, the session and audit say why
    "VerificationNotStarted": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
    # a second start of the same session's verification is refused by name: nothing doubled
    "VerificationAlreadyStarted": (CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
}
REASONS = {  # the reason a session keeps for some of the cases
    "ConnectStopByApi": "stopped by api",
    "ConnectCallTooLong": "stopped by max-call-duration",
    "ConnectEndedWhileBusy": "stopped by contact-flow",
    "ChimeNoAccessToDestination": "RecordingStartFailed: NoAccessToDestination: Error while accessing destination",
    "ConnectStopFails": "stop failed (Connect.InternalServiceException); the recording ends with the call",
    "WindowSignalsOutOfOrder": "the call ended inside a suspended window; the recording ended silenced",
    "WindowTooLong": "stopped by max-window-length",
    "InvalidRequest": "InvalidRequest: parties: is required",
}
# test case: the queued signals' outcomes, in order (the signals table, as the workflow left it)
SIGNAL_OUTCOMES = {
    "ConnectPaymentWindow": ["applied", "applied", "applied"],
    "ChimePaymentWindow": ["applied", "applied", "applied"],
    "WindowSignalsOutOfOrder": ["rejected", "applied", "rejected", "applied"],
    "ConnectRefusesSuspension": ["failed", "applied"],
    "SuspendWithdrawnBeforeTaken": ["withdrawn", "applied"],  # its caller was told no first: never applied
    "ChimePauseFails": ["failed", "applied"],
    "LeftoverSignalRejected": ["applied", "rejected", "applied"],  # hang-up; a suspend and a stop queued behind it
}


def test_every_test_case_has_a_test():
    assert set(MockConfig.from_file(MOCK_CONFIG).test_cases()[MACHINE]) == set(EXPECTED)


def test_every_task_has_retry_and_catch_with_exact_errors():
    for name, state in DEFINITION["States"].items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry") and state.get("Catch"), name
        for retrier in state["Retry"]:
            assert "States.ALL" not in retrier["ErrorEquals"], f"{name} retries everything"


def _session(deployment, request) -> dict | None:
    from callrec_shared.identity import session_id_for

    item = (
        client("dynamodb")
        .get_item(TableName=deployment.physical("SessionsTable"), Key={"sessionId": {"S": session_id_for(request)}})
        .get("Item")
    )
    return None if item is None else {key: list(value.values())[0] for key, value in item.items()}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_recording_session_case(case, deployment, sfn, monkeypatch, record_property):
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(MOCK_CONFIG))
    request, status, final_state, session_status = EXPECTED[case]

    # named after the session, as the entry points start it (a session that never opened is recorded under it)
    described, events = run(
        sfn, f"{deployment.state_machine_arn('RecordingSession')}#{case}", request, name=session_id_for(request)
    )

    entered = states_entered(events)
    record_states(record_property, "recording_session.asl.json", case, sorted(EXPECTED), entered)
    assert described["status"] == status
    assert entered[-1] == final_state
    session = _session(deployment, request)
    assert (session or {}).get("status") == session_status
    if case in REASONS:
        assert session["outcomeReason"] == REASONS[case]
    if case in SIGNAL_OUTCOMES:
        signals = client("dynamodb").query(
            TableName=deployment.physical("SignalsTable"),
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session["sessionId"]}},
        )["Items"]
        assert [s["status"]["S"] for s in signals] == SIGNAL_OUTCOMES[case]
        assert int(session["processedSeq"]) == len(SIGNAL_OUTCOMES[case])
    if case in ("ConnectPaymentWindow", "ChimePaymentWindow"):  # the window is kept with its times and whom
        window = session["windows"][0]["M"]
        assert {
            "suspendRequestedAt",
            "suspendConfirmedAt",
            "suspendedBy",
            "resumeRequestedAt",
            "resumeConfirmedAt",
            "resumedBy",
        } <= set(window)
        assert session["suspended"] is False
    if case == "ConnectConsentReportedBeforeWait":
        assert json.loads(session["consentAnswer"]) == {
            "answer": "heard",
            "by": "contact-flow",
            "at": "2026-11-21T00:00:01.000Z",
        }
    if case == "VerificationNotStarted":
        assert (session["verification"], session["verificationReason"]) == (
            "NOT_STARTED",
            "StepFunctions.InvalidArnException",
        )
    if case == "SuspendWithdrawnBeforeTaken":
        assert "Suspend Contact Recording" not in entered and "windows" not in session
    if session_status == "RECORDED":
        assert "Hand Over To Verification" in entered
    if session_status in ("RECORDED", "NOT_RECORDED", "FAILED"):  # a defined end, with its audit record
        audit = client("dynamodb").query(
            TableName=deployment.physical("AuditTable"),
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session["sessionId"]}},
        )["Items"]
        assert [a for a in audit if "status" in a][-1]["status"]["S"] == session_status
