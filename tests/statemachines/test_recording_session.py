"""RecordingSession under Step Functions Local's MockConfigFile: one test per test case, and together
the cases enter every state of the machine. The session and audit tables are real (moto); provider
calls and callbacks are mocked where a case needs a particular answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callrec.history import states_entered
from callrec.mock_config import MockConfig
from callrec.stack import client
from callrec.template import REPO_ROOT, Template
from callrec_shared import opening
from callrec_shared.identity import session_id_for
from tests.conftest import record_states, run

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
CONNECT_CALIFORNIA = {  # a Californian caller to the Texas centre: opt-in (all-party), with the real consent policy
    **CONNECT,
    "parties": [{"number": "+14155550123", "role": "caller"}, *CONNECT["parties"][1:]],
}
CHIME = {  # a Californian caller: opt-in (all-party), with the real consent policy
    "provider": "chime",
    "call": {"SipMediaApplicationId": SMA_ID, "TransactionId": "txn-1", "CallId": "call-1"},
    "parties": [{"number": "+14155550123", "role": "caller"}, {"number": "+15125550199", "role": "callee"}],
}


NO_CONSENT = {  # no rule of the sample policy decides "none": a deployer's policy can (docs/consent.md)
    "decision": "none",
    "reason": "none: a policy with no recording notice",
    "policyVersion": "test",
    "promptVersion": "none-v1",
    "promptKey": "prompts/none.wav",
    "parties": [],
}


@dataclass(frozen=True)
class Case:
    """What one MockConfigFile test case must leave behind."""

    request: dict
    status: str  # the execution's
    final_state: str
    session_status: str | None  # the session record's afterwards (None: no record)
    reason: str | None = None  # the outcome reason the session keeps
    signals: tuple[str, ...] | None = None  # the queued signals' outcomes, in order, as the workflow left them
    window_kept: bool = False  # the window is on the session with its times and who asked
    window_reasons: tuple[str, ...] = ()  # the first window's reasons, in the order they joined it
    consent_answer: dict | None = None
    session: dict = field(default_factory=dict)  # other session attributes and their values
    not_entered: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # session attributes that must not be there
    decision: dict | None = None  # the consent decision the entry point hands over (None: the real policy's)
    entered: dict = field(default_factory=dict)  # state -> how many times it is entered


HANDED_OVER = "Hand Over To Verification"  # a recorded call's workflow ends as it starts its verification

UNKNOWN_START = (
    "the provider's answer to the start left it unknown whether it recorded: recording was stopped to be safe, "
    "and verification looks for what it may have recorded"
)
STORE_FAILED = "the session store failed (DynamoDb.InternalServerErrorException); the workflow ended the call here"

EXPECTED = {
    # the hang-up was queued while the recording started: the park is refused, and the next signal is taken by its
    # number at once (the queue is not read)
    "ConnectNoticeHangUp": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", entered={"Next Signal": 0}),
    "ConnectStopByApi": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", reason="stopped by api"),
    "ConnectStopAfterContactEnded": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED"),
    "ConnectStopFails": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        reason="stop failed (Connect.InternalServiceException); the recording ends with the call",
    ),
    "ConnectThrottledThenStarted": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED"),
    "ConnectStartRefused": Case(CONNECT, "FAILED", "Recording Failed", "FAILED"),
    "ConnectConsentTimedOut": Case(CONNECT, "SUCCEEDED", "Not Recorded: No Consent", "NOT_RECORDED"),
    "ConnectHangUpDuringConsent": Case(CONNECT, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    "ConnectOptInDeclined": Case(CONNECT_CALIFORNIA, "SUCCEEDED", "Not Recorded: Consent Declined", "NOT_RECORDED"),
    "ConnectOptInOnlyHeard": Case(CONNECT_CALIFORNIA, "SUCCEEDED", "Not Recorded: No Consent", "NOT_RECORDED"),
    "ConnectEndedWhileBusy": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", reason="stopped by contact-flow"),
    "ConnectCallTooLong": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", reason="stopped by max-call-duration"),
    "ChimeOptInAccepted": Case(CHIME, "SUCCEEDED", HANDED_OVER, "RECORDED"),
    "ChimeNoConsentNeeded": Case(CHIME, "SUCCEEDED", HANDED_OVER, "RECORDED", decision=NO_CONSENT),
    "ChimeNoAccessToDestination": Case(
        CHIME,
        "FAILED",
        "Recording Failed",
        "FAILED",
        reason="RecordingStartFailed: NoAccessToDestination: Error while accessing destination",
    ),
    "ChimeCallGoneDuringPrompt": Case(CHIME, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    # the SMA reports a prompt it could not play as the answer `failed`, with the action's error
    "ChimePromptFailed": Case(
        CHIME,
        "FAILED",
        "Recording Failed",
        "FAILED",
        reason="ConsentPromptFailed: InvalidAudioSource: Audio Source parameter value is invalid.",
    ),
    # an end wins: a stop requested before the answer was saved means recording never starts
    "ChimeStopBeforeAnswerSaved": Case(
        CHIME,
        "SUCCEEDED",
        "Not Recorded: Call Ended",
        "NOT_RECORDED",
        reason="the call ended before recording started (StopRequested)",
        not_entered=("Start Call Recording",),
    ),
    # a collision while saving the answer: the session is read, no end was asked for, the answer is saved again
    "ChimeAnswerSaveCollided": Case(CHIME, "SUCCEEDED", HANDED_OVER, "RECORDED"),
    # uncertain means verified: a hang-up where the start's success was due; the provider may have recorded
    "ChimeHangUpAtStart": Case(
        CHIME,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        reason="the call ended as recording was starting: the provider may have recorded it, and verification looks for it",
        session={"recordingUncertain": True},
    ),
    # uncertain means verified, on a live call: the start was never answered (its task timed out), so the
    # workflow stops recording to be safe and verification looks for what the provider may have recorded
    "ChimeStartUnanswered": Case(
        CHIME,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        reason=UNKNOWN_START,
        session={"recordingUncertain": True},
    ),
    # one throttled write as the uncertain start is saved is retried, as every store write is (before: the retry
    # named the SDK integration's errors, DynamoDb.*, on an optimized task, whose errors are DynamoDB.*)
    "ChimeUncertainStartThrottledOnce": Case(CHIME, "SUCCEEDED", HANDED_OVER, "RECORDED", reason=UNKNOWN_START),
    # the same on Connect: a service error after the retries leaves it unknown whether Connect records
    "ConnectStartUnknown": Case(
        CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", reason=UNKNOWN_START, session={"recordingUncertain": True}
    ),
    "ChimeStopWhenCallGone": Case(CHIME, "SUCCEEDED", HANDED_OVER, "RECORDED"),
    "SessionAlreadyOpen": Case(CONNECT, "SUCCEEDED", "Session Already Open", None),
    # a defined end without the store: the failure saved (retried for 15 minutes), the provider made safe
    "SessionStoreDown": Case(
        CHIME,
        "FAILED",
        "Session Store Failed",
        "FAILED",
        reason=STORE_FAILED,
        session={"providerAction": "Chime recording stopped"},
    ),
    "ConnectStoreDownInWindow": Case(
        CONNECT,
        "FAILED",
        "Session Store Failed",
        "FAILED",
        reason=STORE_FAILED,
        session={"providerAction": "Connect recording stopped"},
    ),
    # the store fails as an uncertain start is saved: the failure saves it, and the recording is still verified
    "ChimeStartUnansweredStoreDown": Case(
        CHIME, "FAILED", "Session Store Failed", "FAILED", reason=STORE_FAILED, session={"recordingUncertain": True}
    ),
    # the store fails as the window's end is saved: the provider resumed, so where the window ended is unknown
    "ConnectStoreDownAtResume": Case(
        CONNECT,
        "FAILED",
        "Session Store Failed",
        "FAILED",
        reason=STORE_FAILED,
        session={"providerAction": "Connect recording stopped", "windowEndUnknown": True},
    ),
    # the store stays down past the 15 minutes too: the execution fails (the alarm), nothing more can be saved
    "StoreDownLong": Case(CHIME, "FAILED", "Session Store Failed", "OPENED", not_entered=("Outcome?",)),
    # woken by the hang-up: the next signal is taken by its number at once, the queue never read
    "ConnectWokenTakesTheNext": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", entered={"Next Signal": 0}),
    "ConnectPaymentWindow": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        signals=(
            "applied",
            "applied",
            "applied",
        ),
        window_kept=True,
    ),
    "ChimePaymentWindow": Case(
        CHIME,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        signals=(
            "applied",
            "applied",
            "applied",
        ),
        window_kept=True,
    ),
    # a hold during the card number: the hold joins the window, the card's resume leaves it suspended (on hold),
    # and only the hold's end resumes recording
    "ConnectHoldAroundPayment": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        signals=("applied",) * 5,
        window_kept=True,
        window_reasons=("pci", "hold"),
        absent=("suspendedFor",),
    ),
    "WindowSignalsOutOfOrder": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        reason="the call ended inside a suspended window; the recording ended silenced",
        signals=(
            "rejected",
            "applied",
            "rejected",
            "applied",
        ),
    ),
    "ConnectRefusesSuspension": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        signals=(
            "failed",
            "applied",
        ),
    ),
    # signals: its caller was told no first: never applied (not taken; the queue read shows it withdrawn)
    "SuspendWithdrawnBeforeTaken": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        signals=(
            "withdrawn",
            "applied",
        ),
        not_entered=("Suspend Contact Recording",),
        absent=("windows",),
    ),
    "ChimePauseFails": Case(
        CHIME,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        signals=(
            "failed",
            "applied",
        ),
    ),
    "WindowTooLong": Case(CONNECT, "SUCCEEDED", HANDED_OVER, "RECORDED", reason="stopped by max-window-length"),
    # the call's limit passed with a suspend and a stop still queued: both answered as the session ends (nothing
    # can queue behind an end a caller sends: the entry points refuse it)
    "LeftoverSignalRejected": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        reason="stopped by max-call-duration",
        signals=("rejected", "applied"),
    ),
    # a collision first (retried through the check), then a hang-up queued before the wait parked
    "ConnectHungUpBeforeConsentWait": Case(CONNECT, "SUCCEEDED", "Not Recorded: Call Ended", "NOT_RECORDED"),
    # the flow reported the answer before the wait parked: the wait refuses to park and takes it
    "ConnectConsentReportedBeforeWait": Case(
        CONNECT,
        "SUCCEEDED",
        HANDED_OVER,
        "RECORDED",
        consent_answer={"answer": "heard", "by": "contact-flow", "at": "2026-11-21T00:00:01.000Z"},
    ),
    # VerifyRecording cannot be started: the recording stays RECORDED, the session and audit say why
    "VerificationNotStarted": Case(
        CONNECT,
        "SUCCEEDED",
        "Recorded",
        "RECORDED",
        session={"verification": "NOT_STARTED", "verificationReason": "StepFunctions.InvalidArnException"},
    ),
    # a second start of the same session's verification is refused by name: nothing doubled
    "VerificationAlreadyStarted": Case(CONNECT, "SUCCEEDED", "Recorded", "RECORDED"),
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
    expected = EXPECTED[case]
    request, session_status = expected.request, expected.session_status

    # what the entry points hand over (opening.opened: validated, consent decided), named after the session
    given = opening.opened(request)
    if expected.decision is not None:
        given["consent"] = {"decision": expected.decision}
    described, events = run(
        sfn, f"{deployment.state_machine_arn('RecordingSession')}#{case}", given, name=session_id_for(request)
    )

    entered = states_entered(events)
    record_states(record_property, "recording_session.asl.json", case, sorted(EXPECTED), entered)
    assert described["status"] == expected.status
    assert entered[-1] == expected.final_state
    session = _session(deployment, request)
    assert (session or {}).get("status") == session_status
    if expected.reason is not None:
        assert session["outcomeReason"] == expected.reason
    if expected.signals is not None:
        signals = client("dynamodb").query(
            TableName=deployment.physical("SignalsTable"),
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session["sessionId"]}},
        )["Items"]
        assert tuple(s["status"]["S"] for s in signals) == expected.signals
        assert int(session["processedSeq"]) == len(expected.signals)
    if expected.window_kept:
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
    if expected.window_reasons:
        window = session["windows"][0]["M"]
        assert tuple(reason["S"] for reason in window["reasons"]["L"]) == expected.window_reasons
        assert [ended["M"]["reason"]["S"] for ended in window["reasonsEnded"]["L"]] == list(
            expected.window_reasons[:-1]
        )
    if expected.consent_answer is not None:
        assert json.loads(session["consentAnswer"]) == expected.consent_answer
    assert {key: session.get(key) for key in expected.session} == expected.session
    assert not set(expected.not_entered) & set(entered)
    assert {state: entered.count(state) for state in expected.entered} == expected.entered
    assert not set(expected.absent) & set(session or {})
    if session_status == "RECORDED":
        assert HANDED_OVER in entered
    if session_status in ("RECORDED", "NOT_RECORDED", "FAILED"):  # a defined end, with its audit record
        audit = client("dynamodb").query(
            TableName=deployment.physical("AuditTable"),
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session["sessionId"]}},
        )["Items"]
        assert [a for a in audit if "status" in a][-1]["status"]["S"] == session_status
