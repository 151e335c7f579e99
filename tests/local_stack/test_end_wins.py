"""An end wins: a stop requested at any moment before recording starts means recording never starts, on both
providers. (Before, on Chime, a stop sent while the opt-in prompt waited was answered 202, then the caller
pressed 1, StartCallRecording ran, then StopCallRecording: the session ended RECORDED with a short recording.)"""

from __future__ import annotations

import pytest

from callrec.demo import CALIFORNIA_CALLER, CENTRE_TEXAS, TEXAS_CALLER
from callrec.history import states_entered
from callrec_shared import sessions
from tests.eventually import eventually
from tests.local_stack.defined_end import Row, proven
from tests.statemachines.test_recording_session import HANDED_OVER

# The stop wakes the waiting workflow, which may apply it before `signal` reads its status back: either is fine,
# as long as it is not refused.
ANSWERED_OR_NOT_YET = (*sessions.PENDING, sessions.APPLIED)


def test_a_stop_while_the_opt_in_prompt_waits_means_no_recording_on_chime(centre, alerts, record_property):
    call = centre.chime_call(CALIFORNIA_CALLER, CENTRE_TEXAS, answers=[])  # the prompt waits for the caller
    eventually(lambda: centre.sim.chime.describe(call.transaction_id)["Waiting"], what="the opt-in prompt waiting")
    assert sessions.signal(call.session_id, "stop", "api")["status"] in ANSWERED_OR_NOT_YET
    centre.sim.chime.press(call.transaction_id, "1")  # the caller accepts after the stop was asked for
    described, events = centre.finish(call.session_id)
    entered = states_entered(events)
    assert "Start Call Recording" not in entered, entered
    assert centre.session(call.session_id)["status"] == "NOT_RECORDED"
    executed = [a["Type"] for a in centre.sim.chime.describe(call.transaction_id)["Executed"]]
    assert "StartCallRecording" not in executed and centre.sim.chime.describe(call.transaction_id)["Recording"] is None
    centre.sim.chime.hang_up(call.transaction_id)
    row = Row("chime", "consent", "stop requested while the opt-in prompt waits", "NOT_RECORDED", None)
    proven(centre, call, row, alerts, record_property)


def test_a_stop_while_the_contact_flow_plays_the_notice_means_no_recording_on_connect(centre, alerts, record_property):
    call = centre.connect_call(CALIFORNIA_CALLER, CENTRE_TEXAS)
    centre.sim.connect.agent_joins(call.contact_id)
    call.session_id = centre.contact_flow(call, "start")["sessionId"]
    assert sessions.signal(call.session_id, "stop", "api")["status"] in ANSWERED_OR_NOT_YET
    centre.contact_flow(call, "consent", answer="accepted")  # the flow reports the answer after the stop
    described, events = centre.finish(call.session_id)
    assert "Start Contact Recording" not in states_entered(events)
    assert centre.session(call.session_id)["status"] == "NOT_RECORDED"
    assert centre.sim.connect.describe(call.contact_id)["Recording"] is None
    row = Row("connect", "consent", "stop requested while the flow plays the notice", "NOT_RECORDED", None)
    proven(centre, call, row, alerts, record_property)


def test_nothing_queues_behind_an_end_so_a_hung_up_call_ends_at_once(centre):
    """Once a call's end is queued, every later signal is refused where it arrives (audited), so a hang-up
    ends the workflow with nothing left to answer: it saves the outcome and hands over, reading no queue."""
    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    first = sessions.request(call.session_id, "hangup", "contact-flow", key="end-1")
    for kind, key in (("suspend", "card-1"), ("stop", None), ("hangup", None)):
        with pytest.raises(sessions.SessionEnded):  # behind the end, or after the session closed: never queued
            sessions.request(call.session_id, kind, "api", key=key)
    described, events = centre.finish(call.session_id)
    entered = states_entered(events)
    assert entered[-4:] == ["Take Signal", "Signal Kind?", "Save Call Ended", HANDED_OVER], entered
    assert "Drain Signals" not in entered and "Next Signal" not in entered[entered.index("Take Signal") :]
    assert [(s["seq"], s["status"]) for s in centre.signals(call.session_id)] == [(first["seq"], "applied")]
    trail = centre.audit(call.session_id)
    assert [a["signal"] for a in trail if a["event"] == "SIGNAL_REJECTED"] == ["suspend", "stop", "hangup"]
    ended = [a["event"] for a in trail if a["event"] in ("END_SIGNAL_APPLIED", "CALL_ENDED")]
    assert ended == ["END_SIGNAL_APPLIED", "CALL_ENDED"]
    assert centre.session(call.session_id)["status"] == "RECORDED"
