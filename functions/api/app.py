"""The recordings API (API Gateway REST, IAM auth): start a session, read it, stop it.

POST /recordings                     start a session for a Connect contact or a Chime call (idempotent:
                                     the same request gives the same session)
GET  /recordings/{sessionId}         status, consent evidence, recording location, outcome
POST /recordings/{sessionId}/stop    stop recording
POST /recordings/{sessionId}/parties          a party joins (transfer, conference, bridged leg): {"number",
POST /recordings/{sessionId}/parties/consent  "jurisdiction"?}; if its rule is stricter, recording is suspended
                                     and `consent` says what to play it; then {"partyId", "answer"}
                                     resumes or stops recording (callrec_shared.joins)
POST /recordings/{sessionId}/suspend a window (sensitive input, or a hold): 200 once applied (the provider
POST /recordings/{sessionId}/resume  confirmed, or the window was already open for the other reason);
                                     409 if refused (already suspended, not suspended, ended), 503 if the
                                     provider failed or did not confirm before the deadline. Body (optional):
                                     {"reason": "pci" | "hold", "idempotencyKey": "..."}; `suspended` /
                                     `resumed` says what the recording does now.
Bad input: 400 with the field that is wrong, and nothing is started.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import audit_chain, joins, sessions
from callrec_shared.aws import settings
from callrec_shared.opening import ConsentPolicyFailed
from callrec_shared.validation import InvalidRequest, parse_json, validate

logger = Logger(service="callrec")
app = APIGatewayRestResolver()

_SESSION_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)  # fullmatch: no trailing newline


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _error(status: int, error: str, message: str, field: str | None = None) -> Response:
    return _json(status, {"error": error, "message": message, **({"field": field} if field else {})})


def _checked(session_id: str) -> Response | None:
    """The session id as API Gateway passed it must be a UUID, whole: the resolver's own route pattern ends in
    `$`, which also matches before a final newline, so it would hand over `<uuid>` for `<uuid>\n`."""
    passed = (app.current_event.path_parameters or {}).get("sessionId", session_id)
    if passed != session_id or not _SESSION_ID.fullmatch(session_id):
        return _error(400, "InvalidRequest", "sessionId must be a session id (a UUID)", "sessionId")
    return None


@app.post("/recordings")
def start_recording() -> Response:
    try:
        started = sessions.start(parse_json(app.current_event.body), actor="api")
    except InvalidRequest as err:
        return _error(400, "InvalidRequest", err.message, err.field)
    except sessions.SessionConflict as err:
        return _error(409, "SessionConflict", str(err))
    except ConsentPolicyFailed:
        return _error(503, "ConsentPolicyFailed", "the consent policy could not decide; nothing is recorded")
    body = {"sessionId": started["sessionId"], "executionArn": started["executionArn"]}
    return _json(201, {**body, "links": {"self": f"/recordings/{started['sessionId']}"}})


def _session(session_id: str) -> tuple[dict | None, Response | None]:
    """(the session's view, None), or (None, the 400/404 answer)."""
    bad = _checked(session_id)
    if bad:
        return None, bad
    view = sessions.get(session_id)
    if view is None:
        return None, _error(404, "SessionNotFound", f"no session {session_id}")
    return view, None


@app.get("/recordings/<session_id>")
def get_recording(session_id: str) -> Response:
    view, refused = _session(session_id)
    return refused or _json(200, view or {})


@app.get("/recordings/<session_id>/audit")
def get_audit(session_id: str) -> Response:
    """The session's audit records and whether their hash chain holds (what `callrec audit verify` prints)."""
    view, refused = _session(session_id)
    return refused or _json(200, audit_chain.verify(session_id, (view or {}).get("auditHead")).to_dict())


@app.post("/recordings/<session_id>/stop")
def stop_recording(session_id: str) -> Response:
    bad = _checked(session_id)
    if bad:
        return bad
    try:
        return _json(202, sessions.end(session_id, "stop", actor="api"))
    except sessions.SessionNotFound:
        return _error(404, "SessionNotFound", f"no session {session_id}")
    except sessions.SessionEnded as err:
        return _error(409, "SessionEnded", str(err))


def _window(session_id: str, kind: str) -> Response:
    bad = _checked(session_id)
    if bad:
        return bad
    try:
        body = validate(parse_json(app.current_event.body, empty="{}"), "signal_request")
    except InvalidRequest as err:
        return _error(400, "InvalidRequest", err.message, err.field)
    try:
        outcome = sessions.signal(
            session_id,
            kind,
            actor="api",
            key=body.get("idempotencyKey"),
            wait_seconds=settings().confirmation_deadline_seconds,
            reason=body.get("reason", "pci"),
        )
    except sessions.SessionNotFound:
        return _error(404, "SessionNotFound", f"no session {session_id}")
    except sessions.SignalLimitReached as err:
        return _error(409, "SignalLimitReached", str(err))
    except sessions.SessionEnded as err:
        return _error(409, "SessionEnded", str(err))
    except sessions.SignalConflict as err:
        return _error(409, "IdempotencyKeyReused", str(err), "idempotencyKey")
    flag = "suspended" if kind == "suspend" else "resumed"
    status = outcome["status"]
    if status == sessions.APPLIED:  # applied; a resume may leave the recording suspended for another reason (hold)
        return _json(200, {**outcome, flag: sessions.in_effect(outcome)})
    if status == sessions.REJECTED:
        return _json(409, {**outcome, flag: False, "error": "SignalRejected"})
    reason = outcome.get("reason") or "not confirmed by the provider before the deadline"
    return _json(503, {**outcome, flag: False, "error": "NotConfirmed", "reason": reason})


def _party(session_id: str, schema: str, act: Callable[[dict], dict]) -> Response:
    """A party joining the call, or its consent answer (callrec_shared.joins): 200 with what to play / what
    became of the recording; 404 no session; 409 the session ended, is not being recorded, or no such party."""
    bad = _checked(session_id)
    if bad:
        return bad
    try:
        body = validate(parse_json(app.current_event.body, empty="{}"), schema)
    except InvalidRequest as err:
        return _error(400, "InvalidRequest", err.message, err.field)
    try:
        return _json(200, act(body))
    except sessions.SessionNotFound:
        return _error(404, "SessionNotFound", f"no session {session_id}")
    except (sessions.SessionEnded, joins.NotRecording, joins.UnknownParty) as err:
        return _error(409, type(err).__name__, str(err))


@app.post("/recordings/<session_id>/parties")
def party_joins(session_id: str) -> Response:
    return _party(
        session_id,
        "party_join_request",
        lambda body: joins.join(session_id, body, actor="api"),
    )


@app.post("/recordings/<session_id>/parties/consent")
def party_consent(session_id: str) -> Response:
    return _party(
        session_id,
        "party_consent_request",
        lambda body: joins.answer(session_id, body["partyId"], body["answer"], actor="api"),
    )


@app.post("/recordings/<session_id>/suspend")
def suspend_recording(session_id: str) -> Response:
    return _window(session_id, "suspend")


@app.post("/recordings/<session_id>/resume")
def resume_recording(session_id: str) -> Response:
    return _window(session_id, "resume")


@app.not_found
def unmatched(_: Exception) -> Response:
    """API Gateway matched a resource the resolver's path pattern does not (e.g. a session id with characters
    outside it): answer in the API's own error shape, naming the field."""
    if "{sessionId}" in (app.current_event.resource or ""):
        return _error(400, "InvalidRequest", "sessionId must be a session id (a UUID)", "sessionId")
    return _error(404, "NotFound", "no such route")


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
