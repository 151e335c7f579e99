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
from tests.local_stack import test_fault_matrix as matrix
from tests.local_stack.defined_end import Row, proven, provider_recording

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


def _keep_signalling(session_id: str, kinds: tuple[str, ...], times: int, reason: str, answers: tuple[str, ...]) -> int:
    """Signals every 0.8 s, `kinds` in turn, until the session ends, each answered one of `answers`; how many went
    in."""
    sent = 0
    for i in range(times):
        time.sleep(0.8)
        try:
            outcome = sessions.signal(session_id, kinds[i % len(kinds)], "api", wait_seconds=2.0, reason=reason)
        except sessions.SessionEnded:
            break
        assert outcome["status"] in answers, outcome
        sent += 1
    return sent


REFUSED = ("rejected", "failed")


def _recording_call(centre, provider: str):
    if provider == "connect":
        return centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
    centre.wait_for_status(call.session_id, "RECORDING")
    return call


def _talk(centre, call, seconds: float) -> None:
    if call.contact_id:
        centre.sim.clock.advance(seconds)
    else:
        centre.sim.chime.talk(call.transaction_id, seconds)
        centre.sim.chime.wait_idle(call.transaction_id)


WINDOW_SIGNALS = [  # (what keeps waking the workflow past the window's limit, the fault matrix's row)
    pytest.param(
        lambda session_id: _keep_signalling(session_id, ("suspend",), 6, "pci", REFUSED) >= 1,  # already suspended
        "a signal every 0.8 s past the window limit",
        id="rejected-suspends",
    ),
    pytest.param(
        # a hold joins the window and leaves it again, each applied (or rejected: it came as the deadline was met)
        # and straight back to the park: one with less than a second left is refused, so the limit is met, not
        # slept past while the holds keep waking the workflow
        lambda session_id: _keep_signalling(session_id, ("suspend", "resume"), 8, "hold", ("applied", "rejected")) >= 2,
        "a hold joins and leaves every 0.8 s past the window limit",
        id="applied-holds",
    ),
]


@pytest.mark.parametrize("provider", ["connect", "chime"])
@pytest.mark.parametrize(("keep_waking", "fault"), WINDOW_SIGNALS)
def test_signals_do_not_move_the_window_deadline(limited, record_property, provider, keep_waking, fault):
    call = _recording_call(limited, provider)
    _talk(limited, call, 1.0)  # a word before the payment, recorded
    assert sessions.signal(call.session_id, "suspend", "api", wait_seconds=3.0)["status"] == "applied"
    assert keep_waking(call.session_id)
    limited.finish(call.session_id)
    assert limited.session(call.session_id)["outcomeReason"] == "stopped by max-window-length"
    recording = provider_recording(limited, call)
    (opened, closed), *_ = recording["Silenced"]
    assert closed == recording["StoppedAt"] and closed - opened <= WINDOW_LIMIT + SLACK, (opened, closed)
    matrix._hang_up(limited, call)
    proven(limited, call, Row(provider, "window", fault, "RECORDED", "VERIFIED"), None, record_property)


@pytest.mark.parametrize("provider", ["connect", "chime"])
def test_signals_do_not_move_the_call_deadline(limited, record_property, provider):
    call = _recording_call(limited, provider)
    assert _keep_signalling(call.session_id, ("resume",), 9, "pci", REFUSED) >= 1  # not suspended: each is rejected
    limited.finish(call.session_id)
    assert limited.session(call.session_id)["outcomeReason"] == "stopped by max-call-duration"
    matrix._hang_up(limited, call)
    row = Row(provider, "stop", "a signal every 0.8 s past the call limit", "RECORDED", "VERIFIED")
    proven(limited, call, row, None, record_property)
    recording = provider_recording(limited, call)
    assert recording["StoppedAt"] - recording["StartedAt"] <= CALL_LIMIT + SLACK, recording
