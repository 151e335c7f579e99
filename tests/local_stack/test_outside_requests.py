"""Only the workflow drives recording. Anyone allowed to call UpdateSipMediaApplicationCall (a payment IVR,
an agent desktop: the deployer guide tells them to, for request-suspend) can send any Arguments, and IAM
cannot restrict them. Each of these was reproduced before the SMA handler checked for the workflow's live
task token: an outside resume-recording un-paused a payment window and the card was recorded; an outside
start-recording after a decline wrote a recording no verification looked at."""

from __future__ import annotations

from callrec import demo
from callrec.stack import client
from tests.eventually import eventually
from tests.local_stack.defined_end import Row, proven
from tests.wav_probe import read_wav


def _update(centre, call, **arguments) -> None:
    centre.sim.chime.call(
        "UpdateSipMediaApplicationCall",
        {"SipMediaApplicationId": centre.sma.id, "TransactionId": call.transaction_id, "Arguments": arguments},
    )
    centre.sim.chime.wait_idle(call.transaction_id)


def _refusals(centre, session_id: str) -> list[dict]:
    return [a for a in centre.audit(session_id) if a["event"] == "OUTSIDE_REQUEST_REFUSED"]


def _eventually(check, timeout: float = 10.0):
    return eventually(check, timeout=timeout)


def test_an_outside_resume_cannot_unpause_a_payment_window(centre, alerts, record_property):
    from callrec_shared import sessions

    captured: list[dict] = []
    function = centre.function("SmaHandler")
    with function.replaced(lambda event, context: captured.append(event) or own(event, context)) as own:
        call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
        centre.wait_for_status(call.session_id, "RECORDING")
        centre.sim.chime.talk(call.transaction_id, 5.0)
        centre.sim.chime.wait_idle(call.transaction_id)
        assert sessions.signal(call.session_id, "suspend", actor="api", wait_seconds=5)["status"] == sessions.APPLIED
        centre.sim.chime.wait_idle(call.transaction_id)
        # the attacker: no token; then the workflow's own (used) suspend token, replayed as a resume
        _update(centre, call, op="resume-recording", sessionId=call.session_id)
        used = next(
            e["ActionData"]["Parameters"]["Arguments"]
            for e in captured
            if e["InvocationEventType"] == "CALL_UPDATE_REQUESTED"
            and e["ActionData"]["Parameters"]["Arguments"].get("op") == "suspend-recording"
        )
        _update(centre, call, **{**used, "op": "resume-recording"})
        _update(centre, call, op="resume-recording", sessionId="someone-else", token=used["token"])
    centre.sim.chime.press(call.transaction_id, demo.CARD_NUMBER)
    centre.sim.chime.wait_idle(call.transaction_id)
    sessions.signal(call.session_id, "resume", actor="api", wait_seconds=5)
    centre.sim.chime.talk(call.transaction_id, 5.0)
    centre.sim.chime.hang_up(call.transaction_id)
    centre.finish(call.session_id)
    centre.sim.delivery.wait()

    leg = centre.sim.chime.describe(call.transaction_id)
    assert [a["Type"] for a in leg["Executed"]].count("ResumeCallRecording") == 1  # the workflow's own, after typing
    refused = _refusals(centre, call.session_id)
    assert [(r["op"], r["reason"]) for r in refused] == [
        ("resume-recording", "it carries no task token"),
        ("resume-recording", "its task token is not one the workflow is waiting on"),
        ("resume-recording", "it does not name this call's session"),
    ]
    assert all(used["token"] not in str(r) for r in refused)
    started = leg["Recording"]["StartedAt"]
    typed = [(a - started, b - started) for a, b in leg["Typed"] if a >= started]
    wav = read_wav(
        client("s3")
        .get_object(
            Bucket=leg["Recording"]["Location"].split("/", 1)[0], Key=leg["Recording"]["Location"].split("/", 1)[1]
        )["Body"]
        .read()
    )
    assert len(typed) == 1 and all(wav.peak(channel, *typed[0]) == 0 for channel in (0, 1)), "the card was recorded"
    row = Row("chime", "window", "outside resume-recording during a payment window", "RECORDED", "VERIFIED")
    proven(centre, call, row, alerts, record_property)


def test_an_outside_start_after_a_decline_records_nothing(centre, alerts, record_property):
    call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["2"])
    session = centre.wait_for_status(call.session_id, "NOT_RECORDED")
    bucket = centre.deployment.physical("RecordingBucket")
    _update(centre, call, op="start-recording", sessionId=call.session_id, location=f"{bucket}/outside")
    centre.sim.chime.talk(call.transaction_id, 5.0)
    centre.sim.chime.hang_up(call.transaction_id)
    centre.sim.delivery.wait()
    leg = centre.sim.chime.describe(call.transaction_id)
    assert "StartCallRecording" not in [a["Type"] for a in leg["Executed"]] and leg["Recording"] is None
    assert client("s3").list_objects_v2(Bucket=bucket, Prefix="outside").get("KeyCount", 0) == 0
    assert session["status"] == "NOT_RECORDED"
    assert [(r["op"], r["actor"]) for r in _eventually(lambda: _refusals(centre, call.session_id))] == [
        ("start-recording", "sma")
    ]
    row = Row("chime", "consent", "outside start-recording after the caller declined", "NOT_RECORDED", None)
    proven(centre, call, row, alerts, record_property)


def test_outside_systems_may_still_ask_for_a_window(centre):
    """request-suspend goes through the signal queue and its rules, as before (no token needed to ask)."""
    call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
    centre.wait_for_status(call.session_id, "RECORDING")
    _update(centre, call, op="request-suspend", idempotencyKey="ivr-1")
    _eventually(lambda: (centre.session(call.session_id) or {}).get("suspended"))
    assert _refusals(centre, call.session_id) == []
    centre.sim.chime.hang_up(call.transaction_id)
    centre.finish(call.session_id)
