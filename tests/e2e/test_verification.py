"""VerifyRecording through the whole local stack, on recordings the telephony twin produced: a good call
is VERIFIED with a RecordingVerified event and no alert; each fault switch on the landing (never lands,
corrupted header, audio leaking into a window) is caught with its own reason, an event and an alert;
and each S3-level check fails on a copy of a real recording broken in exactly that way."""

from __future__ import annotations

import json

import pytest

from callrec import demo
from callrec.sim import Fault
from callrec.sim.core import DELIVER
from callrec.stack import client
from callrec_shared import verification


@pytest.fixture
def listeners(deployment):
    """SQS queues on the verdict bus and the alert topic (what an operator would subscribe)."""
    sqs, events = client("sqs"), client("events")
    urls = {}
    for name in ("verdicts", "alerts"):
        urls[name] = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = lambda url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]  # noqa: E731
    bus = deployment.physical("VerdictBus").rsplit("/", 1)[-1]
    events.put_rule(Name="verdicts", EventBusName=bus, EventPattern=json.dumps({"source": ["callrec.recordings"]}))
    events.put_targets(Rule="verdicts", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn(urls["verdicts"])}])
    client("sns").subscribe(TopicArn=deployment.physical("AlertTopic"), Protocol="sqs", Endpoint=arn(urls["alerts"]))

    def received(name: str) -> list[dict]:
        messages = sqs.receive_message(QueueUrl=urls[name], MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def _verdict(centre, call):
    centre.finish(call.session_id)
    described, events = centre.verification(call.session_id)
    return described, centre.session(call.session_id)


def test_a_chime_payment_is_verified_with_an_event_and_no_alert(centre, listeners):
    call = demo.chime_payment(centre)
    described, session = _verdict(centre, call)
    assert described["status"] == "SUCCEEDED" and session["verification"] == "VERIFIED"
    checks = {c["name"]: c for c in session["verificationChecks"]}
    assert {"metadata", "encryption", "content-type", "window-1-silent", "not-all-silent"} <= set(checks)
    events = listeners("verdicts")
    assert [(e["detail-type"], e["detail"]["sessionId"]) for e in events] == [("RecordingVerified", call.session_id)]
    assert listeners("alerts") == []
    assert [a["event"] for a in centre.audit(call.session_id)][-1] == "RECORDING_VERIFIED"


@pytest.mark.parametrize("provider, error, play, verdict, failed", [
    ("chimesdkvoice", "LeakIntoWindow", demo.chime_payment, "FAILED", ["window-1-silent"]),
    ("connect", "CorruptHeader", demo.connect_payment, "FAILED", ["wav-header"]),
    ("chimesdkvoice", "NeverLands", demo.chime_opt_in("1"), "MISSING", []),
])
def test_each_landing_fault_is_caught_with_its_reason_event_and_alert(centre, listeners, provider, error, play,
                                                                      verdict, failed):
    centre.sim.faults.inject(Fault(provider, DELIVER, error))
    call = play(centre)
    described, session = _verdict(centre, call)
    assert described["status"] == "FAILED" and described["error"] in ("RECORDING_VERIFICATION_FAILED", "RECORDING_MISSING")
    assert session["status"] == "RECORDED" and session["verification"] == verdict
    assert [c["name"] for c in session.get("verificationChecks") or [] if not c["ok"]] == failed
    assert [e["detail-type"] for e in listeners("verdicts")] == ["RecordingVerificationFailed"]
    alerts = listeners("alerts")
    assert len(alerts) == 1 and call.session_id in alerts[0]["Message"]


def test_the_card_digits_leak_is_located_in_the_window_not_elsewhere(centre):
    centre.sim.faults.inject(Fault("connect", DELIVER, "LeakIntoWindow"))
    call = demo.connect_payment(centre)
    _, session = _verdict(centre, call)
    window = next(c for c in session["verificationChecks"] if c["name"] == "window-1-silent")
    assert not window["ok"] and "ch0 peak" in window["detail"]
    assert all(c["ok"] for c in session["verificationChecks"] if c["name"] != "window-1-silent")


@pytest.fixture
def landed(centre):
    """A real Chime recording from the twin, and its session."""
    call = demo.chime_opt_in("1")(centre)
    _, session = _verdict(centre, call)
    assert session["verification"] == "VERIFIED"
    bucket, _, key = session["recordingLocation"].partition("/")
    return session, bucket, key


@pytest.mark.parametrize("change, failed", [
    ({"ContentType": "binary/octet-stream"}, ["content-type"]),
    ({"Metadata": {"transaction-id": "another-call", "call-id": "x", "recording-duration": "1",
                   "recording-audio-file-format": "audio/wav"}}, ["metadata", "metadata-duration"]),
    ({"SSEKMSKeyId": "other"}, ["encryption"]),
    ({"Truncate": 320000}, ["size", "duration", "metadata-duration"]),
])
def test_each_s3_check_fails_on_a_copy_broken_that_way(centre, landed, change, failed):
    session, bucket, key = landed
    s3 = client("s3")
    original = s3.get_object(Bucket=bucket, Key=key)
    body = original["Body"].read()
    request = {"Bucket": bucket, "Key": key + ".broken", "Body": body, "ContentType": original["ContentType"],
               "Metadata": original["Metadata"], "ServerSideEncryption": "aws:kms",
               "SSEKMSKeyId": original["SSEKMSKeyId"]}
    if change.get("SSEKMSKeyId"):
        change = {"SSEKMSKeyId": client("kms").create_key()["KeyMetadata"]["Arn"]}
    if "Truncate" in change:
        request["Body"] = body[: len(body) - change.pop("Truncate")]
    request.update(change)
    s3.put_object(**request)
    expected = verification.expectation(session)
    verdict = verification.check(expected, bucket, key + ".broken", s3, verification.Config.from_environment())
    assert verdict["failed"] == failed
    assert verification.check(expected, bucket, key, s3, verification.Config.from_environment())["passed"]
