"""A refusal is final. Reproduced before: with Connect answering a suspension in 5 s against the 3 s
deadline, the caller heard suspended=false (and did not give the card), but the suspension took effect
later anyway and was never resumed; the workflow then stopped recording for the rest of the call at the
window limit, and nobody was told. Now a signal still queued at the deadline is withdrawn (never applied),
and one the workflow was already applying gets its undoing queued behind it, audited."""

from __future__ import annotations

import threading
import time

from callrec import demo
from callrec_shared import sessions
from tests.eventually import eventually
from tests.local_stack.conftest import slow_connect
from tests.local_stack.defined_end import Row, audit_events, proven

SLOW_SECONDS = 5.0


def _settle(centre, session_id: str, timeout: float = 30.0) -> list[dict]:
    return eventually(
        lambda: centre.signals(session_id),
        lambda signals: not any(s["status"] in sessions.PENDING for s in signals),
        timeout,
        "every signal answered",
    )


def test_a_late_confirmation_after_the_caller_was_told_no_is_reverted(centre, alerts, record_property):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    with slow_connect(centre, "SuspendContactRecording", SLOW_SECONDS):
        answer = sessions.signal(call.session_id, "suspend", actor="contact-flow", key="pay-late", wait_seconds=3.0)
        assert answer["status"] == sessions.REFUSED and "undoes it" in answer["reason"]  # told no: suspended=false
        signals = _settle(centre, call.session_id)
    assert [(s["kind"], s["status"], s["by"]) for s in signals] == [
        ("suspend", "applied", "contact-flow"),
        ("resume", "applied", "deadline"),
    ]
    # a second click with the same key, after the provider confirmed: still no (found by the 200-call load run:
    # it was told yes, the card was typed, and the undo resumed recording over it)
    again = sessions.signal(call.session_id, "suspend", actor="contact-flow", key="pay-late", wait_seconds=1.0)
    assert (again["status"], again["duplicate"]) == (sessions.REFUSED, True)
    session = centre.session(call.session_id)
    assert session["suspended"] is False and len(session["windows"]) == 1
    assert session["windows"][0]["resumedBy"] == "deadline"
    assert "LATE_CONFIRMATION_REVERTED" in audit_events(centre, call.session_id)
    suspended = centre.sim.connect.describe(call.contact_id)["Recording"]["Suspended"]
    assert len(suspended) == 1 and suspended[0][1] is not None  # the provider's window was closed again
    centre.sim.clock.advance(10.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    row = Row("connect", "window", "suspend confirmed after the caller was told no", "RECORDED", "VERIFIED")
    proven(centre, call, row, alerts, record_property)


def test_a_signal_still_queued_at_its_deadline_is_withdrawn_and_never_applied(centre, alerts, record_property):
    """A resume queued behind a slow suspend misses its own deadline while still queued: withdrawn."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    answers: dict[str, dict] = {}
    with slow_connect(centre, "SuspendContactRecording", SLOW_SECONDS):
        first = threading.Thread(
            target=lambda: answers.update(
                suspend=sessions.signal(call.session_id, "suspend", actor="api", key="s-1", wait_seconds=3.0)
            )
        )
        first.start()
        time.sleep(0.5)  # the workflow has taken the suspend and waits on the provider
        answers["resume"] = sessions.signal(call.session_id, "resume", actor="api", key="r-1", wait_seconds=1.0)
        first.join()
        signals = _settle(centre, call.session_id)
    assert answers["resume"]["status"] == sessions.WITHDRAWN
    by_seq = {s["seq"]: s for s in signals}
    assert by_seq[answers["resume"]["seq"]]["status"] == "withdrawn"  # passed over by the workflow, not applied
    assert "SIGNAL_WITHDRAWN" in audit_events(centre, call.session_id)
    again = sessions.signal(call.session_id, "resume", actor="api", key="r-1", wait_seconds=1.0)
    assert (again["status"], again["duplicate"]) == ("withdrawn", True)  # a repeat gets the same answer
    session = centre.session(call.session_id)
    assert session["suspended"] is False  # the suspend's own caller was told no too: it was undone
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    row = Row("connect", "window", "resume still queued at its deadline", "RECORDED", "VERIFIED")
    proven(centre, call, row, alerts, record_property)


def test_a_resume_that_misses_its_deadline_says_the_window_stays_open_and_it_does(centre, alerts, record_property):
    """The contact flow hears resumed=false and why: the recording stays paused (the window open) until a resume
    is confirmed or the window limit ends it; the session's live state agrees."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    assert centre.contact_flow(call, "suspend")["suspended"] == "true"
    with slow_connect(centre, "ResumeContactRecording", SLOW_SECONDS):
        answer = centre.contact_flow(call, "resume")
        _settle(centre, call.session_id)
    assert answer["resumed"] == "false" and "the window stays open" in answer["reason"]
    assert centre.session(call.session_id)["recordingState"]["state"] == "SUSPENDED"  # what the caller was told holds
    assert centre.contact_flow(call, "resume")["resumed"] == "true"  # a resume confirmed in time closes it
    centre.sim.clock.advance(10.0)  # the conversation goes on, recorded
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    row = Row("connect", "window", "resume confirmed after its deadline", "RECORDED", "VERIFIED")
    proven(centre, call, row, alerts, record_property)
