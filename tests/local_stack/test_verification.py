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
from tests.eventually import eventually
from tests.local_stack.conftest import slow_sma
from tests.local_stack.defined_end import bus_queue


@pytest.fixture
def listeners(deployment, alerts):
    """SQS queues on the verdict bus and on the alert topic (`alerts`), as an operator would subscribe them. The
    verdict's event comes from the sessions table's stream (RecordingStateEvents) moments after it is saved."""
    verdicts = bus_queue(deployment, "callrec.recordings", "verdicts")
    return lambda name: alerts() if name == "alerts" else eventually(verdicts, what="the verdict's event")


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


@pytest.mark.parametrize(
    "provider, error, play, verdict, failed",
    [
        ("chimesdkvoice", "LeakIntoWindow", demo.chime_payment, "FAILED", ["window-1-silent"]),
        ("connect", "CorruptHeader", demo.connect_payment, "FAILED", ["wav-header"]),
        ("chimesdkvoice", "NeverLands", demo.chime_opt_in("1"), "MISSING", []),
    ],
)
def test_each_landing_fault_is_caught_with_its_reason_event_and_alert(
    centre, listeners, provider, error, play, verdict, failed
):
    centre.sim.faults.inject(Fault(provider, DELIVER, error))
    call = play(centre)
    described, session = _verdict(centre, call)
    assert described["status"] == "FAILED" and described["error"] in (
        "RECORDING_VERIFICATION_FAILED",
        "RECORDING_MISSING",
    )
    assert session["status"] == "RECORDED" and session["verification"] == verdict
    assert [c["name"] for c in session.get("verificationChecks") or [] if not c["ok"]] == failed
    assert [e["detail-type"] for e in listeners("verdicts")] == ["RecordingVerificationFailed"]
    alerts = listeners("alerts")
    assert len(alerts) == 1 and call.session_id in alerts[0]["Message"]


def test_a_leak_is_blamed_on_the_window_when_a_busy_stack_records_the_start_late(centre, listeners):
    """On a busy stack the workflow learns of the recording's start late, so where the recording began is
    uncertain by that much and the windows are placed narrower. The card entry still lies inside the window
    (the payment IVR asks for the card once the pause is confirmed, and thanks the caller before resuming):
    the leak fails that window, not dtmf-outside-windows."""
    centre.sim.faults.inject(Fault("chimesdkvoice", DELIVER, "LeakIntoWindow"))
    with slow_sma(lambda output: "location" in output, 0.6):  # the SMA's answer to StartCallRecording
        call = demo.chime_payment(centre)
    _, session = _verdict(centre, call)
    started, requested = (verification.clock.parse(session[k]) for k in ("recordingStartedAt", "recordingRequestedAt"))
    assert (started - requested).total_seconds() >= 0.6  # the late record is what this test is about
    assert session["verification"] == "FAILED"
    assert [c["name"] for c in session["verificationChecks"] if not c["ok"]] == ["window-1-silent"]


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


@pytest.mark.parametrize(
    "change, failed",
    [
        ({"ContentType": "binary/octet-stream"}, ["content-type"]),
        (
            {
                "Metadata": {
                    "transaction-id": "another-call",
                    "call-id": "x",
                    "recording-duration": "1",
                    "recording-audio-file-format": "audio/wav",
                }
            },
            ["metadata", "metadata-duration"],
        ),
        ({"SSEKMSKeyId": "other"}, ["encryption"]),
        ({"Truncate": 320000}, ["size", "duration", "metadata-duration"]),
    ],
)
def test_each_s3_check_fails_on_a_copy_broken_that_way(centre, landed, change, failed):
    session, bucket, key = landed
    s3 = client("s3")
    original = s3.get_object(Bucket=bucket, Key=key)
    body = original["Body"].read()
    request = {
        "Bucket": bucket,
        "Key": key + ".broken",
        "Body": body,
        "ContentType": original["ContentType"],
        "Metadata": original["Metadata"],
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": original["SSEKMSKeyId"],
    }
    if change.get("SSEKMSKeyId"):
        change = {"SSEKMSKeyId": client("kms").create_key()["KeyMetadata"]["Arn"]}
    if "Truncate" in change:
        request["Body"] = body[: len(body) - change.pop("Truncate")]
    request.update(change)
    s3.put_object(**request)
    expected = verification.expectation(session)
    config = verification.Config.from_environment()
    verdict = verification.check(expected, verification.Located(bucket, key + ".broken", "destination"), s3, config)
    assert verdict["failed"] == failed
    assert verification.check(expected, verification.Located(bucket, key, "destination"), s3, config)["passed"]


# --- the provider's own record, the PCI scan, the attestation ----------------------------------------------


def _card_typed_unpaused(centre, decoy: bool = False):
    """A Connect call where the customer types the card with no window; optionally a 6 s decoy planted where
    the old lookup (alphabetically first .wav under `<prefix>/<day>/<contactId>_`) took it."""
    from callrec.sim import audio

    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    if decoy:
        day = centre.sim.clock.now()
        prefix = centre.deployment.resolver.parameters["ConnectRecordingPrefix"]
        quiet = audio.Channel("agent")
        quiet.join(0.0)
        client("s3").put_object(
            Bucket=centre.deployment.physical("RecordingBucket"),
            Key=f"{prefix}/{day:%Y/%m/%d}/{call.contact_id}_0/decoy.wav",
            Body=audio.wav_bytes([quiet.render(0.0, 6.0)] * 2),
            ContentType="audio/wav",
            ServerSideEncryption="aws:kms",
        )
    centre.sim.clock.advance(10.0)
    centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
    centre.sim.clock.advance(5.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def test_a_card_typed_with_no_window_fails_and_a_decoy_is_not_verified_instead(centre, listeners):
    """Reproduced before: the decoy was verified (VERIFIED, no alert) while the real recording held the card."""
    call = _card_typed_unpaused(centre, decoy=True)
    described, session = _verdict(centre, call)
    assert described["status"] == "FAILED" and session["verification"] == "FAILED"
    checks = {c["name"]: c for c in session["verificationChecks"]}
    assert not checks["dtmf-outside-windows"]["ok"] and "16 at " in checks["dtmf-outside-windows"]["detail"]
    assert "_0/decoy.wav" not in session["recordingLocation"] and session["recordingLocation"].endswith("_UTC.wav")
    assert "(from the contact record)" in checks["location"]["detail"]
    [alert] = listeners("alerts")
    assert "FAILED" in alert["Message"]
    # the digits are nowhere: not the session, the audit, the event, the alert, the execution history
    history = centre.verification(call.session_id)[1]
    everything = json.dumps(
        [session, centre.audit(call.session_id), alert, listeners("verdicts"), history], default=str
    )
    assert demo.CARD_NUMBER not in everything and "4111" not in everything


def test_without_the_contact_record_the_layout_is_used_and_the_verdict_is_unverified(centre):
    """DescribeContact refused (e.g. a missing grant): the object is still found, by an exact layout match,
    but the verdict cannot be VERIFIED: the provider's own record was not read."""
    centre.sim.faults.inject(Fault("connect", "DescribeContact", "AccessDeniedException", times=None))
    try:
        call = demo.connect_notice(centre)
        described, session = _verdict(centre, call)
    finally:
        centre.sim.faults.clear()
    assert session["verification"] == "UNVERIFIED" and described["status"] == "FAILED"
    checks = {c["name"]: c for c in session["verificationChecks"]}
    assert checks["contact-record"]["unverified"] and "(from the layout)" in checks["location"]["detail"]
    assert [name for name, c in checks.items() if not c["ok"]] == ["contact-record"]


def test_a_throttled_contact_record_is_read_again_as_boto3_would(centre):
    """The check reads the contact record with boto3, which retries a throttled call (standard mode: three
    attempts, backing off): two throttles in a row still find the record, and the call is verified."""
    centre.sim.faults.inject(Fault("connect", "DescribeContact", "ThrottlingException", times=2))
    try:
        call = demo.connect_notice(centre)
        described, session = _verdict(centre, call)
    finally:
        centre.sim.faults.clear()
    assert (described["status"], session["verification"]) == ("SUCCEEDED", "VERIFIED")
    checks = {c["name"]: c for c in session["verificationChecks"]}
    assert checks["contact-record"]["ok"] and "(from the contact record)" in checks["location"]["detail"]


def test_get_shows_where_the_recording_really_is_and_its_attestation(centre, api):
    call = demo.connect_notice(centre)
    assert centre.session(call.session_id)["recordingLocation"].startswith("pending")
    _verdict(centre, call)
    from callrec.local_api import signed

    view = signed("GET", f"{api}/recordings/{call.session_id}").json()
    assert view["verification"] == "VERIFIED"
    assert view["recordingLocation"].startswith(centre.deployment.physical("RecordingBucket") + "/connect/")
    assert view["attestation"].startswith(f"s3://{centre.deployment.physical('RecordingBucket')}/attestations/")


def test_the_attestation_is_signed_and_catches_a_changed_recording_or_manifest(centre, tmp_path):
    import subprocess
    import sys

    from callrec.template import REPO_ROOT
    from callrec_shared import attestation

    call = demo.chime_payment(centre)
    _, session = _verdict(centre, call)
    s3, kms = client("s3"), client("kms")
    bucket, _, rest = session["attestation"][5:].partition("/")
    key, _, version = rest.partition("?versionId=")
    signed = json.loads(
        s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))["Body"].read()
    )
    manifest = signed["manifest"]
    assert manifest["sessionId"] == call.session_id and manifest["verdict"] == "VERIFIED"
    assert {c["name"] for c in manifest["checks"]} >= {"dtmf-outside-windows", "window-1-silent", "duration"}
    assert len(manifest["windows"]) == 1 and manifest["dtmf"]["digits"] == 0
    public_key = kms.get_public_key(KeyId=centre.deployment.resolver.attributes[("AttestationKey", "Arn")])["PublicKey"]
    recording = s3.get_object(
        Bucket=manifest["recording"]["bucket"],
        Key=manifest["recording"]["key"],
        VersionId=manifest["recording"]["versionId"],
    )["Body"].read()
    assert all(f.ok for f in attestation.check(signed, public_key, [recording]))
    changed = bytearray(recording)
    changed[len(changed) // 2] ^= 1
    assert [f.ok for f in attestation.check(signed, public_key, [bytes(changed)])] == [True, False]
    forged = json.loads(json.dumps(signed))
    forged["manifest"]["verdict"] = "VERIFIED" if manifest["verdict"] != "VERIFIED" else "FAILED"
    assert [f.ok for f in attestation.check(forged, public_key, [recording])] == [False, True]
    # the command, offline, with the exported public key
    files = {
        name: tmp_path / name for name in ("attestation.json", "forged.json", "key.der", "call.wav", "changed.wav")
    }
    files["attestation.json"].write_text(json.dumps(signed))
    files["forged.json"].write_text(json.dumps(forged))
    files["key.der"].write_bytes(public_key)
    files["call.wav"].write_bytes(recording)
    files["changed.wav"].write_bytes(bytes(changed))

    def attest(document: str, wav: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "callrec.cli",
                "attest",
                "verify",
                str(files[document]),
                "--public-key",
                str(files["key.der"]),
                "--recording",
                str(files[wav]),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert attest("attestation.json", "call.wav").returncode == 0
    changed_run = attest("attestation.json", "changed.wav")
    assert changed_run.returncode == 1 and "FAIL  recording" in changed_run.stdout
    forged_run = attest("forged.json", "call.wav")
    assert forged_run.returncode == 1 and "FAIL  signature" in forged_run.stdout
