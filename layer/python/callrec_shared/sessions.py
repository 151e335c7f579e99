"""Recording sessions as the entry points see them: start one, read it, answer its consent question,
and signal it (suspend, resume, stop, hang-up). Every request leaves an audit record; none carries a
sensitive value.

Signals form a queue per session in the signals table: `sig#0000000001`, `sig#0000000002`, ... Each
is enqueued in one transaction with the session's counter `signalSeq` (and, with an idempotency key,
a `key#...` marker, so a repeat is a no-op). The workflow applies them in order and marks each
`applied` (the provider confirmed), `rejected` (with the reason) or `failed` (the provider's error),
raising `processedSeq`; it parks (`waitToken`, `waitingFor` = control) only while every signal is
processed, so a signal that arrives while it is busy is never lost. Whoever sends a suspend or resume
can wait, bounded, for its own signal's outcome: confirmed means the provider confirmed.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from callrec_shared import audit_chain, clock, opening, recording_state
from callrec_shared.aws import client, settings

TERMINAL = {"RECORDED", "NOT_RECORDED", "FAILED"}
KINDS = ("suspend", "resume", "stop", "hangup")
QUEUED, TAKEN, APPLIED, REJECTED, FAILED, WITHDRAWN = "queued", "taken", "applied", "rejected", "failed", "withdrawn"
REFUSED = "refused"  # what callers hear of a signal some caller was told no about while it was applied (then undone)
PENDING = (QUEUED, TAKEN)  # not answered yet: waiting in the queue, or being applied by the workflow
UNDO = {"suspend": "resume", "resume": "suspend"}
ENDS = ("stop", "hangup")  # the signals that end the call's recording: always taken, never refused by the limit
# Why a window is open: `pci` (sensitive input, asked by the API, the contact flow or the SIP media application),
# `hold` (the customer is on hold) or `consent` (a party who joined has not yet heard the notice or opted in:
# callrec_shared.joins). One window holds them all when they overlap; recording resumes only once none does.
WINDOW_REASONS = ("pci", "hold", "consent")
_JSON_FIELDS = ("call", "consent", "consentAnswer", "verificationChecks")
_HIDDEN = ("waitToken",)
_deserializer = TypeDeserializer()


class SessionConflict(Exception):
    """The call already has a session started with a different request."""


class SessionNotFound(Exception):
    """No session with that id."""


class NotWaiting(Exception):
    """The session is not waiting for what was sent (e.g. a consent answer after it was given)."""


class SessionEnded(Exception):
    """The session has already ended."""


class SignalLimitReached(SessionEnded):
    """The call has had its most signals (MaxSignalsPerCall, which keeps its workflow below Step Functions'
    history quota): it takes no more suspend or resume, only its end. A SessionEnded for the windows."""


class SignalConflict(Exception):
    """An idempotency key was used before for a different signal."""


def now() -> str:
    return clock.stamp()


def _audit_item(session_id: str, event: str, actor: str, **details: str) -> dict[str, Any]:
    return {
        "sessionId": {"S": session_id},
        "at": {"S": f"{now()}#{event}#{uuid.uuid4().hex[:8]}"},
        "event": {"S": event},
        "actor": {"S": actor},
        **{key: {"S": str(value)} for key, value in details.items()},
    }


def audit(session_id: str, event: str, actor: str, **details: str) -> None:
    """Append an audit record (insert-only; the next seal chains it: audit_chain)."""
    client("dynamodb").put_item(
        TableName=settings().audit_table,
        Item=_audit_item(session_id, event, actor, **details),
        ConditionExpression="attribute_not_exists(#at)",
        ExpressionAttributeNames={"#at": "at"},
    )


def start(request: dict[str, Any], actor: str) -> dict[str, Any]:
    """Validate the request, decide its consent policy and start the call's RecordingSession with both
    (opening.normalise, opening.decided). Idempotent for the same request, also after the session has ended: Step Functions refuses
    a closed execution's name even for the same input, so a client's retry is recognised here by comparing the
    normalised requests (the decision of the first start stands). A policy that cannot decide starts nothing:
    the session ends FAILED, audited, and ConsentPolicyFailed is raised for the entry point to answer; a later
    start of that session is refused the same way (the refusal is final: nothing is recorded on a guess).
    Returns the session id, the execution's ARN and the consent decision (what the SMA handler plays at once)."""
    session = opening.normalise(request)
    session_id = session["sessionId"]
    refused = _item(session_id)
    if refused is not None and "endedAt" in refused and "executionArn" not in refused:
        raise opening.ConsentPolicyFailed("an earlier start of this session was refused; the refusal is final")
    audit(session_id, "START_REQUESTED", actor, provider=request["provider"])  # before the workflow's own records
    arn: str | None
    decision: dict[str, Any] | None = None
    try:
        opened = opening.decided(session)
        decision = opened["consent"]["decision"]
        arn = _start_execution(session_id, opened)
    except opening.ConsentPolicyFailed as err:
        arn = _started(session_id, session)  # a retry of a start that went in: its decision stands
        if arn is None:
            _refuse_start(session_id, actor, str(err))
            raise
    except ClientError as err:
        if err.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        arn = _started(session_id, session)
        if arn is None:
            raise SessionConflict(f"session {session_id} was started for this call with a different request") from err
    return {"sessionId": session_id, "executionArn": arn, **({"decision": decision} if decision else {})}


def _start_execution(session_id: str, opened: dict[str, Any]) -> str:
    started = client("stepfunctions").start_execution(
        stateMachineArn=settings().recording_session_arn,
        name=session_id,
        input=json.dumps(opened, sort_keys=True, separators=(",", ":")),
    )
    return str(started["executionArn"])


def _started(session_id: str, session: dict[str, Any]) -> str | None:
    """The execution already started for this session with the same normalised request (its ARN), or None."""
    sfn = client("stepfunctions")
    arn = _execution_arn(session_id)
    try:
        given = json.loads(sfn.describe_execution(executionArn=arn).get("input") or "null")
    except sfn.exceptions.ExecutionDoesNotExist:
        return None
    same = isinstance(given, dict) and {k: v for k, v in given.items() if k != "consent"} == session
    return arn if same else None


def _refuse_start(session_id: str, actor: str, reason: str) -> None:
    """The policy could not decide and nothing started: the session FAILED with why, audited and sealed. A session
    an execution already opened is left alone."""
    at = now()
    try:
        client("dynamodb").update_item(
            TableName=settings().sessions_table,
            Key={"sessionId": {"S": session_id}},
            UpdateExpression="SET #status = :failed, outcomeReason = :reason, endedAt = :at, updatedAt = :at, "
            "closing = :yes",
            ConditionExpression="attribute_not_exists(executionArn)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":failed": {"S": "FAILED"},
                ":reason": {"S": f"the consent policy could not decide ({reason}); nothing was recorded"},
                ":at": {"S": at},
                ":yes": {"BOOL": True},
            },
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return
    audit(session_id, "CONSENT_POLICY_FAILED", actor, status="FAILED")
    audit_chain.seal(session_id, actor)


def _execution_arn(session_id: str) -> str:
    """The session's RecordingSession execution (the entry points name it after the session)."""
    return settings().recording_session_arn.replace(":stateMachine:", ":execution:") + f":{session_id}"


def from_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB answers it (or a stream record's image), as Python values."""
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _item(session_id: str) -> dict[str, Any] | None:
    found = (
        client("dynamodb")
        .get_item(TableName=settings().sessions_table, Key={"sessionId": {"S": session_id}}, ConsistentRead=True)
        .get("Item")
    )
    return None if found is None else from_dynamodb(found)


def require(session_id: str) -> dict[str, Any]:
    """The session's view (see get); SessionNotFound if there is none."""
    view = get(session_id)
    if view is None:
        raise SessionNotFound(session_id)
    return view


def get(session_id: str) -> dict[str, Any] | None:
    """The session as an operator sees it (JSON fields parsed, the task token left out, the recording's location
    the verified object's once VerifyRecording found it)."""
    item = _item(session_id)
    if item is None:
        return None
    view = {key: _plain(value) for key, value in item.items() if key not in _HIDDEN}
    view.setdefault("status", "OPENING")  # an early signal or answer was kept; the workflow has not opened it yet
    if view.get("verifiedObject"):  # where the recording really is, once verification found it (Connect: not before)
        view["recordingLocation"] = view["verifiedObject"].removeprefix("s3://")
    for key in _JSON_FIELDS:
        if key in view:
            view[key] = json.loads(view[key])
    view["recordingState"] = recording_state.of(view)
    return view


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the views are JSON."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):  # a string set (suspendedFor): sorted, as JSON has no sets
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


FIRST_POLL_SECONDS, LONGEST_POLL_SECONDS = 0.02, 0.25


def poll(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float) -> Any:
    """Read until `done` or the deadline, and answer the last read. The pause between reads starts at 20 ms
    and grows by half up to 250 ms: a quick answer is seen quickly, and a slow one costs a few reads, not
    fifty a second (each one a strongly consistent DynamoDB read)."""
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL_SECONDS
    while True:
        value = read()
        remaining = deadline - time.monotonic()
        if done(value) or remaining <= 0:
            return value
        time.sleep(min(pause, remaining))
        pause = min(pause * 1.5, LONGEST_POLL_SECONDS)


def wait_until(session_id: str, ready: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
    """Poll the session until `ready` or the deadline; the last view (None if it never appeared)."""
    return poll(lambda: get(session_id), lambda view: view is not None and ready(view), timeout)


def answer_consent(session_id: str, answer: str, actor: str, **evidence: str) -> None:
    """Report the caller's consent answer: the contact flow (Connect) or the SMA handler (Chime), after playing the
    notice or asking; `evidence` is kept with it (the key pressed; a prompt that failed: its error and cause).

    If the workflow is parked in its consent wait, this completes it. If it has not parked yet (a busy
    stack), the answer is left on the session (`reportedConsent`) and the wait takes it instead of parking
    (its condition refuses to park once an answer is there), so an early answer is never lost."""
    item = _item(session_id) or _opening(session_id)
    if item is None:
        raise SessionNotFound(session_id)
    if item.get("status") in TERMINAL or "consentAnswer" in item or "reportedConsent" in item:
        raise NotWaiting(f"session {session_id} is not waiting for a consent answer (status {item.get('status')})")
    reported = {"answer": answer, "by": actor, "at": now(), **evidence}
    if "waitToken" not in item:
        try:
            client("dynamodb").update_item(
                TableName=settings().sessions_table,
                Key={"sessionId": {"S": session_id}},
                UpdateExpression="SET reportedConsent = :r",
                ConditionExpression=("" if item.get(OPENING) else "attribute_exists(sessionId) AND ")
                + "attribute_not_exists(reportedConsent) AND attribute_not_exists(consentAnswer)",
                ExpressionAttributeValues={":r": {"M": {key: {"S": value} for key, value in reported.items()}}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotWaiting(f"session {session_id} already has its consent answer") from err
            raise
        audit(session_id, "CONSENT_ANSWER_REPORTED", actor, answer=answer, **evidence)
        item = _item(session_id) or {}
        if item.get("waitingFor") != "consent" or "waitToken" not in item:
            return  # not parked: the consent wait finds the answer instead of parking
        if _take_token(session_id, item["waitToken"]):  # it parked just before the answer was written
            _complete(item["waitToken"], reported)
        return
    if item.get("waitingFor") != "consent":
        raise NotWaiting(f"session {session_id} is not waiting for a consent answer (status {item.get('status')})")
    token = item["waitToken"]
    if not _take_token(session_id, token):  # a repeated answer cannot complete the task twice
        raise NotWaiting(f"session {session_id} already has its consent answer")
    # audited before the workflow hears it: its CONSENT_ANSWERED can never come first in the trail
    audit(session_id, "CONSENT_ANSWER_REPORTED", actor, answer=answer, **evidence)
    _complete(token, reported)


def signal(
    session_id: str,
    kind: str,
    actor: str,
    key: str | None = None,
    wait_seconds: float = 0.0,
    contact_id: str | None = None,
    reason: str = "pci",
) -> dict[str, Any]:
    """Queue a signal for the session and wake the workflow; with `wait_seconds`, wait for its outcome.
    A suspend or resume names the window's `reason` (WINDOW_REASONS).

    Returns {sessionId, seq, kind, status, reason?, duplicate}: status `applied` only once the provider
    confirmed. When the deadline passes first, the caller is told no (the safe path) and that answer stays
    true: a signal still queued is withdrawn (it never takes effect); one the workflow is already applying
    gets its undoing queued right behind it, so a late confirmation is reverted (see refuse_late)."""
    seq, duplicate = _send(session_id, kind, actor, key, contact_id, reason)
    outcome = _outcome(session_id, seq, wait_seconds)
    if wait_seconds > 0 and outcome["status"] in PENDING and kind in UNDO and not duplicate:
        outcome = refuse_late(session_id, seq, kind, actor, window_reason=reason)
    return {**outcome, "duplicate": duplicate}


def request(
    session_id: str,
    kind: str,
    actor: str,
    key: str | None = None,
    contact_id: str | None = None,
    reason: str = "pci",
    wait_seconds: float = 0.0,
) -> dict[str, Any]:
    """Queue a signal and wake the workflow, waiting for nothing (an end; a window an outside system asks the
    SIP media application for, or a hold, with no one to answer): its outcome as it stands now. With
    `wait_seconds`, its outcome once answered or at that deadline; unlike `signal`, a signal still pending then
    stays queued (whoever asked acts on its later outcome)."""
    seq, duplicate = _send(session_id, kind, actor, key, contact_id, reason)
    return {**_outcome(session_id, seq, wait_seconds), "duplicate": duplicate}


def _reject_late(session_id: str, kind: str, actor: str, reason: str) -> None:
    """A signal that came as the session ended or after: audited as rejected; a late end (the caller hangs up after
    the session ended) is sealed too, as every end is, whenever it comes (the trail may be closed already)."""
    audit(session_id, "SIGNAL_REJECTED", actor, signal=kind, reason=reason)
    if kind in ENDS:
        audit_chain.seal(session_id, actor)


def _send(
    session_id: str, kind: str, actor: str, key: str | None, contact_id: str | None, reason: str = "pci"
) -> tuple[int, bool]:
    """Check, queue and wake: (the signal's seq, whether it repeats one already queued under its key)."""
    if kind not in KINDS:
        raise ValueError(f"signal must be one of {KINDS}")
    if reason not in WINDOW_REASONS:
        raise ValueError(f"a window's reason must be one of {WINDOW_REASONS}")
    current = _item(session_id) or _opening(session_id)
    if current is None:
        raise SessionNotFound(session_id)
    if current.get("status") in TERMINAL:
        _reject_late(session_id, kind, actor, f"session ended ({current['status']})")
        raise SessionEnded(f"session {session_id} has ended ({current['status']})")
    limit = settings().max_signals_per_call
    if kind in UNDO and int(current.get("signalSeq", 0)) >= limit:
        audit(session_id, "SIGNAL_REJECTED", actor, signal=kind, reason=f"the call has had its {limit} signals")
        raise SignalLimitReached(f"session {session_id} has had its {limit} signals: no more windows, only its end")
    # Connect: the contact the signal is for (the current one after a transfer), else the last one reported
    contact_id = contact_id or current.get("currentContactId")
    seq, duplicate = _enqueue(
        session_id, kind, actor, key, opening=bool(current.get(OPENING)), contact_id=contact_id, reason=reason
    )
    if not duplicate:
        _wake(session_id, kind, actor)
    return seq, duplicate


# What a refusal leaves, said with it: a refused resume leaves the window open (the recording stays paused), and
# the window limit still ends it; a refused suspend leaves the recording running (take no card).
AFTER_REFUSAL = {
    "suspend": "; the recording was not paused: do not take the card",
    "resume": "; the window stays open (the recording stays paused) until a resume is confirmed or the window "
    "limit ends it",
}


def refuse_late(session_id: str, seq: int, kind: str, actor: str, window_reason: str = "pci") -> dict[str, Any]:
    """The caller's deadline passed without the provider's confirmation: the caller is told no, and nothing
    may contradict that later. Withdraw the signal if the workflow has not taken it (atomic against its
    claim); if it has, queue the opposite signal behind it, so that if the provider confirms late the
    window is closed (or reopened) again at once. Either way it is audited."""
    key = {"sessionId": {"S": session_id}, "sk": {"S": _signal_key(seq)}}
    reason = "not confirmed before the deadline; withdrawn, it will not take effect" + AFTER_REFUSAL[kind]
    try:
        client("dynamodb").update_item(
            TableName=settings().signals_table,
            Key=key,
            ConditionExpression="#status = :queued",
            UpdateExpression="SET #status = :withdrawn, reason = :reason, withdrawnAt = :at",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":queued": {"S": QUEUED},
                ":withdrawn": {"S": WITHDRAWN},
                ":reason": {"S": reason},
                ":at": {"S": now()},
            },
        )
        audit(session_id, "SIGNAL_WITHDRAWN", actor, signal=kind, seq=str(seq), reason="the caller's deadline passed")
        return {"sessionId": session_id, "seq": seq, "kind": kind, "status": WITHDRAWN, "reason": reason}
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    try:  # the refusal is recorded on the signal while it is still being applied: every later answer says no
        client("dynamodb").update_item(
            TableName=settings().signals_table,
            Key=key,
            ConditionExpression="#status = :taken",
            UpdateExpression="SET refusedAt = :at",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":taken": {"S": TAKEN}, ":at": {"S": now()}},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return _outcome(session_id, seq, 0.0)  # answered meanwhile: applied (just in time), rejected or failed
    try:
        undo_seq, _ = _enqueue(session_id, UNDO[kind], "deadline", None, reason=window_reason)
    except SessionEnded:  # the call's end is queued behind it: the end closes the window with the recording
        return {**_outcome(session_id, seq, 0.0), "reason": "not confirmed before the deadline; the call is ending"}
    _wake(session_id, UNDO[kind], "deadline")
    audit(
        session_id,
        "LATE_CONFIRMATION_REVERTED",
        actor,
        signal=kind,
        seq=str(seq),
        undoSeq=str(undo_seq),
        reason="the caller was told no while the provider was still asked; the opposite signal is queued behind it",
    )
    return {
        **_outcome(session_id, seq, 0.0),
        "reason": f"not confirmed before the deadline; if the provider confirms "
        f"late, signal {undo_seq} ({UNDO[kind]}) undoes it" + AFTER_REFUSAL[kind],
    }


def end(session_id: str, kind: str, actor: str, contact_id: str | None = None) -> dict[str, Any]:
    """Ask the session to end (`stop`: stop recording; `hangup`: the call is over)."""
    if kind not in ENDS:
        raise ValueError("an end signal is stop or hangup")
    return request(session_id, kind, actor, contact_id=contact_id)


OPENING = "opening"  # marks the view of a session whose execution runs but has not written its record yet


def _opening(session_id: str) -> dict[str, Any] | None:
    """A session whose execution has started but not yet written its record: a hang-up or a consent answer
    can come that early (a busy stack). Rather than refuse it, the entry point writes what it has to the
    session's key (signalSeq/endRequested or reportedConsent), and "Open Session Record" completes that
    record instead of creating it. None if no execution of that name is running."""
    try:
        status = client("stepfunctions").describe_execution(executionArn=_execution_arn(session_id))["status"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise  # refused or throttled is not "no such session": the caller says it failed, and may retry
        return None
    if status != "RUNNING":
        return None
    return _item(session_id) or {"sessionId": session_id, OPENING: True}


SIGNAL_RETENTION_DAYS = 30  # queue items expire (the table's TTL) long after their session; the audit keeps the record
EXPIRES = "expiresAt"  # the SignalsTable's TimeToLiveSpecification attribute


def _expiry() -> dict[str, Any]:
    return {"N": str(int(clock.now().timestamp()) + SIGNAL_RETENTION_DAYS * 86400)}


def _signal_key(seq: int) -> str:
    return f"sig#{seq:010d}"


def stored_key(key: str) -> str:
    """An idempotency key as stored: its SHA-256 (callers' keys may carry order or payment references, and the
    signals table keeps them 30 days); equal keys still match."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _enqueue(
    session_id: str,
    kind: str,
    actor: str,
    key: str | None,
    opening: bool = False,
    contact_id: str | None = None,
    reason: str = "pci",
) -> tuple[int, bool]:
    """Append the signal atomically with the session's counter and its SIGNAL_RECEIVED audit record (so
    the audit can never show the workflow applying a signal before receiving it); (seq, is it a repeat).
    For a session still `opening`, the counter may create the record the workflow then completes."""
    tables = settings()
    dynamodb = client("dynamodb")
    for _ in range(50):  # concurrent senders race for the next number; the loser retries with a fresh one
        seq = int((_item(session_id) or {}).get("signalSeq", 0)) + 1
        item = {
            "sessionId": {"S": session_id},
            "sk": {"S": _signal_key(seq)},
            "seq": {"N": str(seq)},
            "kind": {"S": kind},
            "by": {"S": actor},
            "requestedAt": {"S": now()},
            "status": {"S": QUEUED},
            EXPIRES: _expiry(),
        }
        if contact_id:
            item["contactId"] = {"S": contact_id}
        window = {"reason": reason} if kind in UNDO else {}
        if window:
            item["windowReason"] = {"S": reason}
        writes = [
            {
                "Put": {
                    "TableName": tables.signals_table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            }
        ]
        if key:
            item["idempotencyKey"] = {"S": stored_key(key)}
            writes.append(
                {
                    "Put": {
                        "TableName": tables.signals_table,
                        "ConditionExpression": "attribute_not_exists(sk)",
                        "Item": {
                            "sessionId": {"S": session_id},
                            "sk": {"S": f"key#{stored_key(key)}"},
                            "seq": {"N": str(seq)},
                            "kind": {"S": kind},
                            **({"windowReason": {"S": reason}} if window else {}),
                            EXPIRES: _expiry(),
                        },
                    }
                }
            )
        writes.append(
            {
                "Update": {
                    "TableName": tables.sessions_table,
                    "Key": {"sessionId": {"S": session_id}},
                    # an end also marks the session, so a consent wait that has not parked yet sees it
                    # (endRequestedAt, the first request's time, bounds when the recording ended for its verification)
                    "UpdateExpression": "SET signalSeq = :seq"
                    + (
                        ", endRequested = :kind, endRequestedAt = if_not_exists(endRequestedAt, :at)"
                        if kind in ENDS
                        else ""
                    )
                    + (", currentContactId = :contact" if contact_id else ""),
                    # a closing session (its outcome is being recorded) takes no more signals, and nothing queues
                    # behind an end: the workflow that takes the end has nothing left to answer after it
                    "ConditionExpression": ("" if opening else "attribute_exists(sessionId) AND ")
                    + "attribute_not_exists(closing) AND attribute_not_exists(endRequested) AND "
                    + ("signalSeq = :previous" if seq > 1 else "attribute_not_exists(signalSeq)"),
                    "ExpressionAttributeValues": {
                        ":seq": {"N": str(seq)},
                        **({":previous": {"N": str(seq - 1)}} if seq > 1 else {}),
                        **({":kind": {"S": kind}, ":at": item["requestedAt"]} if kind in ENDS else {}),
                        **({":contact": {"S": contact_id}} if contact_id else {}),
                    },
                }
            }
        )
        writes.append(
            {
                "Put": {
                    "TableName": tables.audit_table,
                    "Item": _audit_item(session_id, "SIGNAL_RECEIVED", actor, signal=kind, seq=str(seq), **window),
                }
            }
        )
        try:
            dynamodb.transact_write_items(TransactItems=writes)
            if kind in ENDS:  # the call's end: seal what the audit holds so far
                audit_chain.seal(session_id, actor)
            return seq, False
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise
        time.sleep(random.uniform(0, 0.05))  # jittered: concurrent senders must not retry in lock-step
        current = _item(session_id) or {}
        if current.get("closing") or current.get("status") in TERMINAL:
            _reject_late(session_id, kind, actor, "the session is ending")
            raise SessionEnded(f"session {session_id} is ending ({current.get('status')})")
        if key:
            earlier = dynamodb.get_item(
                TableName=tables.signals_table,
                ConsistentRead=True,
                Key={"sessionId": {"S": session_id}, "sk": {"S": f"key#{stored_key(key)}"}},
            ).get("Item")
            if earlier is not None:  # a repeat only if it asks the same: the kind, and a window's reason
                used = (earlier["kind"]["S"], earlier.get("windowReason", {}).get("S", "pci" if window else None))
                if used != (kind, window.get("reason")):
                    named = f"{used[0]} ({used[1]})" if used[1] else used[0]
                    raise SignalConflict(f"the idempotency key was used for a {named} signal")
                return int(earlier["seq"]["N"]), True
        if current.get("endRequested"):
            _reject_late(session_id, kind, actor, "the call is ending")
            raise SessionEnded(f"session {session_id} is ending (its {current['endRequested']} is queued)")
    raise RuntimeError(f"could not queue a {kind} signal for session {session_id}: too much contention")


def _wake(session_id: str, kind: str, actor: str) -> None:
    """Release whatever the workflow is parked on, so it takes the next signal (or, in consent, ends)."""
    item = _item(session_id) or {}
    token, waiting_for = item.get("waitToken"), item.get("waitingFor")
    if not token or waiting_for not in ("control", "consent"):
        return  # busy: its park is refused, and it takes the signal then
    if waiting_for == "consent" and kind not in ENDS:
        return  # a window before recording starts is applied once it has started
    if not _take_token(session_id, token):
        return  # someone else took the token and woke it
    if waiting_for == "control":  # the workflow takes the next signal by its number
        _complete(token, {"woken": kind})
    else:
        _fail(token, "CallerHungUp" if kind == "hangup" else "StopRequested", f"{kind} requested by {actor}")


def _outcome(session_id: str, seq: int, wait_seconds: float) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        found = (
            client("dynamodb")
            .get_item(
                TableName=settings().signals_table,
                ConsistentRead=True,
                Key={"sessionId": {"S": session_id}, "sk": {"S": _signal_key(seq)}},
            )
            .get("Item", {})
        )
        return from_dynamodb(found)

    view = poll(read, lambda found: found.get("status", QUEUED) not in PENDING or "refusedAt" in found, wait_seconds)
    status = view.get("status", QUEUED)
    if "refusedAt" in view:  # a caller was told no while it was applied: so is everyone who asks after
        status = REFUSED
    result = {"sessionId": session_id, "seq": seq, "kind": view.get("kind"), "status": status}
    for optional in ("reason", "confirmedAt", "windowStaysOpen"):  # windowStaysOpen: its reason ended, another holds
        if optional in view:
            result[optional] = view[optional]
    return result


def in_effect(outcome: dict[str, Any]) -> bool:
    """Does the recording now do what the signal asked (suspended after a suspend, recording after a resume)? A
    resume whose reason ended while another still holds the window (the customer is on hold) was applied, but
    the recording stays suspended: its caller is told `resumed: false`, with the reason."""
    return outcome["status"] == APPLIED and not outcome.get("windowStaysOpen")


def signals(session_id: str) -> list[dict[str, Any]]:
    """The session's signals in order, as the workflow left them."""
    items = client("dynamodb").query(
        TableName=settings().signals_table,
        ConsistentRead=True,
        KeyConditionExpression="sessionId = :s AND begins_with(sk, :p)",
        ExpressionAttributeValues={":s": {"S": session_id}, ":p": {"S": "sig#"}},
    )["Items"]
    return [from_dynamodb(item) for item in items]


def _take_token(session_id: str, token: str) -> bool:
    """Remove the workflow's task token from the session if it is still there: exactly one caller wins
    it, so a wait is completed once."""
    try:
        client("dynamodb").update_item(
            TableName=settings().sessions_table,
            Key={"sessionId": {"S": session_id}},
            UpdateExpression="REMOVE waitToken, waitingFor",
            ConditionExpression="waitToken = :t",
            ExpressionAttributeValues={":t": {"S": token}},
        )
        return True
    except ClientError as err:
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise


def _complete(token: str, output: dict[str, Any]) -> None:
    _deliver(lambda sfn: sfn.send_task_success(taskToken=token, output=json.dumps(output)))


def _fail(token: str, error: str, cause: str) -> None:
    _deliver(lambda sfn: sfn.send_task_failure(taskToken=token, error=error, cause=cause))


def complete_task(token: str, output: dict[str, Any]) -> None:
    """Complete a task token held elsewhere (the SMA handler keeps its own)."""
    _complete(token, output)


def fail_task(token: str, error: str, cause: str) -> None:
    _fail(token, error, cause)


def task_is_live(token: str) -> bool:
    """Is a workflow task waiting on this token right now? (SendTaskHeartbeat answers only for an open task:
    a made-up, used or expired token is refused.)"""
    try:
        client("stepfunctions").send_task_heartbeat(taskToken=token)
    except ClientError as err:
        if err.response["Error"]["Code"] in (
            "InvalidToken",
            "TaskDoesNotExist",
            "TaskTimedOut",
            "InvalidParameterException",
        ):
            return False
        raise
    return True


def _deliver(send: Callable[[Any], Any]) -> None:
    """Send to a waiting task; a token that is no longer waited on (the workflow moved on) is ignored:
    the signal itself is already in the session item."""
    try:
        send(client("stepfunctions"))
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("InvalidToken", "TaskDoesNotExist", "TaskTimedOut"):
            raise
