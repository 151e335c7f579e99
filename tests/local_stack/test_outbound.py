"""Chime outbound calls: the SIP media application places the call (CreateSipMediaApplicationCall); the SMA's
Lambda gets NEW_OUTBOUND_CALL and RINGING (what it answers is ignored, as the service does), then CALL_ANSWERED,
where the session starts and the called party is asked for consent. Before, only inbound calls had a session:
an outbound call was never recorded, and nothing said so."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from callrec import demo
from callrec.sim.chime import events


def _place(centre, to_number: str, answers: list) -> tuple[str, str | None]:
    call = centre.chime_outbound_call(to_number, demo.CENTRE_TEXAS, answers)
    return call.transaction_id, call.session_id


def test_an_outbound_call_asks_the_called_party_and_is_recorded(centre):
    transaction, session_id = _place(centre, demo.CALIFORNIA_CALLER, ["1"])  # all-party: opt-in; they accept
    assert session_id is not None
    centre.wait_for_status(session_id, "RECORDING")
    centre.sim.chime.talk(transaction, 10.0)
    centre.sim.chime.hang_up(transaction)
    centre.sim.chime.wait_idle(transaction)
    centre.finish(session_id)
    centre.verification(session_id)
    session = centre.session(session_id)
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    assert session["consent"]["decision"] == "opt-in" and session["consentAnswer"]["answer"] == "accepted"
    leg = centre.sim.chime.legs[transaction]
    assert leg.direction == "Outbound"
    kinds = [i["InvocationEventType"] for i in leg.invocations]
    assert kinds[:3] == ["NEW_OUTBOUND_CALL", "RINGING", "CALL_ANSWERED"]
    placed = events.event(leg, "NEW_OUTBOUND_CALL")["CallDetails"]["Participants"][0]  # as the Developer Guide shows it
    assert placed["Direction"] == "Outbound" and "Status" not in placed


def test_an_outbound_call_the_called_party_declines_is_not_recorded(centre):
    transaction, session_id = _place(centre, demo.CALIFORNIA_CALLER, ["2"])
    session = centre.wait_for_status(session_id, "NOT_RECORDED")
    assert session["consentAnswer"]["answer"] == "declined"
    assert centre.sim.chime.legs[transaction].recording is None


def test_an_outbound_call_needs_its_numbers(centre):
    with pytest.raises(ClientError) as refused:
        centre.sim.chime.call(
            "CreateSipMediaApplicationCall", {"FromPhoneNumber": "5125550100", "SipMediaApplicationId": centre.sma.id}
        )
    assert refused.value.response["Error"]["Code"] == "BadRequestException"
