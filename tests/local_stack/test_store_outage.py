"""A defined end without storage: DynamoDB throttled for five minutes of scaled time, beginning at each write
the RecordingSession workflow makes in a payment call (named by its state, and which time the workflow
writes from it), on both providers. Whatever write fails, the call ends
in a defined, audited state once the store is back: the session FAILED with why, SESSION_STORE_FAILED in
the audit, the provider brought to a safe state (recording stopped by the workflow, never left suspended or
recording for the rest of the call), every signal answered, and no recording in the bucket without a
verdict."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from callrec import demo
from callrec.sim import Fault
from callrec_shared import clock
from tests.eventually import eventually
from tests.local_stack import test_fault_matrix as matrix
from tests.local_stack.defined_end import Row, proven, provider_recording, uncertain_start_verdict
from tests.local_stack.store_outage import store_outage

# the workflow's DynamoDB writes in a payment call, in order: (state, which time it writes from that state).
# Opening the session keeps the consent decision too; the consent wait writes its token (both providers: the contact
# flow or the SMA reports the answer). The payment's three signals: suspend, resume, hang-up (its
# answer and the outcome saved in one write).
WRITES = [
    ("Open Session Record", 1),
    ("Await Consent Answer", 1),
    ("Save Consent Answer", 1),
    ("Save Recording Started", 1),
    ("Wait For Signal", 1),
    ("Take Signal", 1),
    ("Window Opened", 1),
    ("Take Signal", 2),
    ("Window Closed", 1),
    ("Take Signal", 3),
    ("Save Call Ended", 1),
]
PARK = "Wait For Signal"  # whether the workflow parks before a signal depends on who is first: made certain below


def _play(provider: str, outage):
    """A payment call (consent, a window, the hang-up); when the outage begins at the park, the payment waits
    until the workflow has tried to park."""

    def window(centre, call):
        if outage.at_state == PARK:
            eventually(lambda: outage.began, timeout=30, what="the workflow parking")
        (matrix._connect_window if call.contact_id else matrix._chime_window)(resume=True)(centre, call)

    return matrix._connect(matrix._heard_then(window)) if provider == "connect" else matrix._chime(["1"], window)


def _expected_verdict(centre, call, session: dict) -> str | None:
    """What verification must find, from the provider's own record: nothing to verify if it never recorded; the
    last window's silence unverified if the provider resumed it but the store failed before the session heard
    (the session shows the window open, so where it ended is unknown); else the recording verified."""
    recording = provider_recording(centre, call)
    if recording is None:
        return None
    silenced = recording["Silenced"]
    windows = session.get("windows") or []
    resumed = bool(silenced) and silenced[-1][1] is not None and silenced[-1][1] < recording["StoppedAt"]
    unsaved = bool(windows) and "resumeConfirmedAt" not in windows[-1]
    return "UNVERIFIED" if resumed and unsaved else "VERIFIED"


def _recording_stopped_by(centre, call, moment: datetime) -> bool:
    """Was the provider's recording (if any) stopped, by the workflow or with the call, by `moment`? `moment` is an
    audit record's time, which Step Functions keeps to the millisecond (truncated): a stop within that same
    millisecond is by it."""
    recording = provider_recording(centre, call)
    return recording is None or (
        recording["StoppedAt"] is not None
        and centre.sim.clock.at(recording["StoppedAt"]) < moment + timedelta(milliseconds=1)
    )


@pytest.mark.parametrize("provider", ["connect", "chime"])
@pytest.mark.parametrize("state, occurrence", WRITES, ids=[f"{state}-{n}" for state, n in WRITES])
def test_a_store_outage_at_any_write_ends_the_call_defined(
    centre, alerts, record_property, provider, state, occurrence
):
    with store_outage(state, occurrence) as outage:
        call = _play(provider, outage)(centre)
        described, _ = centre.finish(call.session_id)
    assert outage.began is not None, f"the workflow wrote only from {outage.writes}"
    listed = {name for name, _ in WRITES}
    assert set(outage.writes) <= listed, f"a write this test does not cover: {set(outage.writes) - listed}"
    fault = f"DynamoDB throttled 5 min from the write at {state}" + (f" (its #{occurrence})" if occurrence > 1 else "")
    verdict = _expected_verdict(centre, call, centre.session(call.session_id))
    row = Row(provider, "store", fault, "FAILED", verdict, reason="the session store failed")
    session = proven(centre, call, row, alerts, record_property)
    assert described["error"] == "SessionStoreFailed"  # the execution fails: the workflow's alarm fires
    # what GET /recordings/{id} says of the recording is what the provider did
    recorded = provider_recording(centre, call) is not None
    state = session["recordingState"]
    assert (state["state"], state["reason"]) == ("STOPPED" if recorded else "OFF", "store-failure"), state
    workflow = [a for a in centre.audit(call.session_id) if a.get("status") and a["actor"] == "RecordingSession"]
    assert workflow[-1]["event"] == "SESSION_STORE_FAILED", fault  # the workflow's last word
    # the provider is safe: the recording stopped (a failed store cannot follow windows or signals any more)
    saved = clock.parse(workflow[-1]["at"].split("#", 1)[0])
    assert _recording_stopped_by(centre, call, saved), (fault, session["providerAction"])


def test_an_uncertain_start_whose_save_fails_is_still_verified(centre, alerts, record_property):
    """The caller hangs up where StartCallRecording's success was due (the provider may have recorded), and the
    store fails as the workflow saves that. The failure's own save keeps it, so the recording is looked for and
    gets its verdict (before: FAILED with no verification, and a recording in the bucket nobody answered for)."""
    centre.sim.faults.inject(Fault("chimesdkvoice", "StartCallRecording", "HangUpBeforeSuccess"))
    with store_outage("Save Uncertain Start") as outage:
        call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
        centre.finish(call.session_id)
    assert outage.began is not None, f"the workflow wrote only from {outage.writes}"
    assert provider_recording(centre, call) is not None  # the provider did record
    # the caller left as recording began: usually too little audio to judge (unverified, and an alert), never passed
    expected = uncertain_start_verdict(centre, call)
    row = Row("chime", "store", "DynamoDB throttled 5 min from the save of an uncertain start", "FAILED", expected)
    session = proven(centre, call, row, alerts, record_property)
    assert session["recordingUncertain"] is True and session["recordingState"]["state"] == "STOPPED"


def test_the_contact_flow_hears_no_while_the_store_is_down(centre, alerts, record_property):
    """A suspend asked while DynamoDB throttles every request: the flow hears suspended=false with why, as a
    plain answer (before: the Lambda raised, and the flow took its error branch), so no card is taken. Nothing
    was queued, so nothing takes effect later; once the store is back the call goes on and is recorded."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(5.0)
    with store_outage(None) as outage:
        answer = centre.contact_flow(call, "suspend")
    assert outage.refused and answer["suspended"] == "false" and "session store" in answer["reason"], answer
    centre.sim.clock.advance(5.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    row = Row("connect", "window", "suspend asked while DynamoDB throttles", "RECORDED", "VERIFIED")
    session = proven(centre, call, row, alerts, record_property)
    assert "windows" not in session or session["windows"] == []


@pytest.mark.parametrize("state", ["Join Window", "Leave Window"])
def test_a_store_outage_as_a_hold_joins_or_leaves_a_card_window_ends_the_call_defined(
    centre, alerts, record_property, state
):
    """The two writes a hold adds: the hold joining the open card window, and the card's end leaving the window to
    the hold. The store fails at either; the call still ends defined, with the recording stopped, never resumed."""
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.clock.advance(3.0)
    with store_outage(state) as outage:
        assert centre.contact_flow(call, "suspend")["suspended"] == "true"
        centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
        centre.sim.connect.hold(call.contact_id)  # the agent event stream asks for the hold's window
        if state == "Leave Window":
            eventually(lambda: centre.session(call.session_id).get("suspendedFor"), lambda r: r == ["hold", "pci"])
            centre.contact_flow(call, "resume")  # the card's end, while the customer is on hold
        eventually(lambda: outage.began, timeout=30, what=f"the write at {state}")
        centre.sim.connect.resume_from_hold(call.contact_id)
        centre.sim.clock.advance(3.0)
        centre.sim.connect.hang_up(call.contact_id)
        centre.contact_flow(call, "hangup")
        described, _ = centre.finish(call.session_id)
    verdict = _expected_verdict(centre, call, centre.session(call.session_id))
    fault = f"DynamoDB throttled 5 min from the write at {state} (a hold in a card window)"
    row = Row("connect", "store", fault, "FAILED", verdict, reason="the session store failed")
    session = proven(centre, call, row, alerts, record_property)
    assert described["error"] == "SessionStoreFailed" and session["recordingState"]["state"] == "STOPPED"
    recording = provider_recording(centre, call)
    assert (
        recording["Silenced"][-1][1] is None or recording["Silenced"][-1][1] >= recording["StoppedAt"]
    )  # never resumed
