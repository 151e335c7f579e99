"""The twins are faithful by construction: every SMA event has the documented shape and nothing more, and
every answer on the wire fits botocore's output shape for its operation."""

from __future__ import annotations

import re

import pytest

from callrec.sim.chime import UndocumentedEvent, events
from callrec.sim.chime.legs import CallLeg, SipMediaApplication
from callrec.sim.shapes import outputs
from callrec.sim.wire import _epoch_seconds


def _leg() -> CallLeg:
    sma = SipMediaApplication("sma-1", "test", "fn", "us-east-1", "123456789012")
    return CallLeg("txn-1", "call-1", sma, "+14155550100", "+18005550100", 0.0, 1_700_000_000_000)


def test_the_twin_builds_the_documented_event():
    built = events.event(_leg(), "NEW_INBOUND_CALL")
    assert set(built["CallDetails"]) == {
        "TransactionId",
        "AwsAccountId",
        "AwsRegion",
        "SipMediaApplicationId",
        "Participants",
    }


@pytest.mark.parametrize(
    "change, where",
    [
        (lambda e: e["CallDetails"].update(Typed=[[1.0, 2.0]]), "CallDetails"),  # the simulator-only field that leaked
        (lambda e: e.update(Debug=True), "(top)"),
        (
            lambda e: e["CallDetails"]["Participants"][0].update(Direction="Sideways"),
            "CallDetails/Participants/0/Direction",
        ),
        (lambda e: e.update(ActionData={"Type": "PlayAudio", "Secret": "x"}), "ActionData"),
    ],
)
def test_an_undocumented_event_is_refused_naming_where(change, where):
    built = events.event(_leg(), "NEW_INBOUND_CALL")
    change(built)
    with pytest.raises(UndocumentedEvent, match=re.escape(f"at {where}")):
        events.check(built)


def test_the_twins_answers_fit_botocore(sim):
    contact = sim.connect.start_contact("instance-1")  # the sim fixture's instance
    call = {"InstanceId": "instance-1", "ContactId": contact, "InitialContactId": contact}
    sim.connect.agent_joins(contact)
    answers = {
        "StartContactRecording": sim.connect.call(
            "StartContactRecording", {**call, "VoiceRecordingConfiguration": {"VoiceRecordingTrack": "ALL"}}
        )
    }
    sim.connect.hang_up(contact)
    sim.delivery.wait()
    answers["DescribeContact"] = sim.connect.call("DescribeContact", {"InstanceId": "instance-1", "ContactId": contact})
    for operation, answer in answers.items():
        assert outputs.problems("connect", operation, _epoch_seconds(answer)) == [], operation
    assert answers["DescribeContact"]["Contact"]["Recordings"]


def test_an_answer_the_service_model_does_not_have_is_reported():
    contact = {"Contact": {"Id": "c-1", "Typed": [[1, 2]], "InitiationTimestamp": "yesterday"}}
    found = outputs.problems("connect", "DescribeContact", contact)
    assert any("no member 'Typed'" in problem for problem in found)
    assert any("InitiationTimestamp: must be a number" in problem for problem in found)
    assert (
        outputs.problems(
            "chime-sdk-voice", "UpdateSipMediaApplicationCall", {"SipMediaApplicationCall": {"TransactionId": "t-1"}}
        )
        == []
    )
    assert outputs.problems("connect", "StopContactRecording", {"Stopped": True})
