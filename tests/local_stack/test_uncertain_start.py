"""Uncertain means verified: whenever the provider may have started recording, the session says so and
VerifyRecording still runs and gives a verdict. No object in the recording bucket is without a session verdict.

(Before: a HANGUP delivered where ACTION_SUCCESSFUL(StartCallRecording) was due left the session NOT_RECORDED
"ended before recording started" while a recording landed that no verification ever looked at.)"""

from __future__ import annotations

from callrec.demo import CALIFORNIA_CALLER, CENTRE_TEXAS
from callrec.sim import Fault
from tests.local_stack.defined_end import Row, proven

# A recording this short holds no part surely outside the start's uncertain window (verification's guards): it cannot
# be judged. One this long always can.
UNJUDGEABLE_SECONDS, JUDGEABLE_SECONDS = 0.25, 2.0


def test_a_hang_up_racing_the_start_still_gets_the_recording_verified(centre, alerts, record_property):
    centre.sim.faults.inject(Fault("chimesdkvoice", "StartCallRecording", "HangUpBeforeSuccess"))
    call = centre.chime_call(CALIFORNIA_CALLER, CENTRE_TEXAS, answers=["1"])
    centre.finish(call.session_id)
    centre.sim.delivery.wait()
    assert centre.sim.chime.describe(call.transaction_id)["Recording"] is not None  # the provider did record
    session = centre.session(call.session_id)
    assert "may have" in session["outcomeReason"], session["outcomeReason"]
    # The caller left as recording began. How much audio that left depends on how fast the stack got to the
    # hang-up (the call's clock follows wall time): usually too little to judge, so unverified (and an alert),
    # never passed; on a starved machine enough to judge, so verified. Either way a verdict, from the recording.
    recording = centre.sim.chime.describe(call.transaction_id)["Recording"]
    recorded = recording["StoppedAt"] - recording["StartedAt"]
    verified = centre.verification(call.session_id)
    verdict = centre.session(call.session_id)["verification"] if verified else None
    if recorded < UNJUDGEABLE_SECONDS:
        expected = "UNVERIFIED"
    elif recorded > JUDGEABLE_SECONDS:
        expected = "VERIFIED"
    else:  # between the two the verdict may go either way, but it is one of them (never failed, never missing)
        expected = verdict if verdict in ("UNVERIFIED", "VERIFIED") else "UNVERIFIED or VERIFIED"
    row = Row("chime", "start", "HANGUP where StartCallRecording's success was due", "RECORDED", expected)
    proven(centre, call, row, alerts, record_property)
