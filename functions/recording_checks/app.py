"""The VerifyRecording workflow's one Lambda: at each look, find the session's recording in S3 and, once it
has landed, check it.

Not landed yet while the workflow has waited less than LANDING_WAIT_SECONDS (`waited`, in the request): raises
RecordingNotLanded, and the workflow's retrier looks again after its backoff. Not landed at the bound:
{"landed": false, "waited": s} (missing; or, for a start never confirmed, {"uncertain": true}: absent).
Connect's layout giving several candidates while the contact record names none: {"landed": false,
"ambiguous": true, "candidates": n}. Landed: {"landed": true, "verdict": ...}: the object read once, streaming
(header by ranged reads, then the PCI scan: SHA-256, DTMF, window levels, activity), every check by name, and
the call's attestation signed and stored. Connect: the contact record (DescribeContact) is read at each look: it
names the recording once delivered.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from callrec_shared import attestation, audit_chain, clock, sessions, verification
from callrec_shared.aws import client, setting
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

__all__ = ["InvalidRequest", "RecordingNotLanded", "lambda_handler"]


def _session(session_id: str) -> dict:
    session = sessions.get(session_id)
    if session is None:
        raise sessions.SessionNotFound(session_id)
    return session


class RecordingNotLanded(Exception):
    """Not landed yet, within the bound: the workflow's retrier looks again (its backoff is the landing wait)."""


def _contact(session: dict) -> dict | None:
    """Connect: the contact record (DescribeContact's `Contact`); None for Chime, or when it cannot be read (the
    object is then found by the documented layout, and the verdict says the record was unavailable)."""
    call = session.get("call", {})
    if session.get("provider") != "connect":
        return None
    try:
        contact: dict = client("connect").describe_contact(InstanceId=call["InstanceId"], ContactId=call["ContactId"])
        return contact["Contact"]
    except ClientError as err:
        logger.warning("contact record unavailable", extra={"error": err.response["Error"]["Code"]})
        return None


def verify(request: dict, config: verification.Config) -> dict:
    session = _session(request["sessionId"])
    expected = verification.expectation(session, _contact(session))
    found = verification.locate(expected, config, client("s3"))
    if isinstance(found, verification.Ambiguous):
        return {"landed": False, "ambiguous": True, "candidates": found.candidates}
    if found is None:  # an uncertain start may never have made a recording: the workflow says so at the bound
        waited = request.get("waited", 0)
        if waited < config.landing_wait_seconds:
            raise RecordingNotLanded(f"not landed after {waited:g} s of {config.landing_wait_seconds:g}")
        return {"landed": False, "waited": waited, **({"uncertain": True} if expected.uncertain else {})}
    verdict = verification.check(expected, found, client("s3"), config)
    failed = [c for c in verdict["checks"] if not c["ok"]]
    verdict["summary"] = (
        "passed"
        if not failed
        else f"{verdict['status'].lower()}: " + ", ".join(f"{c['name']} ({c['detail']})" for c in failed)[:1000]
    )
    head = audit_chain.seal(session["sessionId"], "VerifyRecording")  # what the audit held when this was checked
    signed = attestation.sign(
        attestation.manifest({**session, "auditHead": head or ""}, verdict, clock.stamp()),
        client("kms"),
        setting("ATTESTATION_KEY_ARN"),
    )
    verdict["attestation"] = attestation.store(signed, client("s3"), found.bucket, config.kms_key_arn)
    return {"landed": True, "how": found.how, "verdict": validate(verdict, "recording_verdict")}


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = validate(event, "verify_recording_request")
    if request["action"] == "seal":  # RecordingSession's end, where no verification follows to seal it
        head = audit_chain.seal(request["sessionId"], "VerifyRecording")
        return {"sealed": head is not None, "head": head or ""}
    config = verification.Config.from_environment()
    answer = verify(request, config)
    logger.info(
        "verification look",
        extra={
            "session_id": request["sessionId"],
            "landed": answer["landed"],
            "status": answer.get("verdict", {}).get("status"),
        },
    )
    return answer
