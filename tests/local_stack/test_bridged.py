"""Chime bridged calls: an outside system (an agent desktop, a routing service) asks the SIP media application to
bridge a party to the call (UpdateSipMediaApplicationCall, op `bridge`), and the SMA's Lambda answers with
CallAndBridge. The bridged party is a joining party: when their rule is stricter than the call's, the recording is
paused (a window with the reason `consent`) before the bridge, the notice or the opt-in is played on LEG-B, and the
answer resumes the recording or stops it for the rest of the call. Before, the SMA's Lambda could not bridge at all,
and a bridged leg would have been recorded unasked."""

from __future__ import annotations

import json

from callrec import demo
from callrec.stack import client
from callrec.waiting import eventually
from tests.local_stack.defined_end import assert_accepted_joined_californian, audit_events
from tests.wav_probe import read_wav

CALIFORNIA = "+14155550188"  # all-party consent: opt-in
TEXAS = "+15125550177"  # one-party consent: notice at most
CALLER, PARTY = 0, 1  # LEG-A's recording: the caller left, what the caller hears (the bridged party) right


def _recorded_call(centre, caller: str, answers: list):
    call = centre.chime_call(caller, demo.CENTRE_TEXAS, answers=answers)
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.chime.talk(call.transaction_id, 5.0)
    centre.sim.chime.wait_idle(call.transaction_id)
    return call


def _bridged(centre, call) -> dict:
    return eventually(lambda: centre.sim.chime.describe(call.transaction_id)["Bridged"], what="the bridged leg")


def _ask(centre, call, op: str) -> None:
    """An outside system's request to the SIP media application (UpdateSipMediaApplicationCall)."""
    centre.sim.chime.call(
        "UpdateSipMediaApplicationCall",
        {"SipMediaApplicationId": centre.sma.id, "TransactionId": call.transaction_id, "Arguments": {"op": op}},
    )


def _answered(centre, call, answer: str) -> None:
    assert centre.wait_for_party_answer(call.session_id)["joinedParties"][-1]["answer"] == answer


def _hang_up(centre, call, tag: str = "LEG-A") -> dict:
    centre.chime_hang_up(call, tag=tag)
    centre.finish(call.session_id)
    assert centre.verification(call.session_id) is not None
    return centre.session(call.session_id)


def _wav(centre, call):
    recording = centre.sim.chime.legs[call.transaction_id].recording
    bucket, _, key = recording.location.partition("/")
    return recording, read_wav(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_stricter_bridged_party_is_bridged_while_paused_and_recorded_once_they_opt_in(centre):
    call = _recorded_call(centre, demo.TEXAS_CALLER, answers=[])  # notice only
    centre.chime_bridge(call, CALIFORNIA, keys=["1"])  # the Californian will accept
    _bridged(centre, call)
    _answered(centre, call, "accepted")
    centre.wait_for_window_closed(call.session_id)  # resumed once they accepted
    centre.sim.chime.talk(call.transaction_id, 5.0)
    session = _hang_up(centre, call)

    assert_accepted_joined_californian(centre, session, by="sma")
    leg = centre.sim.chime.legs[call.transaction_id]
    executed = [a["Type"] for a in leg.executed]
    # paused first, then bridged, then the party asked on LEG-B, then resumed
    assert executed[executed.index("PauseCallRecording") :][:4] == [
        "PauseCallRecording",
        "CallAndBridge",
        "PlayAudioAndGetDigits",
        "ResumeCallRecording",
    ]
    recording, wav = _wav(centre, call)
    (paused, resumed), start = recording.silenced.closed()[0], recording.started_at
    assert paused <= leg.bridged.started_at  # the party was bridged into a paused recording
    assert (
        wav.peak(PARTY, paused - start, resumed - start) == 0 and wav.peak(CALLER, paused - start, resumed - start) == 0
    )
    assert wav.rms(PARTY, resumed - start + 0.5, resumed - start + 4.0) > 500  # the party, recorded once accepted
    assert centre.sim.chime.describe(call.transaction_id)["Bridged"]["Status"] == "Disconnected"  # with the caller
    assert CALIFORNIA.lstrip("+") not in json.dumps(session) + json.dumps(centre.audit(call.session_id))
    events = audit_events(centre, call.session_id)
    assert events.index("PARTY_JOINED") < events.index("PARTY_CONSENT_ANSWERED") < events.index("WINDOW_CLOSED")


def test_a_bridged_party_who_declines_stops_the_recording_for_the_rest_of_the_call(centre):
    call = _recorded_call(centre, demo.TEXAS_CALLER, answers=[])
    centre.chime_bridge(call, CALIFORNIA, keys=["2"])
    _bridged(centre, call)
    centre.wait_for_recording(call.session_id, "STOPPED")
    centre.sim.chime.talk(call.transaction_id, 3.0)
    session = _hang_up(centre, call)
    assert session["joinedParties"][0]["answer"] == "declined"
    recording, wav = _wav(centre, call)
    assert recording.stopped_at is not None and recording.silenced.closed()  # stopped while still paused
    assert wav.peak(PARTY, recording.silenced.closed()[0][0] - recording.started_at, wav.seconds) == 0
    assert session["verification"] == "VERIFIED", session.get("verificationReason")


def test_a_party_whose_rule_is_not_stricter_is_bridged_at_once(centre):
    call = _recorded_call(centre, demo.CALIFORNIA_CALLER, answers=["1"])  # opt-in already
    centre.chime_bridge(call, TEXAS)
    bridged = centre.sim.chime.describe(call.transaction_id)["Bridged"]
    assert bridged is not None and bridged["Status"] == "Connected"  # no pause, no prompt: bridged in that request
    centre.sim.chime.talk(call.transaction_id, 4.0)
    session = _hang_up(centre, call, tag="LEG-B")  # the bridged party hangs up; the SMA hangs up the caller
    (party,) = session["joinedParties"]
    assert (party["stricter"], party["decision"], "answer" in party) == ("false", "notice", False)
    assert not any(key.startswith("prompt") for key in party)  # nothing was played to them
    assert not session.get("windows")
    assert centre.sim.chime.describe(call.transaction_id)["Status"] == "Disconnected"
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    recording, wav = _wav(centre, call)
    bridged_at = centre.sim.chime.legs[call.transaction_id].bridged.started_at - recording.started_at
    assert wav.rms(PARTY, bridged_at + 0.5, bridged_at + 3.5) > 500


def test_a_bridge_nobody_answers_resumes_the_recording(centre):
    call = _recorded_call(centre, demo.TEXAS_CALLER, answers=[])
    centre.chime_bridge(call, CALIFORNIA, answers=False)
    _answered(centre, call, "not-connected")
    centre.wait_for_window_closed(call.session_id)
    session = _hang_up(centre, call)
    assert centre.sim.chime.describe(call.transaction_id)["Bridged"] is None
    assert "PARTY_NOT_CONNECTED" in audit_events(centre, call.session_id)
    assert session["windows"][0]["reasons"] == ["consent"] and session["verification"] == "VERIFIED"


def test_bridge_requests_are_refused_naming_the_field_and_change_nothing(centre):
    call = _recorded_call(centre, demo.TEXAS_CALLER, answers=[])
    centre.chime_bridge(call, "+1415555018\n")
    centre.chime_bridge(call, TEXAS, jurisdiction="california")
    assert centre.sim.chime.describe(call.transaction_id)["Bridged"] is None
    centre.chime_bridge(call, TEXAS)
    centre.chime_bridge(call, "+15125550178")  # one bridged leg per call
    refusals = [a for a in centre.audit(call.session_id) if a["event"] == "OUTSIDE_REQUEST_REFUSED"]
    assert [r["op"] for r in refusals] == ["bridge"] * 3
    assert "E.164" in refusals[0]["reason"] and "jurisdiction" in refusals[1]["reason"]
    assert "bridged already" in refusals[2]["reason"]
    assert "4155550" not in json.dumps(refusals)  # the value is never echoed
    assert len(centre.session(call.session_id)["joinedParties"]) == 1
    _hang_up(centre, call)


def test_a_party_bridged_during_a_card_window_joins_it_and_the_card_still_keeps_it_closed(centre):
    """The window was open already (a card number): the party's consent joins it with no pause to ask of the SMA,
    so the SMA bridges at once; the party's acceptance leaves the window to the card, whose end resumes."""
    call = _recorded_call(centre, demo.TEXAS_CALLER, answers=[])
    _ask(centre, call, "request-suspend")
    centre.wait_for_recording(call.session_id, "SUSPENDED")
    centre.chime_bridge(call, CALIFORNIA, keys=["1"])
    assert centre.sim.chime.describe(call.transaction_id)["Bridged"] is not None  # bridged in that very request
    _answered(centre, call, "accepted")
    centre.sim.chime.talk(call.transaction_id, 2.0)
    centre.sim.chime.wait_idle(call.transaction_id)
    assert centre.session(call.session_id)["recordingState"]["state"] == "SUSPENDED"  # the card still holds it
    _ask(centre, call, "request-resume")
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.chime.talk(call.transaction_id, 4.0)
    session = _hang_up(centre, call)
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    (window,) = session["windows"]
    assert window["reasons"] == ["pci", "consent"]
    executed = [a["Type"] for a in centre.sim.chime.legs[call.transaction_id].executed]
    assert executed.count("PauseCallRecording") == 1 and executed.count("ResumeCallRecording") == 1
    recording, wav = _wav(centre, call)
    (paused, resumed), start = recording.silenced.closed()[0], recording.started_at
    assert paused <= centre.sim.chime.legs[call.transaction_id].bridged.started_at <= resumed
    assert wav.rms(PARTY, resumed - start + 0.5, resumed - start + 3.5) > 500


def test_a_call_out_of_signals_does_not_bridge_a_stricter_party(runtime):
    """Past MaxSignalsPerCall no window can open, so a stricter party cannot be bridged unrecorded: the bridge is
    refused. (The limit's refusal is a kind of SessionEnded; it must not read as "nothing is recorded any more".)"""
    from callrec.callcentre import LocalCallCentre

    centre = LocalCallCentre(runtime.deploy_template(MaxSignalsPerCall="2"))
    call = _recorded_call(centre, demo.TEXAS_CALLER, answers=[])
    _ask(centre, call, "request-suspend")
    centre.wait_for_recording(call.session_id, "SUSPENDED")
    _ask(centre, call, "request-resume")
    centre.wait_for_recording(call.session_id, "ON")
    centre.chime_bridge(call, CALIFORNIA, keys=["1"])
    centre.sim.chime.talk(call.transaction_id, 2.0)
    centre.sim.chime.wait_idle(call.transaction_id)
    assert centre.sim.chime.describe(call.transaction_id)["Bridged"] is None
    (refused,) = [a for a in centre.audit(call.session_id) if a["event"] == "OUTSIDE_REQUEST_REFUSED"]
    assert refused["op"] == "bridge"
    assert centre.session(call.session_id)["joinedParties"][0]["answer"] == "not-connected"
    _hang_up(centre, call)
