"""Uncertain means verified: whenever the provider may have started recording, the session says so and
VerifyRecording still runs and gives a verdict. No object in the recording bucket is without a session verdict.

(Before: a HANGUP delivered where ACTION_SUCCESSFUL(StartCallRecording) was due left the session NOT_RECORDED
"ended before recording started" while a recording landed that no verification ever looked at.)"""

from __future__ import annotations

from callrec.demo import CALIFORNIA_CALLER, CENTRE_TEXAS
from callrec.sim import Fault
from tests.local_stack.defined_end import Row, proven, uncertain_start_verdict


def test_a_hang_up_racing_the_start_still_gets_the_recording_verified(centre, alerts, record_property):
    centre.sim.faults.inject(Fault("chimesdkvoice", "StartCallRecording", "HangUpBeforeSuccess"))
    call = centre.chime_call(CALIFORNIA_CALLER, CENTRE_TEXAS, answers=["1"])
    centre.finish(call.session_id)
    centre.sim.delivery.wait()
    assert centre.sim.chime.describe(call.transaction_id)["Recording"] is not None  # the provider did record
    session = centre.session(call.session_id)
    assert "may have" in session["outcomeReason"], session["outcomeReason"]
    # The caller left as recording began: a verdict, from the recording, whichever it can be
    expected = uncertain_start_verdict(centre, call)
    row = Row("chime", "start", "HANGUP where StartCallRecording's success was due", "RECORDED", expected)
    proven(centre, call, row, alerts, record_property)
