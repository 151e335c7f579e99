"""Signals under concurrency: many threads through the local API (HTTP, SigV4) on one session, and many
sessions at once. Every signal ends applied once or refused with a reason: none lost, none doubled."""

from __future__ import annotations

import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from callrec import demo
from tests.local_stack.conftest import signed
from tests.wav_probe import read_wav


def _recording_connect_call(centre):
    return centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)


def test_many_threads_signalling_one_session_through_the_api(centre, api):
    centre.sim.throttling = False  # the point here is our queue, not Connect's quota
    call = _recording_connect_call(centre)
    rng = random.Random(7)
    requests_to_send = []
    for i in range(24):
        kind = rng.choice(["suspend", "resume"])
        key = f"k{i % 18}"  # six keys are sent twice: those repeats must be no-ops
        requests_to_send.append((kind if i < 18 else requests_to_send[i - 18][0], key))
    answers: list[tuple[str, str, int, dict]] = []
    lock = threading.Lock()

    def send(kind_key):
        kind, key = kind_key
        response = signed("POST", f"{api}/recordings/{call.session_id}/{kind}", {"idempotencyKey": key})
        with lock:
            answers.append((kind, key, response.status_code, response.json()))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, requests_to_send))
    stop = signed("POST", f"{api}/recordings/{call.session_id}/stop")
    assert stop.status_code == 202
    centre.sim.connect.hang_up(call.contact_id)
    centre.finish(call.session_id)

    assert {status for *_, status, _ in answers} <= {200, 409, 503}
    for kind, _key, status, body in answers:
        flag = "suspended" if kind == "suspend" else "resumed"
        assert body[flag] is (status == 200), body
        if status == 409:
            assert body["reason"] in ("recording is already suspended", "recording is not suspended")
    signals = centre.signals(call.session_id)
    assert [s["seq"] for s in signals] == list(range(1, len(signals) + 1))  # one queue, no gaps
    # a caller told no at its deadline (503, a busy machine) may have its signal undone behind it, by "deadline"
    undone = [s for s in signals if s["by"] == "deadline"]
    assert len(undone) <= [status for *_, status, _ in answers].count(503)
    assert len(signals) - len(undone) == 18 + 1  # 18 distinct keys and the stop: the repeats were not queued
    assert all(s["status"] in ("applied", "rejected", "failed", "withdrawn") for s in signals)  # none left unanswered
    from callrec_shared.sessions import REFUSED, stored_key

    by_key = {s.get("idempotencyKey"): s for s in signals}  # kept hashed, never verbatim
    assert all(key is None or re.fullmatch(r"[0-9a-f]{64}", key) for key in by_key)
    for _kind, key, _status, body in answers:  # a repeat answered the first request's outcome
        stored = by_key[stored_key(key)]
        # a signal some caller was told no about while it was applied is "refused" to every caller after
        heard = REFUSED if "refusedAt" in stored else stored["status"]
        assert body["seq"] == stored["seq"] and body["status"] == heard
    applied = [s["kind"] for s in signals if s["status"] == "applied" and s["kind"] in ("suspend", "resume")]
    assert applied == ["suspend", "resume"] * (len(applied) // 2) + (["suspend"] if len(applied) % 2 else [])
    session = centre.session(call.session_id)
    assert len(session.get("windows", [])) == applied.count("suspend")
    assert [a["event"] for a in centre.audit(call.session_id)].count("SIGNAL_RECEIVED") == len(signals)


def _payment(centre, index: int) -> dict:
    """One Connect payment call; the card is typed only if the suspension was confirmed."""
    call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.connect.agent_joins(call.contact_id)
    started = centre.contact_flow(call, "start")
    call.session_id = started["sessionId"]
    suspended: dict = {}
    if "consent" in started:  # else DecisionPending under load: the flow's safe path is not to record
        answered = centre.contact_flow(call, "consent", answer="heard")
        if "error" not in answered:
            centre.wait_for_status(call.session_id, "RECORDING", "FAILED", timeout=60)
            suspended = centre.contact_flow(call, "suspend", idempotencyKey=f"pay-{index}")
            if suspended.get("suspended") == "true":
                centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
            centre.contact_flow(call, "resume", idempotencyKey=f"pay-{index}-r")
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return {"call": call, "suspended": suspended.get("suspended")}


def test_many_payment_calls_at_once(centre):
    """Twelve payment calls in parallel, with Connect's real quota (2/s, bursts of 5): suspensions may
    be refused under throttling, and then no digits are typed; whatever happens, every call ends in a
    defined state, every signal is answered, and no typed digit is in any recording."""
    with ThreadPoolExecutor(max_workers=12) as pool:
        played = list(pool.map(lambda i: _payment(centre, i), range(12)))
    centre.sim.delivery.wait()
    from callrec.stack import client

    for result in played:
        call = result["call"]
        described, _ = centre.finish(call.session_id)
        session = centre.session(call.session_id)
        assert session["status"] in ("RECORDED", "NOT_RECORDED", "FAILED"), session
        assert all(
            s["status"] in ("applied", "rejected", "failed", "withdrawn") for s in centre.signals(call.session_id)
        )
        chain = centre.sim.connect.describe(call.contact_id)
        typed = [e for e in chain["Log"] if e["event"] == "CustomerTyped"]
        assert bool(typed) == (result["suspended"] == "true")
        if typed and chain["Recordings"]:
            bucket, _, key = chain["Recordings"][0]["Location"].partition("/")
            wav = read_wav(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
            started = chain["Recording"]["StartedAt"]
            for channel in (0, 1):
                assert wav.peak(channel, typed[0]["at"] - started, typed[0]["until"] - started) == 0


def test_the_api_answers_503_when_the_provider_refuses_and_409_when_refused_by_the_rules(centre, api):
    from callrec.sim import Fault

    call = _recording_connect_call(centre)
    centre.sim.faults.inject(Fault("connect", "SuspendContactRecording", "InternalServiceException", times=None))
    refused = signed("POST", f"{api}/recordings/{call.session_id}/suspend")
    assert refused.status_code == 503
    assert refused.json()["suspended"] is False and refused.json()["reason"].startswith(
        "Connect.InternalServiceException"
    )
    centre.sim.faults.clear()
    not_suspended = signed("POST", f"{api}/recordings/{call.session_id}/resume")
    assert not_suspended.status_code == 409 and not_suspended.json()["reason"] == "recording is not suspended"
    bad = signed("POST", f"{api}/recordings/{call.session_id}/suspend", {"idempotencyKey": "has spaces"})
    assert bad.status_code == 400 and bad.json()["field"] == "idempotencyKey"
    assert signed("POST", f"{api}/recordings/{call.session_id}/suspend").status_code == 200
