"""After a Connect transfer, suspend, resume and stop act on the current contact: a payment taken after a
transfer, with the card silent in the recording. (Before, the session kept calling Connect with the original
ContactId: every suspend after a transfer answered suspended=false, Connect.ResourceNotFoundException.)"""

from __future__ import annotations

from callrec import demo


def test_a_payment_after_a_transfer_is_suspended_on_the_current_contact(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(10.0)
    first = call.contact_id
    call.contact_id = centre.sim.connect.transfer(first)  # the transferred contact's flow runs from here
    centre.sim.clock.advance(10.0)
    assert call.contact_id != first
    answer = centre.contact_flow(call, "suspend")
    assert answer["suspended"] == "true", answer
    centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
    centre.sim.clock.advance(2.0)
    assert centre.contact_flow(call, "resume")["resumed"] == "true"
    centre.sim.clock.advance(10.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.finish(call.session_id)
    verdict = centre.verification(call.session_id)
    assert verdict is not None
    session = centre.session(call.session_id)
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    assert len(session["windows"]) == 1
