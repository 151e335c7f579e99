"""Pause on hold: while the customer is on hold, Connect goes on recording the agent's side (it has no pause on
hold of its own). The agent's hold reaches the stack as Connect sends it, on the instance's agent event stream
(Kinesis, read by the AgentEvents function through its event source mapping); it opens a window with the reason
`hold` through the same signal queue as a card number's. A window open for both resumes only when both ended,
so a hold's end never resumes over a card number and a card's end never over a hold. Read back from the
delivered recording. (Before: the customer's hold was recorded, agent included, on every call.)"""

from __future__ import annotations

import pytest

from callrec import demo
from callrec.local_api import signed
from callrec.stack import client
from tests.eventually import eventually
from tests.local_stack.defined_end import audit_events, connect_recording_wav, end_connect_call

AGENT = 1  # the agent's channel (customer left, agent right)


def _hold_span(centre, call) -> tuple[float, float]:
    """The hold, in seconds into the recording."""
    recording = centre.sim.connect.chain(call.contact_id).recording
    (held_from, held_to) = centre.sim.connect.chain(call.contact_id).holds[0]
    return held_from - recording.started_at, held_to - recording.started_at


def test_the_agents_hold_is_silent_in_the_recording(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(5.0)
    centre.sim.connect.hold(call.contact_id)  # Connect writes the agent's STATE_CHANGE to the stream
    held = centre.wait_for_recording(call.session_id, "SUSPENDED")["recordingState"]
    seen_at = centre.sim.clock.seconds()  # the session says SUSPENDED: nothing of the agent is recorded from here
    assert (held["reason"], held["reasons"], held["by"]) == ("hold", ["hold"], "agent-events")
    centre.sim.clock.advance(20.0)  # the agent goes on talking (to a colleague) while the customer waits
    centre.sim.connect.resume_from_hold(call.contact_id)
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.clock.advance(5.0)
    session = end_connect_call(centre, call)

    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    assert [(w["reasons"], w["suspendedBy"], w["resumedBy"]) for w in session["windows"]] == [
        (["hold"], "agent-events", "agent-events")
    ]
    recording, wav = connect_recording_wav(centre, call)
    held_from, held_to = _hold_span(centre, call)
    suspended_at = recording.silenced.spans[0][0] - recording.started_at
    seen = seen_at - recording.started_at
    assert held_from <= suspended_at <= seen  # suspended once the agent held, before the session said so ...
    assert wav.rms(AGENT, 1.0, 4.0) > 1000  # the agent is heard before the hold ...
    assert wav.peak(AGENT, seen, held_to - 0.5) == 0  # ... not during it (from when the session said SUSPENDED)
    assert wav.rms(AGENT, held_to + 1.0, held_to + 4.0) > 1000  # ... and again after it
    events = audit_events(centre, call.session_id)
    assert events.count("WINDOW_OPENED") == 1 and events.count("WINDOW_CLOSED") == 1


def test_a_hold_during_a_card_number_never_resumes_over_either(centre):
    """The contact flow's resume after the card, during the hold, leaves the recording suspended (told
    `resumed: false`, with why); the hold's end resumes it. With one reason per window, the hold's suspend was
    refused as "already suspended" and the card's resume un-paused the recording while the customer was on hold."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(3.0)
    assert centre.contact_flow(call, "suspend")["suspended"] == "true"
    centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
    centre.sim.connect.hold(call.contact_id)  # the agent checks the payment with a colleague
    eventually(lambda: centre.session(call.session_id).get("suspendedFor"), lambda r: r == ["hold", "pci"])
    centre.sim.clock.advance(10.0)
    card_done = centre.contact_flow(call, "resume")
    assert card_done["resumed"] == "false" and "stays suspended for the hold" in card_done["reason"], card_done
    assert centre.session(call.session_id)["recordingState"]["reasons"] == ["hold"]  # the card's reason ended
    centre.sim.clock.advance(10.0)
    centre.sim.connect.resume_from_hold(call.contact_id)
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.clock.advance(5.0)
    session = end_connect_call(centre, call)

    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    (window,) = session["windows"]
    assert window["reasons"] == ["pci", "hold"] and [e["reason"] for e in window["reasonsEnded"]] == ["pci"]
    assert window["resumedBy"] == "agent-events" and "suspendedFor" not in session
    _, wav = connect_recording_wav(centre, call)
    held_from, held_to = _hold_span(centre, call)
    assert wav.peak(AGENT, held_from, held_to - 0.5) == 0  # the whole hold, after the card's end too
    events = audit_events(centre, call.session_id)
    assert events.count("WINDOW_REASON_ADDED") == 1 and events.count("WINDOW_REASON_ENDED") == 1


def test_a_hold_through_the_api_and_what_is_refused(api, centre):
    """Another hold source (a Chime call's PBX, a custom desktop) asks through the API with the reason `hold`."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    base = f"{api}/recordings/{call.session_id}"
    refused = signed("POST", f"{base}/resume", {"reason": "hold"})
    assert refused.status_code == 409 and refused.json()["reason"] == "the customer is not on hold"
    held = signed("POST", f"{base}/suspend", {"reason": "hold"})
    assert held.status_code == 200 and held.json()["suspended"] is True
    again = signed("POST", f"{base}/suspend", {"reason": "hold"})
    assert again.status_code == 409 and again.json()["reason"] == "the customer is already on hold"
    assert signed("POST", f"{base}/resume", {}).json()["reason"] == "recording is not suspended"  # no card window
    bad = signed("POST", f"{base}/suspend", {"reason": "lunch"})
    assert bad.status_code == 400 and bad.json()["field"] == "reason" and "lunch" not in bad.text
    resumed = signed("POST", f"{base}/resume", {"reason": "hold"})
    assert resumed.status_code == 200 and resumed.json()["resumed"] is True


@pytest.fixture
def centre_recording_holds():
    """A stack deployed with PauseOnHold=false: no agent event stream, no AgentEvents function."""
    from callrec.callcentre import LocalCallCentre
    from callrec.runtime import LocalRuntime
    from tests.conftest import TEST_TIME_SCALE

    with LocalRuntime(time_scale=TEST_TIME_SCALE, parameters={"PauseOnHold": "false"}) as runtime:
        yield LocalCallCentre(runtime.deployment)


def test_without_pause_on_hold_the_agent_is_recorded_during_the_hold(centre_recording_holds):
    centre = centre_recording_holds
    assert "AgentEvents" not in centre.deployment.created and not centre.deployment.instance_storage
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(3.0)
    centre.sim.connect.hold(call.contact_id)
    centre.sim.clock.advance(10.0)
    centre.sim.connect.resume_from_hold(call.contact_id)
    centre.sim.clock.advance(3.0)
    session = end_connect_call(centre, call)
    assert "windows" not in session
    _, wav = connect_recording_wav(centre, call)
    held_from, held_to = _hold_span(centre, call)
    assert wav.rms(AGENT, held_from + 1.0, held_to - 1.0) > 1000  # Connect's own behaviour: the agent is recorded
    assert wav.peak(0, held_from + 1.0, held_to - 1.0) == 0  # (the customer hears the hold music, not the call)


def test_an_agent_event_stream_the_instance_already_has_is_read(runtime):
    """AgentEventStreamArn set (the instance already sends agent events to a stream of its own): the stack
    creates no stream and no storage setting, and maps AgentEvents to that stream."""
    import json

    from callrec import engine
    from callrec.callcentre import LocalCallCentre

    kinesis = client("kinesis")
    kinesis.create_stream(StreamName="existing-agent-events", ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName="existing-agent-events")["StreamDescriptionSummary"]["StreamARN"]
    deployment = runtime.deploy_template(AgentEventStreamArn=arn)
    assert "AgentEventStream" not in deployment.created and not deployment.instance_storage
    assert [m.stream_arn for m in engine.settings.pollers if ":kinesis:" in m.stream_arn] == [arn]
    centre = LocalCallCentre(deployment)
    centre.sim.connect.agent_events = lambda event, key: kinesis.put_record(
        StreamARN=arn, Data=json.dumps(event).encode(), PartitionKey=key
    )  # the instance's own setting, made outside the stack
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.connect.hold(call.contact_id)
    assert centre.wait_for_recording(call.session_id, "SUSPENDED")["suspendedFor"] == ["hold"]


def test_an_idempotency_key_reused_for_another_reason_is_a_conflict_not_a_repeat(api, centre):
    """A key names one signal: the same key for a card window after a hold's suspension is refused (409), not taken
    as a repeat. Before, only the kind was compared: the card's suspend was answered as applied, yet `pci` never
    held the window, so the hold's end resumed the recording over the card number."""
    from callrec_shared import sessions

    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    base = f"{api}/recordings/{call.session_id}"
    held = signed("POST", f"{base}/suspend", {"reason": "hold", "idempotencyKey": "desk-7"})
    assert held.status_code == 200 and held.json()["suspended"] is True
    card = signed("POST", f"{base}/suspend", {"idempotencyKey": "desk-7"})  # a card window, the same key
    assert card.status_code == 409 and card.json()["error"] == "IdempotencyKeyReused" and "desk-7" not in card.text
    with pytest.raises(sessions.SignalConflict):
        sessions.signal(call.session_id, "suspend", "api", key="desk-7", reason="pci")
    repeat = signed("POST", f"{base}/suspend", {"reason": "hold", "idempotencyKey": "desk-7"})
    assert repeat.status_code == 200 and repeat.json()["suspended"] is True  # the same signal: a repeat
    assert centre.session(call.session_id)["suspendedFor"] == ["hold"]
