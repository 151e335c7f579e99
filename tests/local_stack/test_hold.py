"""Pause on hold: while the customer is on hold, Connect goes on recording the agent's side (it has no pause on
hold of its own). A hold opens a window with the reason `hold`, through the same signal queue as a card
number's; a window open for both resumes only when both ended, so a hold's end never resumes over a card
number and a card's end never over a hold. Read back from the delivered recording."""

from __future__ import annotations

from callrec import demo
from callrec.local_api import signed
from callrec.stack import client
from tests.wav_probe import read_wav

AGENT = 1  # the agent's channel (customer left, agent right)


def _recording(centre, call):
    recording = centre.sim.connect.chain(call.contact_id).recording
    bucket, _, key = recording.location.partition("/")
    return recording, read_wav(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _window(api: str, session_id: str, kind: str, reason: str) -> dict:
    answer = signed("POST", f"{api}/recordings/{session_id}/{kind}", {"reason": reason})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_hold_is_silent_in_the_recording_and_ends_the_window_it_opened(api, centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(5.0)
    centre.sim.connect.hold(call.contact_id)
    assert _window(api, call.session_id, "suspend", "hold")["suspended"] is True
    assert centre.session(call.session_id)["recording"]["reason"].startswith("the customer is on hold")
    centre.sim.clock.advance(20.0)  # the agent goes on talking (to a colleague) while the customer waits
    centre.sim.connect.resume_from_hold(call.contact_id)
    assert _window(api, call.session_id, "resume", "hold")["resumed"] is True
    centre.sim.clock.advance(5.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.finish(call.session_id)
    assert centre.verification(call.session_id) is not None
    session = centre.session(call.session_id)
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    assert [w["reasons"] for w in session["windows"]] == [["hold"]]

    recording, wav = _recording(centre, call)
    (held_from, held_to) = centre.sim.connect.chain(call.contact_id).holds[0]
    start = recording.started_at
    assert wav.rms(AGENT, 1.0, 4.0) > 1000  # the agent is heard before the hold ...
    assert wav.peak(AGENT, held_from - start + 0.5, held_to - start - 0.5) == 0  # ... not during it
    assert wav.rms(AGENT, held_to - start + 1.0, held_to - start + 4.0) > 1000  # ... and again after it
    events = [a["event"] for a in sorted(centre.audit(call.session_id), key=lambda a: a["at"])]
    assert events.count("WINDOW_OPENED") == 1 and events.count("WINDOW_CLOSED") == 1


def test_a_hold_during_a_card_number_never_resumes_over_either(api, centre):
    """The card's resume during the hold leaves the recording suspended (told `resumed: false`, with why); the
    hold's end resumes it. Before, every window had one reason: the hold's suspend was refused as "already
    suspended", and the card's resume un-paused the recording while the customer was still on hold."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(3.0)
    assert _window(api, call.session_id, "suspend", "pci")["suspended"] is True
    centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
    centre.sim.connect.hold(call.contact_id)  # the agent checks the payment with a colleague
    assert _window(api, call.session_id, "suspend", "hold")["suspended"] is True
    centre.sim.clock.advance(10.0)
    card_done = _window(api, call.session_id, "resume", "pci")
    assert card_done["resumed"] is False and card_done["windowStaysOpen"] is True
    assert "on hold" in card_done["reason"]
    assert centre.session(call.session_id)["recording"]["state"] == "suspended"
    centre.sim.clock.advance(10.0)
    centre.sim.connect.resume_from_hold(call.contact_id)
    assert _window(api, call.session_id, "resume", "hold")["resumed"] is True
    centre.sim.clock.advance(5.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.finish(call.session_id)
    assert centre.verification(call.session_id) is not None
    session = centre.session(call.session_id)
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    (window,) = session["windows"]
    assert window["reasons"] == ["pci", "hold"] and [e["reason"] for e in window["reasonsEnded"]] == ["pci"]
    assert "suspendedFor" not in session

    recording, wav = _recording(centre, call)
    (held_from, held_to) = centre.sim.connect.chain(call.contact_id).holds[0]
    start = recording.started_at
    assert wav.peak(AGENT, held_from - start, held_to - start - 0.5) == 0  # the whole hold, after the card's end too
    events = [a["event"] for a in sorted(centre.audit(call.session_id), key=lambda a: a["at"])]
    assert events.count("WINDOW_REASON_ADDED") == 1 and events.count("WINDOW_REASON_ENDED") == 1


def test_a_hold_that_is_not_on_is_refused_naming_it(api, centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    answer = signed("POST", f"{api}/recordings/{call.session_id}/resume", {"reason": "hold"})
    assert answer.status_code == 409 and answer.json()["reason"] == "the customer is not on hold"
    assert _window(api, call.session_id, "suspend", "pci")["suspended"] is True
    answer = signed("POST", f"{api}/recordings/{call.session_id}/resume", {"reason": "hold"})
    assert answer.status_code == 409 and answer.json()["reason"] == "the customer is not on hold"
    bad = signed("POST", f"{api}/recordings/{call.session_id}/suspend", {"reason": "lunch"})
    assert bad.status_code == 400 and bad.json()["field"] == "reason" and "lunch" not in bad.text
