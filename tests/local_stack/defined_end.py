"""What every row of the fault matrix proves, in one place: whatever went wrong, the call ended in its defined
state, audited; every signal was answered; a recording that exists has a verdict; an alert went out exactly
when a recording is not verified; and the caller's key presses are not audible in the recording (judged from
the telephony twin's own record of when the caller typed, read in the audio it delivered, not from
verification's verdict). The fault-matrix test and the tests of each fail-closed guarantee end with `proven`,
which also puts their row in the matrix printed at the end of the test report (tests/conftest.py)."""

from __future__ import annotations

import json
import wave
from collections.abc import Callable
from dataclasses import dataclass

from callrec.callcentre import Call, LocalCallCentre
from callrec.stack import client
from callrec_shared import sessions
from tests.wav_probe import read_wav

QUIET = ("VERIFIED", "ABSENT")  # verdicts that raise no alert


@dataclass(frozen=True)
class Row:
    provider: str
    stage: str
    fault: str
    status: str  # the session's final status
    verification: str | None  # VERIFIED / FAILED / MISSING / ERROR / ABSENT, or None: nothing to verify
    reason: str = ""  # a part of the session's outcome reason
    card_recorded: bool = False  # a fault that leaks the card into the recording by design (verification fails it)


def alert_queue(deployment) -> Callable[[], list[dict]]:
    """An SQS queue on the alert topic, as an operator would subscribe; returns a reader of what arrived."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=deployment.physical("AlertTopic"), Protocol="sqs", Endpoint=arn)
    return lambda: [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]


def bus_queue(deployment, source: str, name: str) -> Callable[[], list[dict]]:
    """An SQS queue on the verdict bus for the events of `source`, as an operator would subscribe one; returns a
    reader of what arrived (each event as EventBridge delivers it)."""
    sqs, events = client("sqs"), client("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = deployment.physical("VerdictBus").rsplit("/", 1)[-1]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return lambda: [
        json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]


def audit_events(centre: LocalCallCentre, session_id: str) -> list[str]:
    """The session's audit events, in the order they were written."""
    return [a["event"] for a in sorted(centre.audit(session_id), key=lambda a: a["at"])]


def end_connect_call(centre: LocalCallCentre, call: Call) -> dict:
    """The customer hangs up, the flow reports it; once the session ended and was verified, its view."""
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.finish(call.session_id)
    assert centre.verification(call.session_id) is not None
    return centre.session(call.session_id)


def connect_recording_wav(centre: LocalCallCentre, call: Call):
    """A Connect call's recording as the twin kept it, and its delivered WAV read back from S3."""
    recording = centre.sim.connect.chain(call.contact_id).recording
    bucket, _, key = recording.location.partition("/")
    return recording, read_wav(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def provider_recording(centre: LocalCallCentre, call: Call) -> dict | None:
    """The provider's own record of the call's recording, as its twin describes it (None: it never recorded),
    with the spans it was silenced as `Silenced` on either provider (Connect: suspended; Chime: paused)."""
    if call.contact_id:
        recording = centre.sim.connect.describe(call.contact_id)["Recording"]
        return recording and {**recording, "Silenced": recording["Suspended"]}
    recording = centre.sim.chime.describe(call.transaction_id)["Recording"]
    return recording and {**recording, "Silenced": recording["Paused"]}


def card_heard(centre: LocalCallCentre, call: Call) -> list[tuple[float, float]]:
    """The spans (seconds into the recording) where the caller typed and the delivered recording is not silent."""
    if call.contact_id:
        chain = centre.sim.connect.chain(call.contact_id)
        recording = chain.recording
        typed = [(e["at"], e["until"]) for e in chain.log if e["event"] == "CustomerTyped"]
    else:
        leg = centre.sim.chime.legs[call.transaction_id]
        recording, typed = leg.recording, [tuple(span) for span in leg.typed]
    if recording is None or recording.location is None or recording.started_at is None:
        return []
    bucket, _, key = recording.location.partition("/")
    s3 = client("s3")
    try:
        wav = read_wav(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return []  # never landed: nothing to hear
    except wave.Error:  # a corrupted header (a fault switch): the same audio, as the twin rendered it
        wav = read_wav(
            centre.sim.connect.render(chain, recording) if call.contact_id else centre.sim.chime.render(leg)[0]
        )
    start, stop = recording.started_at, recording.stopped_at or float("inf")
    spans = [(max(a, start) - start, min(b, stop) - start) for a, b in typed if b > start and a < stop]
    return [(a, b) for a, b in spans if any(wav.peak(channel, a, b) for channel in range(wav.channels))]


def proven(
    centre: LocalCallCentre,
    call: Call,
    row: Row,
    alerts: Callable[[], list[dict]] | None,
    record_property: Callable[[str, object], None],
) -> dict:
    """Wait for the call's end and its verdict, put its row in the matrix, and assert what every row proves.
    `alerts` None: the test's stack has no alert queue (its alert is not judged). Returns the session."""
    described, _ = centre.finish(call.session_id)
    centre.sim.delivery.wait()
    verified = centre.verification(call.session_id)
    session = centre.session(call.session_id)
    audit = centre.audit(call.session_id)
    sent = [alert for alert in (alerts() if alerts else []) if call.session_id in alert["Message"]]
    record_property(
        "fault_matrix_row",
        (
            row.provider,
            row.stage,
            row.fault,
            session["status"],
            session.get("verification") or "-",
            "alert" if sent else "-",
            session.get("outcomeReason") or "",
        ),
    )
    assert session["status"] == row.status, session.get("outcomeReason")
    assert row.reason in (session.get("outcomeReason") or "")
    verdict = session.get("verification") if verified else None
    assert verdict == row.verification, (verdict, session.get("verificationReason"))
    # a defined end, audited: the workflow's final record, and the verdict's when there is one
    assert [a for a in audit if a.get("status")][-1]["status"] in (row.status, row.verification)
    assert any(a.get("status") == row.status for a in audit)
    if row.verification:
        assert verified[0]["status"] == ("SUCCEEDED" if row.verification in QUIET else "FAILED")
    # every signal was answered: applied, rejected, withdrawn or failed, none left waiting
    assert [s["kind"] for s in centre.signals(call.session_id) if s["status"] in sessions.PENDING] == []
    # no recording without a verdict (ERROR: the checks could not run, and the alert asks a person to look)
    if row.verification != "ERROR":
        assert centre.recordings_without_verdict() == []
    if alerts:  # an alert exactly when a recording is not verified
        assert len(sent) == (0 if row.verification in (None, *QUIET) else 1), sent
    if not row.card_recorded:
        assert card_heard(centre, call) == [], "the caller's key presses are audible in the recording"
    assert described["status"] in ("SUCCEEDED", "FAILED")
    return session


def assert_party_heard_the_prompt_object(centre: LocalCallCentre, session_id: str, party: dict) -> None:
    """A joined party's evidence names the exact prompt object they were asked with (its S3 version id and ETag
    as the versioned prompt bucket holds it), on the session and in the audit's PARTY_JOINED."""
    bucket = centre.deployment.physical("PromptBucket")
    head = client("s3").head_object(Bucket=bucket, Key=party["promptKey"])
    assert (party["promptVersionId"], party["promptEtag"]) == (head["VersionId"], head["ETag"].strip('"'))
    assert party["promptKey"] == f"prompts/recording-{party['decision']}-v1.wav" and "promptUnavailable" not in party
    (joined,) = [a for a in centre.audit(session_id) if a["event"] == "PARTY_JOINED"]
    assert (joined["promptVersionId"], joined["promptEtag"]) == (party["promptVersionId"], party["promptEtag"])


# A recording this short holds no part surely outside the start's uncertain window (verification's guards): it cannot
# be judged. One this long always can.
UNJUDGEABLE_SECONDS, JUDGEABLE_SECONDS = 0.25, 2.0


def uncertain_start_verdict(centre: LocalCallCentre, call: Call) -> str:
    """The verdict a Chime recording whose caller hung up as it started must get. How much audio that left depends
    on how fast the stack got to the hang-up (the call's clock follows wall time): usually too little to judge, so
    UNVERIFIED (and an alert), never passed; on a starved machine enough to judge, so VERIFIED. In between, either
    (never failed, never missing)."""
    recording = centre.sim.chime.describe(call.transaction_id)["Recording"]
    recorded = recording["StoppedAt"] - recording["StartedAt"]
    if recorded < UNJUDGEABLE_SECONDS:
        return "UNVERIFIED"
    if recorded > JUDGEABLE_SECONDS:
        return "VERIFIED"
    verdict = centre.session(call.session_id)["verification"] if centre.verification(call.session_id) else None
    return verdict if verdict in ("UNVERIFIED", "VERIFIED") else "UNVERIFIED or VERIFIED"


def assert_accepted_joined_californian(centre: LocalCallCentre, session: dict, by: str) -> dict:
    """The call was verified and its one joined party is a Californian (all-party consent) who was asked, with the
    prompt object named, and accepted, recording suspended for them meanwhile: that party's evidence."""
    assert session["verification"] == "VERIFIED", session.get("verificationReason")
    (party,) = session["joinedParties"]
    assert {k: party[k] for k in ("jurisdiction", "rule", "decision", "stricter", "answer", "by")} == {
        "jurisdiction": "US-CA",
        "rule": "all-party",
        "decision": "opt-in",
        "stricter": "true",
        "answer": "accepted",
        "by": by,
    }
    assert session["windows"][0]["reasons"] == ["consent"]
    assert_party_heard_the_prompt_object(centre, session["sessionId"], party)
    return party
