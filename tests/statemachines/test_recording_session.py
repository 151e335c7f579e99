"""RecordingSession under Step Functions Local's MockConfigFile: one test per test case, every path covered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callrec.mock_config import MockConfig
from callrec.template import REPO_ROOT
from tests.conftest import run, states_entered

MOCK_CONFIG = Path(__file__).resolve().parent / "recording_session.mock.json"
MACHINE = "callrec-RecordingSession"
DEFINITION = json.loads((REPO_ROOT / "statemachines" / "recording_session.asl.json").read_text())

REQUEST = {"provider": "connect", "call": {"InstanceId": "i", "ContactId": "c", "InitialContactId": "c"}, "parties": [{"number": "+14155550100"}]}

EXPECTED = {
    # test case: (status, error, states entered in order)
    "HappyPath": ("SUCCEEDED", None, ["Validate Request", "Open Session Record", "Append Audit Record", "Session Opened"]),
    "LambdaThrottledThenOk": ("SUCCEEDED", None, ["Validate Request", "Open Session Record", "Append Audit Record", "Session Opened"]),
    "InvalidRequest": ("FAILED", "InvalidRequest", ["Validate Request", "Request Rejected"]),
    "ValidatorCrashed": ("FAILED", "ValidationFailed", ["Validate Request", "Validation Failed"]),
    "SessionAlreadyOpen": ("SUCCEEDED", None, ["Validate Request", "Open Session Record", "Session Already Open"]),
    "SessionStoreThrottledOut": ("FAILED", "SessionStoreFailed", ["Validate Request", "Open Session Record", "Session Store Failed"]),
    "AuditStoreFailed": ("FAILED", "SessionStoreFailed", ["Validate Request", "Open Session Record", "Append Audit Record", "Session Store Failed"]),
}


def test_every_test_case_has_a_test():
    assert set(MockConfig.from_file(MOCK_CONFIG).test_cases()[MACHINE]) == set(EXPECTED)


def test_every_terminal_state_is_reached_by_some_test_case():
    terminal = {name for name, state in DEFINITION["States"].items() if state["Type"] in ("Succeed", "Fail")}
    assert {states[-1] for _, _, states in EXPECTED.values()} == terminal


def test_every_task_has_retry_and_catch_with_exact_errors():
    for name, state in DEFINITION["States"].items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry") and state.get("Catch"), name
        for retrier in state["Retry"]:
            assert "States.ALL" not in retrier["ErrorEquals"], f"{name} retries everything"


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_recording_session_case(case, deployment, sfn, monkeypatch):
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(MOCK_CONFIG))
    arn = deployment.state_machine_arn("RecordingSession")

    described, events = run(sfn, f"{arn}#{case}", REQUEST)

    status, error, states = EXPECTED[case]
    assert described["status"] == status
    assert described.get("error") == error
    assert states_entered(events) == states
