"""The VerifyRecording workflow's one Lambda: find a session's recording in S3, then check it.

`locate` answers {"found": false} until the object lands (the workflow waits and backs off), or
{"ambiguous": true} when Connect's layout gives several candidates and the contact record names none;
`check` reads the object once, streaming (header by ranged reads, then the PCI scan: SHA-256, DTMF,
window levels, activity), answers the verdict with every check by name, and signs and stores the call's
attestation. The contact record (Connect's DescribeContact, read by the workflow) comes in the request.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import attestation, clock, sessions, verification
from callrec_shared.aws import client, setting
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

__all__ = ["InvalidRequest", "lambda_handler"]


def _session(session_id: str) -> dict:
    session = sessions.get(session_id)
    if session is None:
        raise sessions.SessionNotFound(session_id)
    return session


def _contact(request: dict) -> dict | None:
    """DescribeContact's `Contact`, as the workflow hands it in ({"Contact": ...}; null when it could not be read)."""
    return (request.get("contact") or {}).get("Contact")


def locate(request: dict, config: verification.Config) -> dict:
    expected = verification.expectation(_session(request["sessionId"]), _contact(request))
    found = verification.locate(expected, config, client("s3"))
    if isinstance(found, verification.Ambiguous):
        return {"found": False, "ambiguous": True, "candidates": found.candidates}
    return (
        {"found": False}
        if found is None
        else {"found": True, "bucket": found.bucket, "key": found.key, "how": found.how}
    )


def check(request: dict, config: verification.Config) -> dict:
    session = _session(request["sessionId"])
    expected = verification.expectation(session, _contact(request))
    found = verification.Located(request["bucket"], request["key"], request.get("how", "contact record"))
    verdict = verification.check(expected, found, client("s3"), config)
    failed = [c for c in verdict["checks"] if not c["ok"]]
    verdict["summary"] = (
        "passed"
        if not failed
        else f"{verdict['status'].lower()}: " + ", ".join(f"{c['name']} ({c['detail']})" for c in failed)[:1000]
    )
    signed = attestation.sign(
        attestation.manifest(session, verdict, clock.stamp()), client("kms"), setting("ATTESTATION_KEY_ARN")
    )
    verdict["attestation"] = attestation.store(signed, client("s3"), found.bucket, config.kms_key_arn)
    return validate(verdict, "recording_verdict")


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = validate(event, "verify_recording_request")
    config = verification.Config.from_environment()
    answer = (locate if request["action"] == "locate" else check)(request, config)
    logger.info(
        "verification step",
        extra={
            "action": request["action"],
            "session_id": request["sessionId"],
            "found": answer.get("found"),
            "status": answer.get("status"),
        },
    )
    return answer
