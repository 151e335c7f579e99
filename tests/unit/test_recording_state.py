"""The recording-state vocabulary (callrec_shared.recording_state) from the session record alone: each outcome
the workflow writes maps to its state and reason category."""

from __future__ import annotations

import pytest

from callrec_shared import recording_state

ENDED = "2026-11-30T12:00:00.000Z"


@pytest.mark.parametrize(
    "session, state, reason",
    [
        ({"status": "OPENED"}, "OFF", "consent"),
        ({"status": "AWAITING_CONSENT"}, "OFF", "consent"),
        ({"status": "RECORDING", "recordingStartedAt": ENDED}, "ON", "consent"),
        ({"status": "RECORDING", "suspended": True, "windows": [{}], "suspendedFor": {"hold"}}, "SUSPENDED", "hold"),
        (
            {"status": "RECORDING", "suspended": True, "windows": [{}], "suspendedFor": {"hold", "pci"}},
            "SUSPENDED",
            "pci",
        ),
        ({"status": "RECORDING", "suspended": True, "windows": [{}]}, "SUSPENDED", "pci"),  # before reasons existed
        ({"status": "RECORDED", "outcomeReason": "stopped by api"}, "STOPPED", "stop"),
        ({"status": "RECORDED", "outcomeReason": "stopped by max-window-length"}, "STOPPED", "limit"),
        ({"status": "RECORDED", "outcomeReason": "stopped by max-call-duration"}, "STOPPED", "limit"),
        (
            {"status": "RECORDED", "outcomeReason": "the call ended; the provider stopped the recording"},
            "STOPPED",
            "call-ended",
        ),
        ({"status": "NOT_RECORDED", "outcomeReason": "the caller declined recording"}, "OFF", "consent"),
        ({"status": "NOT_RECORDED", "outcomeReason": "no consent answer: not recorded"}, "OFF", "consent"),
        (
            {"status": "NOT_RECORDED", "outcomeReason": "the call ended before recording started (CallerHungUp)"},
            "OFF",
            "call-ended",
        ),
        (
            {"status": "FAILED", "outcomeReason": "RecordingStartFailed: NoAccessToDestination: ..."},
            "OFF",
            "provider-error",
        ),
        (
            {"status": "FAILED", "recordingStartedAt": ENDED, "outcomeReason": "the session store failed (x)"},
            "STOPPED",
            "store-failure",
        ),
        ({"status": "FAILED", "outcomeReason": "the session store failed (x)"}, "OFF", "store-failure"),
    ],
)
def test_each_outcome_has_its_state_and_reason(session, state, reason):
    found = recording_state.of(
        {**session, "endedAt": ENDED} if session["status"] in ("RECORDED", "NOT_RECORDED", "FAILED") else session
    )
    assert (found["state"], found["reason"]) == (state, reason)
    assert found["reason"] in recording_state.REASONS
    assert found.get("final", False) == (session["status"] in ("RECORDED", "NOT_RECORDED", "FAILED"))


def test_a_change_is_one_of_state_reason_reasons_or_the_end():
    on = recording_state.of({"status": "RECORDING", "recordingStartedAt": ENDED})
    assert recording_state.changed(None, on)
    assert not recording_state.changed(on, {**on, "since": "later"})  # the same state, read again
    both = {"status": "RECORDING", "suspended": True, "windows": [{}], "suspendedFor": {"pci", "hold"}}
    pci = {**both, "suspendedFor": {"pci"}}
    assert recording_state.changed(recording_state.of(pci), recording_state.of(both))


def _limit_stops() -> list[str]:
    """Who the workflow's own limit stops name (`by`), read from the definition's Deadline Passed state."""
    import json
    import re

    from callrec.template import REPO_ROOT

    definition = json.loads((REPO_ROOT / "statemachines" / "recording_session.asl.json").read_text())
    return re.findall(r"'(max-[a-z-]+)'", definition["States"]["Deadline Passed"]["Output"])


def test_the_definition_names_both_limits():
    assert sorted(_limit_stops()) == ["max-call-duration", "max-window-length"]


@pytest.mark.parametrize("by", _limit_stops())
def test_the_workflows_own_limit_stops_read_as_limit(by):
    """The outcome words come from the definition: its limit stops must read as `limit`, whatever they say."""
    session = {"status": "RECORDED", "outcomeReason": f"stopped by {by}", "endedAt": ENDED}
    assert recording_state.of(session)["reason"] == "limit"
