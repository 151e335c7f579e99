"""Live recording state: every change of a call's recording state (OFF, ON, SUSPENDED, STOPPED, and why) is a
`RecordingStateChanged` event on the verdict bus, read from the sessions table's stream, and `GET
/recordings/{id}` answers the same. Before, nobody could ask "is this call being recorded right now?" (Connect has
no API or event for it), and no event said when it changed."""

from __future__ import annotations

import json

import pytest

from callrec import demo
from tests.eventually import eventually
from tests.local_stack.defined_end import bus_queue


@pytest.fixture
def state_events(deployment):
    """The `RecordingStateChanged` events of a session, from a queue on the verdict bus (defined_end.bus_queue)."""
    arrived, received = bus_queue(deployment, "callrec.sessions", "recording-states"), []

    def of(session_id: str, until_final: bool = True) -> list[dict]:
        def read() -> list[dict]:
            received.extend(arrived())
            return [e for e in received if e["detail"]["sessionId"] == session_id]

        return eventually(
            read,
            lambda found: not until_final or (found and found[-1]["detail"]["recordingState"].get("final")),
            30.0,
            "the session's last recording state",
            show=lambda found: [e["detail"]["recordingState"]["state"] for e in found],
        )

    return of


def _states(events: list[dict]) -> list[tuple]:
    return [
        (
            e["detail"]["recordingState"]["state"],
            e["detail"]["recordingState"]["reason"],
            tuple(e["detail"]["recordingState"].get("reasons", ())),
        )
        for e in events
    ]


def test_every_change_of_a_payment_with_a_hold_is_one_event_in_order(centre, state_events):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(3.0)
    assert centre.contact_flow(call, "suspend")["suspended"] == "true"
    centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
    centre.sim.connect.hold(call.contact_id)
    eventually(lambda: centre.session(call.session_id).get("suspendedFor"), lambda r: r == ["hold", "pci"])
    assert centre.contact_flow(call, "resume")["resumed"] == "false"  # the hold keeps the window
    centre.sim.connect.resume_from_hold(call.contact_id)
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.finish(call.session_id)

    events = state_events(call.session_id)
    assert _states(events) == [
        ("OFF", "consent", ()),  # the session opened: waiting for the notice to be heard
        ("ON", "consent", ()),
        ("SUSPENDED", "pci", ("pci",)),
        ("SUSPENDED", "pci", ("hold", "pci")),  # the hold joined the card's window
        ("SUSPENDED", "hold", ("hold",)),  # the card's end: the hold keeps it suspended
        ("ON", "consent", ()),
        ("STOPPED", "call-ended", ()),
    ]
    assert {(e["source"], e["detail-type"]) for e in events} == {("callrec.sessions", "RecordingStateChanged")}
    previous = [e["detail"]["previous"] for e in events]
    assert previous[0] is None and previous[1:] == [
        {"state": e["detail"]["recordingState"]["state"], "reason": e["detail"]["recordingState"]["reason"]}
        for e in events[:-1]
    ]
    assert events[-1]["detail"]["recordingState"] == centre.session(call.session_id)["recordingState"]  # GET agrees
    assert demo.CARD_NUMBER not in json.dumps(events)


def test_a_declined_opt_in_ends_off_for_consent(centre, state_events):
    call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["2"])
    centre.finish(call.session_id)
    events = state_events(call.session_id)
    assert [(s, r) for s, r, _ in _states(events)] == [("OFF", "consent"), ("OFF", "consent")]
    assert events[-1]["detail"]["recordingState"]["final"] is True
    assert events[-1]["detail"]["recordingState"]["detail"] == "the caller declined recording"


def _stream_record(sequence: str, old: dict | None, new: dict) -> dict:
    from boto3.dynamodb.types import TypeSerializer

    image = lambda item: {k: TypeSerializer().serialize(v) for k, v in item.items()}  # noqa: E731
    dynamodb = {"SequenceNumber": sequence, "Keys": {"sessionId": {"S": new["sessionId"]}}, "NewImage": image(new)}
    if old is not None:
        dynamodb["OldImage"] = image(old)
    return {"eventName": "MODIFY" if old else "INSERT", "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


def test_a_change_the_bus_does_not_take_is_read_again_and_a_strange_record_is_skipped(centre, monkeypatch, caplog):
    opened = {"sessionId": "s-1", "provider": "connect", "status": "OPENED"}
    recording = {**opened, "status": "RECORDING", "recordingStartedAt": "2026-11-30T12:00:00.000Z"}
    strange = {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "2", "NewImage": {"status": {"BOGUS": "x"}}}}
    batch = {"Records": [_stream_record("1", None, opened), strange, _stream_record("3", opened, recording)]}
    function = centre.function("RecordingStateEvents")
    assert function.invoke(batch)["Payload"] == {"batchItemFailures": []}
    assert "not a session record; skipped" in caplog.text
    monkeypatch.setenv("VERDICT_BUS_NAME", "a-bus-that-is-not-there")
    assert function.invoke(batch)["Payload"] == {"batchItemFailures": [{"itemIdentifier": "1"}]}


def test_a_verdict_is_published_once_as_it_is_saved_and_read_again_while_the_bus_is_down(
    centre, deployment, monkeypatch
):
    """The verdict's event comes from the sessions table's stream, not from a workflow state: a bus that is down
    when the verdict is saved delays it (Lambda reads the change again), and a later change of the same session
    (AuditSealer moving its audit head) does not publish it again."""
    ended = {"sessionId": "s-2", "provider": "chime", "status": "RECORDED", "endedAt": "2026-11-30T12:05:00.000Z"}
    verified = {
        **ended,
        "verification": "FAILED",
        "verificationReason": "failed: window-1-silent (20.4-26.2 s: ch0 peak 16370)",
        "verifiedObject": "s3://recordings/chime/s-2.wav",
        "attestation": "s3://recordings/attestations/s-2.json",
        "verificationExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:callrec-VerifyRecording:s-2",
        "verifiedAt": "2026-11-30T12:06:00.000Z",
    }
    sealed = {**verified, "auditHead": "a1b2"}
    batch = {"Records": [_stream_record("1", ended, verified), _stream_record("2", verified, sealed)]}
    verdicts = bus_queue(deployment, "callrec.recordings", "verdicts-once")
    function = centre.function("RecordingStateEvents")
    with monkeypatch.context() as bus_down:
        bus_down.setenv("VERDICT_BUS_NAME", "a-bus-that-is-not-there")
        assert function.invoke(batch)["Payload"] == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert verdicts() == []
    assert function.invoke(batch)["Payload"] == {"batchItemFailures": []}
    [event] = eventually(verdicts, what="the verdict's event")
    assert (event["source"], event["detail-type"]) == ("callrec.recordings", "RecordingVerificationFailed")
    assert event["detail"] == {
        "sessionId": "s-2",
        "verification": "FAILED",
        "reason": verified["verificationReason"],
        "executionArn": verified["verificationExecutionArn"],
        "recording": verified["verifiedObject"],
        "attestation": verified["attestation"],
    }
    assert verdicts() == []  # the sealed change published nothing more
