"""Deadlines hold: a window ends by MaxWindowSeconds counted from its confirmed opening, a call by
MaxCallSeconds counted from the recording's start, and no signal moves either (before, every park restarted
the timer, so a stream of even rejected signals kept a card window, or a call, open past its limit).

The stack is deployed with limits of a few seconds (below the template's MinValue, which the local deployer
does not enforce) so that real time can pass them."""

from __future__ import annotations

import time

import pytest

from callrec import demo
from callrec_shared import sessions
from tests.local_stack.defined_end import Row, proven

WINDOW_LIMIT, CALL_LIMIT = 3, 5
SLACK = 1.0  # the workflow acts up to a second early (it never waits past a deadline)


@pytest.fixture
def limited(runtime):
    from callrec.callcentre import LocalCallCentre

    centre = LocalCallCentre(
        runtime.deploy_template(MaxWindowSeconds=str(WINDOW_LIMIT), MaxCallSeconds=str(CALL_LIMIT))
    )
    yield centre
    assert centre.sim.chime.errors == []


def _keep_signalling(session_id: str, kind: str, times: int) -> int:
    """`kind` signals (each one refused by the workflow) every 0.8 s, until the session ends; how many went in."""
    sent = 0
    for _ in range(times):
        time.sleep(0.8)
        try:
            assert sessions.signal(session_id, kind, "api", wait_seconds=2.0)["status"] in ("rejected", "failed")
        except sessions.SessionEnded:
            break
        sent += 1
    return sent


def test_signals_do_not_move_the_window_deadline(limited, record_property):
    call = limited.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    limited.sim.clock.advance(1.0)  # a word before the payment, recorded
    assert sessions.signal(call.session_id, "suspend", "api", wait_seconds=3.0)["status"] == "applied"
    assert _keep_signalling(call.session_id, "suspend", times=6) >= 1  # already suspended: each is rejected
    limited.finish(call.session_id)
    assert limited.session(call.session_id)["outcomeReason"] == "stopped by max-window-length"
    recording = limited.sim.connect.describe(call.contact_id)["Recording"]
    (opened, closed), *_ = recording["Suspended"]
    assert closed == recording["StoppedAt"] and closed - opened <= WINDOW_LIMIT + SLACK, (opened, closed)
    limited.sim.connect.hang_up(call.contact_id)
    limited.contact_flow(call, "hangup")
    row = Row("connect", "window", "a signal every 0.8 s past the window limit", "RECORDED", "VERIFIED")
    proven(limited, call, row, None, record_property)


def test_signals_do_not_move_the_call_deadline(limited, record_property):
    call = limited.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    assert _keep_signalling(call.session_id, "resume", times=9) >= 1  # not suspended: each is rejected
    limited.finish(call.session_id)
    assert limited.session(call.session_id)["outcomeReason"] == "stopped by max-call-duration"
    limited.sim.connect.hang_up(call.contact_id)
    limited.contact_flow(call, "hangup")
    row = Row("connect", "stop", "a signal every 0.8 s past the call limit", "RECORDED", "VERIFIED")
    proven(limited, call, row, None, record_property)
    recording = limited.sim.connect.describe(call.contact_id)["Recording"]
    assert recording["StoppedAt"] - recording["StartedAt"] <= CALL_LIMIT + SLACK, recording
