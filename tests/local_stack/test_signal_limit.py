"""Step Functions fails an execution past 25,000 history events. A call takes at most MaxSignalsPerCall signals
(suspend and resume past it are refused with a clear answer, an end is always taken), and this proves, from a
real run's history, that even MaxValue signals keep the workflow far below the quota."""

from __future__ import annotations

import pytest

from callrec import demo
from callrec.template import Template
from callrec_shared import sessions
from tests.local_stack.defined_end import Row, proven

LIMIT = 10
QUOTA = 25_000


@pytest.fixture
def limited(runtime):
    from callrec.callcentre import LocalCallCentre

    centre = LocalCallCentre(runtime.deploy_template(MaxSignalsPerCall=str(LIMIT)))
    yield centre
    assert centre.sim.chime.errors == []


@pytest.mark.long
def test_a_call_with_2000_signals_ends_defined_and_stays_below_the_history_quota(limited, record_property):
    call = limited.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    for index in range(LIMIT):  # five windows, each confirmed
        kind = "suspend" if index % 2 == 0 else "resume"
        assert sessions.signal(call.session_id, kind, "api", wait_seconds=3.0)["status"] == "applied"
    refused = 0
    for index in range(2_000 - LIMIT - 1):
        with pytest.raises(sessions.SignalLimitReached, match=f"its {LIMIT} signals"):
            sessions.signal(call.session_id, "suspend" if index % 2 == 0 else "resume", "api")
        refused += 1
    answer = limited.contact_flow(call, "suspend")  # the contact flow hears no, and takes its safe branch
    assert answer["suspended"] == "false" and "signals" in answer["reason"]
    limited.sim.connect.hang_up(call.contact_id)
    limited.contact_flow(call, "hangup")  # an end is always taken
    described, history = limited.finish(call.session_id)
    proven(
        limited,
        call,
        Row("connect", "signals", "2,000 signals in one call", "RECORDED", "VERIFIED"),
        None,
        record_property,
    )
    assert described["status"] == "SUCCEEDED" and limited.session(call.session_id)["status"] == "RECORDED"
    assert (
        refused == 1_989 and len(limited.sim.connect.describe(call.contact_id)["Recording"]["Suspended"]) == LIMIT // 2
    )

    quiet = demo.connect_notice(limited)  # the same call with no signal but its end
    _, base = limited.finish(quiet.session_id)
    per_signal = (len(history) - len(base)) / LIMIT
    most = int(Template.load().body["Parameters"]["MaxSignalsPerCall"]["MaxValue"])
    print(
        f"history events: {len(base)} for a call with no signal, {per_signal:.1f} per signal; {most} signals: {most * per_signal + len(base):.0f}"
    )
    assert most * per_signal + len(base) < QUOTA * 0.8, (per_signal, len(base))  # a fifth to spare
