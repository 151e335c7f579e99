"""A defined end without storage: DynamoDB throttled for five minutes of scaled time, beginning at each write
the RecordingSession workflow makes in a payment call, on both providers. Whatever write fails, the call ends
in a defined, audited state once the store is back: the session FAILED with why, SESSION_STORE_FAILED in
the audit, the provider brought to a safe state (recording stopped by the workflow, never left suspended or
recording for the rest of the call), every signal answered, and no recording in the bucket without a
verdict."""

from __future__ import annotations

from datetime import datetime

import pytest

from callrec_shared import clock, sessions
from tests.local_stack import test_fault_matrix as matrix
from tests.local_stack.store_outage import store_outage

WRITES = 14  # the workflow's DynamoDB writes in a payment call (consent, start, window, resume, end)


def _recording_stopped_by(centre, call, moment: datetime) -> bool:
    """Was the provider's recording (if any) stopped, by the workflow or with the call, by `moment`?"""
    if call.contact_id:
        recording = centre.sim.connect.describe(call.contact_id)["Recording"]
    else:
        recording = centre.sim.chime.describe(call.transaction_id)["Recording"]
    if recording is None:
        return True
    return recording["StoppedAt"] is not None and centre.sim.clock.at(recording["StoppedAt"]) <= moment


@pytest.mark.parametrize("provider", ["connect", "chime"])
@pytest.mark.parametrize("write", range(WRITES))
def test_a_store_outage_at_any_write_ends_the_call_defined(centre, provider, write):
    play = matrix.RECORDED_CONNECT if provider == "connect" else matrix.RECORDED_CHIME
    with store_outage(after_writes=write) as outage:
        call = play(centre)
        described, _ = centre.finish(call.session_id)
    assert outage.began is not None, f"the call made only {len(outage.writes)} writes"
    failed_write = f"write {write + 1} ({outage.writes[-1]})"
    session = centre.session(call.session_id)
    assert session["status"] == "FAILED", failed_write
    assert session["outcomeReason"].startswith("the session store failed"), failed_write
    saved = [a for a in centre.audit(call.session_id) if a.get("status") and a["actor"] == "RecordingSession"][-1]
    assert saved["event"] == "SESSION_STORE_FAILED", failed_write  # the workflow's last word
    assert described["status"] == "FAILED" and described["error"] == "SessionStoreFailed"
    # the provider is safe: the recording stopped (a failed store cannot follow windows or signals any more)
    moment = clock.parse(saved["at"].split("#", 1)[0])
    assert _recording_stopped_by(centre, call, moment), (failed_write, session["providerAction"])
    # every signal answered, none left queued or half-applied
    assert [s["kind"] for s in centre.signals(call.session_id) if s["status"] in sessions.PENDING] == [], failed_write
    # no recording without a verdict: what landed is verified
    centre.sim.delivery.wait()
    centre.verification(call.session_id)
    assert centre.recordings_without_verdict() == [], failed_write
