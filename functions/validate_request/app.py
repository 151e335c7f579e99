"""Validate a start-recording request and give the session its identity.

The first task of RecordingSession: the workflow never acts on a request that does not match
`schemas/start_recording_request.schema.json`, or for a provider this deployment does not serve. The session id is derived from the provider's own call
identity, so the same call always maps to the same session (idempotent starts).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared.identity import session_id_for
from callrec_shared.validation import InvalidRequest, validate_start

logger = Logger(service="callrec")

__all__ = ["InvalidRequest", "lambda_handler", "session_id_for"]


DEFAULT_TRACK = {"connect": "ALL", "chime": "BOTH"}


def normalise(request: dict) -> dict:
    validate_start(request)
    options = request.get("recording", {})
    prefix = options.get("keyPrefix", "")
    return {
        "sessionId": session_id_for(request),
        "provider": request["provider"],
        "call": request["call"],
        "parties": request["parties"],
        # every option filled in, so the workflow reads them without defaults of its own
        "options": {
            "track": options.get("track", DEFAULT_TRACK[request["provider"]]),
            "keyPrefix": prefix,
            "destinationSuffix": f"/{prefix}" if prefix else "",  # Chime: bucket[/prefix]
        },
    }


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    session = normalise(event)
    logger.info("request valid", extra={"session_id": session["sessionId"], "provider": session["provider"]})
    return session
