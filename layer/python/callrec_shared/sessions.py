"""Recording sessions as the entry points see them: start one, read it, answer its consent question,
end it. Every request leaves an audit record; none carries a sensitive value.

The workflow parks on task tokens that it writes into the session item (`waitToken`, `waitingFor`):
`consent` while a contact flow plays the notice, `control` while the call is recorded. End signals
are written first (`endSignal`, conditional), then delivered to whatever the workflow waits on, so a
signal that arrives while the workflow is busy is found by the workflow instead of being lost.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from callrec_shared.aws import client, settings
from callrec_shared.identity import session_id_for
from callrec_shared.validation import validate

TERMINAL = {"RECORDED", "NOT_RECORDED", "FAILED"}
END_SIGNALS = ("stop", "hangup")
_JSON_FIELDS = ("call", "consent", "consentAnswer")
_HIDDEN = ("waitToken",)
_deserializer = TypeDeserializer()


class SessionConflict(Exception):
    """The call already has a session started with a different request."""


class SessionNotFound(Exception):
    """No session with that id."""


class NotWaiting(Exception):
    """The session is not waiting for what was sent (e.g. a consent answer after it was given)."""


class SessionEnded(Exception):
    """The session has already ended, or an end was already requested."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit(session_id: str, event: str, actor: str, **details: str) -> None:
    item = {
        "sessionId": {"S": session_id},
        "at": {"S": f"{now()}#{event}#{uuid.uuid4().hex[:8]}"},
        "event": {"S": event},
        "actor": {"S": actor},
        **{key: {"S": str(value)} for key, value in details.items()},
    }
    client("dynamodb").put_item(TableName=settings().audit_table, Item=item, ConditionExpression="attribute_not_exists(#at)",
                                ExpressionAttributeNames={"#at": "at"})


def start(request: dict, actor: str) -> dict:
    """Validate the request and start the call's RecordingSession (idempotent for the same request)."""
    validate(request, "start_recording_request")
    session_id = session_id_for(request)
    sfn = client("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=settings().recording_session_arn,
            name=session_id,
            input=json.dumps(request, sort_keys=True, separators=(",", ":")),
        )
    except ClientError as err:
        if err.response["Error"]["Code"] == "ExecutionAlreadyExists":
            raise SessionConflict(f"session {session_id} was started for this call with a different request") from err
        raise
    audit(session_id, "START_REQUESTED", actor, provider=request["provider"])
    return {"sessionId": session_id, "executionArn": started["executionArn"]}


def _item(session_id: str) -> dict | None:
    found = client("dynamodb").get_item(
        TableName=settings().sessions_table, Key={"sessionId": {"S": session_id}}, ConsistentRead=True
    ).get("Item")
    return None if found is None else {key: _deserializer.deserialize(value) for key, value in found.items()}


def get(session_id: str) -> dict | None:
    """The session as an operator sees it (JSON fields parsed, the task token left out)."""
    item = _item(session_id)
    if item is None:
        return None
    view = {key: value for key, value in item.items() if key not in _HIDDEN}
    for key in _JSON_FIELDS:
        if key in view:
            view[key] = json.loads(view[key])
    return view


def wait_until(session_id: str, ready: Callable[[dict], bool], timeout: float, poll: float = 0.05) -> dict | None:
    """Poll the session until `ready` or the deadline; the last view (None if it never appeared)."""
    deadline = time.monotonic() + timeout
    while True:
        view = get(session_id)
        if view is not None and ready(view):
            return view
        if time.monotonic() >= deadline:
            return view
        time.sleep(poll)


def answer_consent(session_id: str, answer: str, actor: str) -> None:
    """Complete the workflow's consent wait (Connect: the contact flow reports what the caller did)."""
    item = _item(session_id)
    if item is None:
        raise SessionNotFound(session_id)
    if item.get("waitingFor") != "consent" or "waitToken" not in item:
        raise NotWaiting(f"session {session_id} is not waiting for a consent answer (status {item.get('status')})")
    token = item["waitToken"]
    try:  # take the token, so a repeated answer cannot complete the task twice
        client("dynamodb").update_item(
            TableName=settings().sessions_table, Key={"sessionId": {"S": session_id}},
            UpdateExpression="REMOVE waitToken, waitingFor", ConditionExpression="waitToken = :t",
            ExpressionAttributeValues={":t": {"S": token}},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise NotWaiting(f"session {session_id} already has its consent answer") from err
        raise
    _complete(token, {"answer": answer, "by": actor, "at": now()})
    audit(session_id, "CONSENT_ANSWER_REPORTED", actor, answer=answer)


def end(session_id: str, signal: str, actor: str) -> dict:
    """Ask the session to end (`stop`: stop recording; `hangup`: the call is over)."""
    if signal not in END_SIGNALS:
        raise ValueError(f"signal must be one of {END_SIGNALS}")
    current = _item(session_id)
    if current is None:
        raise SessionNotFound(session_id)
    if current.get("status") in TERMINAL:
        raise SessionEnded(f"session {session_id} has ended ({current['status']})")
    try:
        item = client("dynamodb").update_item(
            TableName=settings().sessions_table, Key={"sessionId": {"S": session_id}},
            UpdateExpression="SET endSignal = :s, endSignalBy = :by, endRequestedAt = :at",
            ConditionExpression="attribute_exists(sessionId) AND attribute_not_exists(endSignal)",
            ExpressionAttributeValues={":s": {"S": signal}, ":by": {"S": actor}, ":at": {"S": now()}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as err:
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise SessionEnded(f"session {session_id} is already ending") from err
        raise
    audit(session_id, "END_REQUESTED", actor, signal=signal)
    waiting_for = item.get("waitingFor", {}).get("S")
    token = item.get("waitToken", {}).get("S")
    if token and waiting_for == "control":
        _complete(token, {"signal": signal, "by": actor})
    elif token and waiting_for == "consent":
        _fail(token, "CallerHungUp" if signal == "hangup" else "StopRequested", f"{signal} requested by {actor}")
    return {"sessionId": session_id, "signal": signal, "accepted": True}


def _complete(token: str, output: dict) -> None:
    _deliver(lambda sfn: sfn.send_task_success(taskToken=token, output=json.dumps(output)))


def _fail(token: str, error: str, cause: str) -> None:
    _deliver(lambda sfn: sfn.send_task_failure(taskToken=token, error=error, cause=cause))


def complete_task(token: str, output: dict) -> None:
    """Complete a task token held elsewhere (the SMA handler keeps its own)."""
    _complete(token, output)


def fail_task(token: str, error: str, cause: str) -> None:
    _fail(token, error, cause)


def _deliver(send: Callable[[Any], Any]) -> None:
    """Send to a waiting task; a token that is no longer waited on (the workflow moved on) is ignored:
    the signal itself is already in the session item."""
    try:
        send(client("stepfunctions"))
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("InvalidToken", "TaskDoesNotExist", "TaskTimedOut"):
            raise
