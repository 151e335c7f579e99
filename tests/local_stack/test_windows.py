"""Sensitive-input windows through the whole local stack, proven from the recordings themselves:
every span in which the simulated caller typed card digits is silent; a refused suspension never lets
them be typed while recording; and the digits reach no history, log, audit, session or signal record."""

from __future__ import annotations

import json
import logging

import pytest

from callrec import demo, engine
from callrec.history import fetch_history
from callrec.stack import client
from tests.eventually import eventually
from tests.wav_probe import read_wav

CARD = demo.CARD_NUMBER


def _wav(centre, session):
    bucket, _, key = session["recordingLocation"].partition("/")
    return read_wav(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _connect_typed_spans(centre, call):
    chain = centre.sim.connect.describe(call.contact_id)
    started = chain["Recording"]["StartedAt"]
    return [(e["at"] - started, e["until"] - started) for e in chain["Log"] if e["event"] == "CustomerTyped"], chain


def test_connect_payment_digits_fall_in_a_silent_span(centre):
    call = demo.connect_payment(centre)
    centre.finish(call.session_id)
    spans, chain = _connect_typed_spans(centre, call)
    assert len(spans) == 1, "the customer typed the card number once"
    wav = read_wav(
        client("s3")
        .get_object(
            Bucket=chain["Recording"]["Location"].split("/", 1)[0], Key=chain["Recording"]["Location"].split("/", 1)[1]
        )["Body"]
        .read()
    )
    start, end = spans[0]
    for channel in (0, 1):
        assert wav.peak(channel, start, end) == 0, "card digits were recorded"
    window_start, window_end = [t - chain["Recording"]["StartedAt"] for t in chain["Recording"]["Suspended"][0]]
    assert window_start <= start and end <= window_end  # the window the provider applied covers the typing
    assert wav.rms(0, 1.0, window_start - 0.5) > 500 and wav.rms(0, window_end + 0.5, wav.seconds - 0.5) > 500
    session = centre.session(call.session_id)
    assert (
        session["windows"][0]["suspendedBy"] == "contact-flow" and session["windows"][0]["resumedBy"] == "contact-flow"
    )


def test_chime_payment_digits_fall_in_a_silent_span(centre):
    call = demo.chime_payment(centre)
    centre.finish(call.session_id)
    centre.sim.delivery.wait()
    leg = centre.sim.chime.describe(call.transaction_id)
    started = leg["Recording"]["StartedAt"]
    payment = [(a - started, b - started) for a, b in leg["Typed"] if a >= started]  # after the consent answer
    assert len(payment) == 1
    wav = _wav(centre, centre.session(call.session_id))
    start, end = payment[0]
    for channel in (0, 1):
        assert wav.peak(channel, start, end) == 0, "card digits were recorded"
    pause, resume = [t - started for t in leg["Recording"]["Paused"][0]]
    assert pause <= start and end <= resume


def test_a_refused_suspension_never_lets_the_digits_be_typed_while_recording(centre):
    call = demo.connect_suspend_refused(centre)
    described, _ = centre.finish(call.session_id)
    flow = [a for a in call.entry_point_answers if a["operation"] == "suspend"][0]
    assert flow["suspended"] == "false" and "Connect.InternalServiceException" in flow["reason"]
    spans, chain = _connect_typed_spans(centre, call)
    assert spans == [] and chain["Recording"]["Suspended"] == []
    assert [s["status"] for s in centre.signals(call.session_id)] == ["failed", "applied"]
    assert described["status"] == "SUCCEEDED"


def test_window_rules_are_enforced_and_audited(centre):
    from callrec_shared import sessions

    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    deadline = 3.0
    resume_first = sessions.signal(call.session_id, "resume", "api", wait_seconds=deadline)
    assert (resume_first["status"], resume_first["reason"]) == ("rejected", "recording is not suspended")
    assert sessions.signal(call.session_id, "suspend", "api", key="k-1", wait_seconds=deadline)["status"] == "applied"
    repeat = sessions.signal(call.session_id, "suspend", "api", key="k-1", wait_seconds=deadline)
    assert repeat["duplicate"] and repeat["status"] == "applied" and repeat["seq"] == 2  # a no-op, same answer
    again = sessions.signal(call.session_id, "suspend", "api", key="k-2", wait_seconds=deadline)
    assert (again["status"], again["reason"]) == ("rejected", "recording is already suspended")
    with pytest.raises(sessions.SignalConflict):
        sessions.signal(call.session_id, "resume", "api", key="k-1")
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")  # inside the window
    centre.finish(call.session_id)
    session = centre.session(call.session_id)
    assert session["outcomeReason"] == "the call ended inside a suspended window; the recording ended silenced"
    with pytest.raises(sessions.SessionEnded):
        sessions.signal(call.session_id, "resume", "api")
    events = [a["event"] for a in centre.audit(call.session_id)]
    assert events.count("SIGNAL_REJECTED") == 3  # two refused by the workflow, one after the end
    assert events.count("SIGNAL_RECEIVED") == 4  # the repeat with k-1 was not queued again


def test_a_window_longer_than_the_limit_stops_the_recording(centre):
    from callrec_shared import sessions

    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    engine.settings.timeout_scale = 0.01  # the 300 s window limit passes in 3 s
    assert sessions.signal(call.session_id, "suspend", "api", wait_seconds=3.0)["status"] == "applied"
    # nobody resumes: the limit passes and the workflow stops recording
    described, _ = centre.finish(call.session_id)
    assert centre.session(call.session_id)["outcomeReason"] == "stopped by max-window-length"
    recording = centre.sim.connect.describe(call.contact_id)["Recording"]
    assert recording["StoppedAt"] is not None and recording["Suspended"][0][1] == recording["StoppedAt"]


def _scan(text: str) -> list[str]:
    return [needle for needle in (CARD, CARD[:8], CARD[-8:]) if needle in text]


def test_card_digits_reach_no_history_log_audit_or_record(centre, caplog, monkeypatch):
    import io
    import sys

    from callrec import stack

    caplog.set_level(logging.DEBUG)
    function_logs = io.StringIO()

    def logging_to_us(handler):
        module = sys.modules[handler.__module__]
        if hasattr(module, "logger"):
            module.logger.setLevel("DEBUG")
            # not setStream, which flushes the stream the handler had: the one sys.stdout was when the module was
            # imported, which may be an earlier test's capsys, closed since (failed under pytest-xdist, by test order)
            module.logger.registered_handler.stream = function_logs
        return handler

    # every function logs at DEBUG, into our buffer: its first execution environment, and any other one a
    # concurrent invocation makes (each has its own module, and so its own logger)
    load = stack.load_handler
    monkeypatch.setattr(stack, "load_handler", lambda *args, **kwargs: logging_to_us(load(*args, **kwargs)))
    for function in engine.settings.functions.values():
        logging_to_us(function.handler)
    calls = [demo.connect_payment(centre), demo.chime_payment(centre)]
    sfn = client("stepfunctions")
    dynamodb = client("dynamodb")
    found: dict[str, list[str]] = {}
    for call in calls:
        centre.finish(call.session_id)
        found[f"history {call.provider}"] = _scan(
            json.dumps(fetch_history(sfn, centre.execution_arn(call.session_id)), default=str)
        )
    for table in ("SessionsTable", "AuditTable", "SignalsTable"):
        found[table] = _scan(json.dumps(dynamodb.scan(TableName=centre.deployment.physical(table))["Items"]))
    found["function logs"] = _scan(function_logs.getvalue())
    found["python logging"] = _scan(caplog.text)
    found["twin records"] = _scan(
        json.dumps(
            [centre.sim.connect.describe(calls[0].contact_id), centre.sim.chime.describe(calls[1].transaction_id)]
        )
    )
    assert {where: hits for where, hits in found.items() if hits} == {}
    assert '"level":"INFO"' in function_logs.getvalue() and "moto" in caplog.text  # the logs were really read


def test_the_sma_trigger_opens_a_window_through_the_sma(centre):
    """An outside system asks the SMA (UpdateSipMediaApplicationCall op=request-suspend); the SMA handler
    queues the signal, the workflow pauses recording back through the SMA, the window is kept."""

    call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=["1"])
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.sim.chime.call(
        "UpdateSipMediaApplicationCall",
        {
            "SipMediaApplicationId": centre.sma.id,
            "TransactionId": call.transaction_id,
            "Arguments": {"op": "request-suspend", "idempotencyKey": "ivr-pay-1"},
        },
    )
    eventually(
        lambda: (centre.session(call.session_id) or {}).get("suspended"), what="the SMA's request to open a window"
    )
    executed = [a["Type"] for a in centre.sim.chime.describe(call.transaction_id)["Executed"]]
    assert executed[-1] == "PauseCallRecording"
    assert centre.session(call.session_id)["windows"][0]["suspendedBy"] == "sma"
    centre.sim.chime.hang_up(call.transaction_id)
    centre.finish(call.session_id)


def test_the_session_says_whether_the_call_is_being_recorded_right_now(centre, api):
    """Connect has no API that says so, nor an event: GET /recordings/{id} tells it (`recordingState`: OFF, ON,
    SUSPENDED, STOPPED, why and since when), from what the provider confirmed to the workflow."""
    from tests.local_stack.conftest import signed

    def state():
        return signed("GET", f"{api}/recordings/{call.session_id}").json()["recordingState"]

    def flow_asks():  # the contact flow asks too (operation=state): the same answer, as a flat string map
        answer = centre.contact_flow(call, "state")
        assert set(answer) <= {"sessionId", "recordingState", "since", "reason"} and all(
            isinstance(v, str) for v in answer.values()
        )
        return answer

    call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.connect.agent_joins(call.contact_id)
    call.session_id = centre.contact_flow(call, "start")["sessionId"]
    assert state() == {"state": "OFF", "reason": "consent"}  # the notice is not heard yet
    centre.contact_flow(call, "consent", answer="heard")
    centre.wait_for_status(call.session_id, "RECORDING")
    on = state()
    assert (on["state"], on["reason"]) == ("ON", "consent") and on["since"] and flow_asks()["recordingState"] == "ON"
    assert centre.contact_flow(call, "suspend")["suspended"] == "true"
    suspended = state()
    assert (suspended["state"], suspended["reason"], suspended["by"]) == ("SUSPENDED", "pci", "contact-flow")
    assert flow_asks() == {
        "sessionId": call.session_id,
        "recordingState": "SUSPENDED",
        "since": suspended["since"],
        "reason": "pci",
    }
    assert centre.contact_flow(call, "resume")["resumed"] == "true"
    assert state()["state"] == "ON" == flow_asks()["recordingState"]
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.finish(call.session_id)
    assert flow_asks()["recordingState"] == "STOPPED"
    assert state() == {
        "state": "STOPPED",
        "reason": "call-ended",
        "since": centre.session(call.session_id)["endedAt"],
        "detail": centre.session(call.session_id)["outcomeReason"],
        "final": True,
    }
