"""Consent when someone joins: a conference or transfer to a number brings a new party into a recorded call. The
policy is judged again for that party; if its rule is stricter than the call's, recording is suspended (confirmed)
until the party has heard the notice or opted in, and a decline stops recording for the rest of the call. Each
party's evidence is kept. Before, consent was decided once: a Texas call conferenced to a California number kept
its notice-only decision, and the Californian was recorded without being asked."""

from __future__ import annotations

import json
import uuid

from callrec import demo
from callrec.sim import Fault
from tests.local_stack.defined_end import (
    assert_accepted_joined_californian,
    audit_events,
    connect_recording_wav,
    end_connect_call,
)

CALIFORNIA = "+14155550188"  # all-party consent: opt-in
TEXAS = "+15125550177"  # one-party consent: notice at most
AGENT = 1


def test_a_stricter_party_joining_is_not_recorded_until_they_opt_in(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)  # notice-only
    centre.sim.clock.advance(5.0)
    joined = centre.contact_flow(call, "join", partyNumber=CALIFORNIA)
    told_at = centre.sim.clock.seconds()  # the flow was told "suspended": nothing is recorded from here on
    assert (joined["consent"], joined["suspended"], joined["decision"]) == ("opt-in", "true", "opt-in"), joined
    state = centre.session(call.session_id)["recordingState"]
    assert (state["state"], state["reason"]) == ("SUSPENDED", "consent")
    centre.sim.clock.advance(8.0)  # the flow asks the new party; the others talk on, unrecorded
    answered_at = centre.sim.clock.seconds()
    answered = centre.contact_flow(call, "joinConsent", partyId=joined["partyId"], answer="accepted")
    assert answered["recording"] == "resumed", answered
    centre.sim.clock.advance(5.0)
    session = end_connect_call(centre, call)

    assert_accepted_joined_californian(centre, session, by="contact-flow")
    # no phone number kept, on the session or in the audit (the consent answer names the party by its partyId)
    assert CALIFORNIA.lstrip("+") not in json.dumps(session) + json.dumps(centre.audit(call.session_id))
    events = audit_events(centre, call.session_id)
    assert events.index("PARTY_JOINED") < events.index("PARTY_CONSENT_ANSWERED") < events.index("WINDOW_CLOSED")
    recording, wav = connect_recording_wav(centre, call)
    start = recording.started_at
    assert recording.silenced.spans[0][0] <= told_at  # suspended before the flow was told so ...
    assert wav.peak(AGENT, told_at - start, answered_at - start) == 0  # ... and nobody recorded while asked
    assert wav.rms(AGENT, answered_at - start + 1.0, answered_at - start + 4.0) > 1000  # recorded once accepted


def test_a_declined_party_stops_the_recording_for_the_rest_of_the_call(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(5.0)
    joined = centre.contact_flow(call, "join", partyNumber=CALIFORNIA)
    told_at = centre.sim.clock.seconds()
    assert joined["suspended"] == "true"
    centre.sim.clock.advance(5.0)
    declined = centre.contact_flow(call, "joinConsent", partyId=joined["partyId"], answer="declined")
    assert declined["recording"] == "stopped", declined
    centre.wait_for_status(call.session_id, "RECORDED")
    centre.sim.clock.advance(10.0)  # the call goes on, not recorded
    session = end_connect_call(centre, call)
    state = session["recordingState"]
    assert (state["state"], state["reason"]) == ("STOPPED", "stop")
    assert session["outcomeReason"] == "stopped by contact-flow" and session["joinedParties"][0]["answer"] == "declined"
    recording, wav = connect_recording_wav(centre, call)
    assert recording.stopped_at < centre.sim.clock.seconds() - 5.0  # stopped at the decline, not at the hang-up
    start = recording.started_at
    assert recording.silenced.spans[0][0] <= told_at  # suspended before the flow was told so ...
    assert wav.peak(AGENT, told_at - start, recording.stopped_at - start) == 0  # ... and silent from then on


def test_a_party_whose_rule_is_not_stricter_changes_nothing_but_is_kept(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    joined = centre.contact_flow(call, "join", partyNumber=TEXAS)
    assert (joined["consent"], joined["decision"]) == ("none", "notice") and "suspended" not in joined
    assert centre.session(call.session_id)["recordingState"]["state"] == "ON"
    session = end_connect_call(centre, call)
    assert "windows" not in session and session["joinedParties"][0]["stricter"] == "false"
    assert "PARTY_JOINED" in audit_events(centre, call.session_id)


def test_a_stricter_party_whose_suspension_fails_stops_the_recording(centre):
    """Connect will not suspend: rather than record the new party without their consent, recording stops."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.faults.inject(Fault("connect", "SuspendContactRecording", "InternalServiceException", times=None))
    joined = centre.contact_flow(call, "join", partyNumber=CALIFORNIA)
    assert (joined["suspended"], joined["recordingStopped"]) == ("false", "true"), joined
    centre.wait_for_status(call.session_id, "RECORDED")
    session = end_connect_call(centre, call)
    assert session["recordingState"]["state"] == "STOPPED"
    assert session["joinedParties"][0]["recordingStopped"] == "the suspension was not confirmed"


def test_bad_join_requests_are_refused_naming_the_field(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    bad = centre.contact_flow(call, "join", partyNumber="4155550188\n")
    assert (bad["error"], bad["field"]) == ("InvalidRequest", "Details.Parameters.partyNumber") and "415" not in str(
        bad
    )
    missing = centre.contact_flow(call, "join")
    assert missing["error"] == "InvalidRequest"
    unknown = centre.contact_flow(call, "joinConsent", partyId=str(uuid.uuid4()), answer="accepted")
    assert unknown["error"] == "UnknownParty"
    assert "joinedParties" not in centre.session(call.session_id)


def test_a_join_reported_through_the_api_on_a_chime_call(api, centre):
    """A Chime call (a leg the application bridged, or any join it knows of) reports the party through the API:
    the SIP media application pauses the recording until the party has opted in."""
    from callrec.local_api import signed

    call = centre.chime_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS, answers=[])  # one-party: a notice is played
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.sim.chime.talk(call.transaction_id, 5.0)
    centre.sim.chime.wait_idle(call.transaction_id)
    base = f"{api}/recordings/{call.session_id}/parties"
    joined = signed("POST", base, {"number": CALIFORNIA})
    assert joined.status_code == 200 and joined.json()["consent"] == "opt-in" and joined.json()["suspended"] is True
    centre.sim.chime.talk(call.transaction_id, 5.0)  # the application asks the new party
    centre.sim.chime.wait_idle(call.transaction_id)
    answered = signed("POST", f"{base}/consent", {"partyId": joined.json()["partyId"], "answer": "accepted"})
    assert answered.status_code == 200 and answered.json()["recording"] == "resumed", answered.text
    centre.sim.chime.talk(call.transaction_id, 5.0)
    centre.sim.chime.hang_up(call.transaction_id)
    centre.sim.chime.wait_idle(call.transaction_id)
    centre.finish(call.session_id)
    centre.verification(call.session_id)
    session = centre.session(call.session_id)
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    assert session["windows"][0]["reasons"] == ["consent"] and session["joinedParties"][0]["answer"] == "accepted"
    again = signed("POST", f"{base}/consent", {"partyId": joined.json()["partyId"], "answer": "accepted"})
    assert again.status_code == 409 and again.json()["error"] in ("UnknownParty", "SessionEnded")
    bad = signed("POST", base, {"number": "+1415555018\n"})
    assert bad.status_code == 400 and bad.json()["field"] == "number"


def test_a_stricter_party_joining_a_call_out_of_signals_stops_the_recording(runtime):
    """Past MaxSignalsPerCall no window can open for the new party: the recording is stopped for the rest of the
    call (an end is always taken), as when the suspension cannot be confirmed. Before, the join answered an
    error and left the recording running, with nothing in the evidence."""
    from callrec.callcentre import LocalCallCentre

    centre = LocalCallCentre(runtime.deploy_template(MaxSignalsPerCall="2"))
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    assert centre.contact_flow(call, "suspend")["suspended"] == "true"
    assert centre.contact_flow(call, "resume")["resumed"] == "true"
    joined = centre.contact_flow(call, "join", partyNumber=CALIFORNIA)
    assert (joined.get("suspended"), joined.get("recordingStopped")) == ("false", "true"), joined
    centre.wait_for_recording(call.session_id, "STOPPED")
    party = centre.session(call.session_id)["joinedParties"][0]
    assert party["stricter"] == "true" and "recordingStopped" in party
    end_connect_call(centre, call)
