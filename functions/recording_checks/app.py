"""The VerifyRecording workflow's one Lambda: find a session's recording in S3, then check it.

`locate` answers {"found": false} until the object lands (the workflow waits and backs off);
`check` reads the object's HEAD and only the byte ranges it needs (header, each suspended window, a
fixed budget of probes) and answers the verdict with every check by name. The audio checks are plain
Python (callrec_shared.wavcheck): no audio library to import on a cold start.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import sessions, verification
from callrec_shared.aws import client
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

__all__ = ["InvalidRequest", "lambda_handler"]


def _expectation(session_id: str) -> verification.Expectation:
    session = sessions.get(session_id)
    if session is None:
        raise sessions.SessionNotFound(session_id)
    return verification.expectation(session)


def locate(request: dict, config: verification.Config) -> dict:
    found = verification.locate(_expectation(request["sessionId"]), config, client("s3"))
    return {"found": False} if found is None else {"found": True, "bucket": found[0], "key": found[1]}


def check(request: dict, config: verification.Config) -> dict:
    verdict = verification.check(_expectation(request["sessionId"]), request["bucket"], request["key"],
                                 client("s3"), config, full=request.get("full", False))
    failed = verdict["failed"]
    verdict["summary"] = "passed" if not failed else "failed: " + ", ".join(
        f"{c['name']} ({c['detail']})" for c in verdict["checks"] if not c["ok"])[:1000]
    return validate(verdict, "recording_verdict")


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = validate(event, "verify_recording_request")
    config = verification.Config.from_environment()
    answer = (locate if request["action"] == "locate" else check)(request, config)
    logger.info("verification step", extra={"action": request["action"], "session_id": request["sessionId"],
                                            "found": answer.get("found"), "failed": answer.get("failed")})
    return answer
