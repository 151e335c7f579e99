"""The Chime SDK SIP media application's Lambda: the call side of RecordingSession.

- NEW_INBOUND_CALL starts the call's RecordingSession; for an outbound call (CreateSipMediaApplicationCall),
  CALL_ANSWERED does (NEW_OUTBOUND_CALL and RINGING need nothing: the service ignores what is answered).
- CALL_UPDATE_REQUESTED carries what the workflow asks for (op consent / start-recording /
  stop-recording) with the task token the workflow waits on; the token rides in
  TransactionAttributes until the action's outcome arrives.
- ACTION_SUCCESSFUL / ACTION_FAILED complete or fail that task: the consent answer, the recording
  destination, or the provider's error (both shapes of ACTION_FAILED).
- HANGUP signals the session that the call ended and fails a pending task with CallerHungUp.
- Sensitive-input windows: the workflow's ops suspend-recording / resume-recording return
  PauseCallRecording / ResumeCallRecording, whose ACTION_SUCCESSFUL is the provider's confirmation.
- Only the workflow drives recording: an op that plays the consent prompt or starts, stops, pauses or
  resumes recording is acted on only when it names the call's session and carries a task token the
  workflow is waiting on right now (checked with SendTaskHeartbeat). Anything else is answered with no
  actions and audited as OUTSIDE_REQUEST_REFUSED. An outside system (a payment IVR, an agent desktop) can ask for a window through
  UpdateSipMediaApplicationCall with op request-suspend / request-resume (and an optional
  idempotencyKey): that queues the signal on the session; it does not wait (the SMA invokes this
  function one event at a time, and the pause itself comes back through it).

It never lets an exception reach the SMA: on any error it answers with no actions (the call goes on,
nothing is recorded by it) and logs the failure. Digits other than the consent answer are never
logged or stored.
"""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import sessions
from callrec_shared.consent import load_policy
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

PENDING, TOKEN, SESSION = "pending", "token", "sessionId"


@lru_cache(maxsize=1)
def _digits() -> dict[str, str]:
    """The opt-in answer's digits, from the consent policy (config/consent_policy.json)."""
    prompt = load_policy()["prompts"]["opt-in"]
    return {"accepted": prompt["acceptDigit"], "declined": prompt["declineDigit"]}


def response(actions: list[dict], attributes: dict[str, str]) -> dict:
    return {"SchemaVersion": "1.0", "Actions": actions, "TransactionAttributes": attributes}


def _leg_a(event: dict) -> dict:
    return next(p for p in event["CallDetails"]["Participants"] if p["ParticipantTag"] == "LEG-A")


def _error_of(action_data: dict) -> tuple[str, str]:
    """Both shapes of ACTION_FAILED: ErrorType + ErrorMessage, or one 'Code: message' Error string."""
    if "ErrorType" in action_data:
        return action_data["ErrorType"], action_data.get("ErrorMessage", "")
    code, _, message = str(action_data.get("Error", "UnknownError")).partition(":")
    return code.strip(), message.strip()


def on_new_call(event: dict, attributes: dict) -> list[dict]:
    details, leg = event["CallDetails"], _leg_a(event)
    request = {
        "provider": "chime",
        "call": {
            "SipMediaApplicationId": details["SipMediaApplicationId"],
            "TransactionId": details["TransactionId"],
            "CallId": leg["CallId"],
        },
        # a party whose number is missing is an unknown party (all-party consent), never left out
        "parties": [
            {"number": leg[side], "role": role} if leg.get(side) else {"role": role}
            for side, role in (("From", "caller"), ("To", "callee"))
        ],
    }
    try:
        attributes[SESSION] = sessions.start(request, actor="sma")["sessionId"]
    except InvalidRequest as err:
        logger.warning("call not recorded: request invalid", extra={"field": err.field})
    return []


WORKFLOW_OPS = ("consent", "start-recording", "stop-recording", "suspend-recording", "resume-recording")


def refusal(op: str, arguments: dict, attributes: dict) -> str | None:
    """Why a recording op must not be acted on, or None when it comes from this call's RecordingSession: it
    names the call's session and carries a task token that session's workflow is waiting on right now.
    Anyone allowed to call UpdateSipMediaApplicationCall can send any Arguments (IAM cannot restrict them);
    only the workflow holds a live token."""
    if SESSION not in attributes:
        return "the call has no session"
    if arguments.get("sessionId") != attributes[SESSION]:
        return "it does not name this call's session"
    token = arguments.get("token")
    if not token:
        return "it carries no task token"
    if not sessions.task_is_live(token):
        return "its task token is not one the workflow is waiting on"
    return None


def on_update(event: dict, attributes: dict) -> list[dict]:
    arguments = event["ActionData"]["Parameters"]["Arguments"]
    op, call_id = arguments.get("op"), _leg_a(event)["CallId"]
    if op in ("request-suspend", "request-resume"):
        return request_window(op.split("-")[1], arguments, attributes)
    if op in WORKFLOW_OPS:
        refused = refusal(op, arguments, attributes)
        if refused is not None:  # nothing acted on, nothing of the pending task touched
            logger.warning("outside request refused", extra={"op": op, "reason": refused})
            if SESSION in attributes:
                sessions.audit(attributes[SESSION], "OUTSIDE_REQUEST_REFUSED", "sma", op=op, reason=refused)
            return []
    if "token" in arguments:
        attributes[TOKEN] = arguments["token"]
    attributes[PENDING] = op or ""
    if op == "consent":
        prompt = {"Type": "S3", "BucketName": arguments["promptBucket"], "Key": arguments["promptKey"]}
        if arguments.get("mode") == "notice":
            return [{"Type": "PlayAudio", "Parameters": {"CallId": call_id, "AudioSource": prompt}}]
        return [
            {
                "Type": "PlayAudioAndGetDigits",
                "Parameters": {
                    "CallId": call_id,
                    "AudioSource": prompt,
                    "FailureAudioSource": prompt,
                    "MinNumberOfDigits": 1,
                    "MaxNumberOfDigits": 1,
                    "InputDigitsRegex": f"^[{''.join(sorted(_digits().values()))}]$",
                    "Repeat": 2,
                },
            }
        ]
    if op == "start-recording":
        return [
            {
                "Type": "StartCallRecording",
                "Parameters": {
                    "CallId": call_id,
                    "Track": arguments.get("track", "BOTH"),
                    "Destination": {"Type": "S3", "Location": arguments["location"]},
                },
            }
        ]
    if op == "stop-recording":
        return [{"Type": "StopCallRecording", "Parameters": {"CallId": call_id}}]
    if op == "suspend-recording":
        return [{"Type": "PauseCallRecording", "Parameters": {"CallId": call_id}}]
    if op == "resume-recording":
        return [{"Type": "ResumeCallRecording", "Parameters": {"CallId": call_id}}]
    logger.warning("unknown update op", extra={"op": op})
    attributes.pop(PENDING, None)
    return []


def request_window(kind: str, arguments: dict, attributes: dict) -> list[dict]:
    if SESSION not in attributes:
        logger.warning("window requested on a call without a session", extra={"signal": kind})
        return []
    try:
        sessions.request(attributes[SESSION], kind, actor="sma", key=arguments.get("idempotencyKey"))
    except (sessions.SessionEnded, sessions.SessionNotFound, sessions.SignalConflict) as err:
        logger.warning("window request refused", extra={"signal": kind, "reason": str(err)})
    return []


def _take_token(attributes: dict) -> str | None:
    attributes.pop(PENDING, None)
    return attributes.pop(TOKEN, None)


def on_success(event: dict, attributes: dict) -> list[dict]:
    data, token = event["ActionData"], _take_token(attributes)
    if token is None:
        return []
    kind = data["Type"]
    if kind == "PlayAudio":
        sessions.complete_task(token, {"answer": "heard", "by": "sma", "at": sessions.now()})
    elif kind == "PlayAudioAndGetDigits":
        digits = data.get("ReceivedDigits", "")
        answer = {digit: meaning for meaning, digit in _digits().items()}.get(digits, "no-answer")
        evidence = {"answer": answer, "by": "sma", "at": sessions.now()}
        if answer != "no-answer":  # the key the caller pressed, one of the policy's two (never other digits)
            evidence["digit"] = digits
        sessions.complete_task(token, evidence)
    elif kind == "StartCallRecording":
        sessions.complete_task(
            token,
            {
                "location": data["CallRecordingDestination"]["Location"],
                "track": data.get("Parameters", {}).get("Track", "BOTH"),
            },
        )
    else:
        sessions.complete_task(token, {"done": kind})
    return []


_FAILURES = {
    "PlayAudio": "ConsentPromptFailed",
    "PlayAudioAndGetDigits": "ConsentPromptFailed",
    "StartCallRecording": "RecordingStartFailed",
    "StopCallRecording": "RecordingStopFailed",
    "PauseCallRecording": "SuspendFailed",
    "ResumeCallRecording": "ResumeFailed",
}


def on_failure(event: dict, attributes: dict) -> list[dict]:
    data, token = event["ActionData"], _take_token(attributes)
    if token is None:
        return []
    code, message = _error_of(data)
    if data.get("Type") == "PlayAudioAndGetDigits" and code == "InvalidDigitsReceived":
        sessions.complete_task(token, {"answer": "no-answer", "by": "sma", "at": sessions.now()})
    else:
        sessions.fail_task(token, _FAILURES.get(data.get("Type"), "ActionFailed"), f"{code}: {message}")
    return []


def on_interrupted(event: dict, attributes: dict) -> list[dict]:
    token = _take_token(attributes)
    if token is not None:
        sessions.fail_task(token, "ActionInterrupted", f"{event['ActionData'].get('Type')} was interrupted")
    return []


def on_hangup(event: dict, attributes: dict) -> list[dict]:
    """Record that the call ended first, then release whatever the workflow waits on for this call."""
    if SESSION in attributes:
        try:
            sessions.end(attributes[SESSION], "hangup", actor="sma")
        except (sessions.SessionEnded, sessions.SessionNotFound):
            pass  # nothing left to end
    token = _take_token(attributes)
    if token is not None:
        sessions.fail_task(token, "CallerHungUp", "the call ended")
    return []


def on_invalid_response(event: dict, attributes: dict) -> list[dict]:
    logger.error(
        "the SMA rejected this function's answer", extra={"error": event.get("ActionData", {}).get("ErrorMessage")}
    )
    token = _take_token(attributes)
    if token is not None:
        sessions.fail_task(token, "InvalidLambdaResponse", event.get("ActionData", {}).get("ErrorMessage", ""))
    return []


def on_answered(event: dict, attributes: dict) -> list[dict]:
    """An outbound call (CreateSipMediaApplicationCall) was answered: its session starts now, as an inbound
    call's does on arrival (the called party is the one asked for consent)."""
    if _leg_a(event)["Direction"] != "Outbound" or SESSION in attributes:
        return []
    return on_new_call(event, attributes)


HANDLERS = {
    "NEW_INBOUND_CALL": on_new_call,
    "CALL_ANSWERED": on_answered,
    "CALL_UPDATE_REQUESTED": on_update,
    "ACTION_SUCCESSFUL": on_success,
    "ACTION_FAILED": on_failure,
    "ACTION_INTERRUPTED": on_interrupted,
    "HANGUP": on_hangup,
    "INVALID_LAMBDA_RESPONSE": on_invalid_response,
}


def handle(event: dict) -> dict:
    validate(event, "sma_event")
    attributes = dict(event["CallDetails"].get("TransactionAttributes", {}))
    handler = HANDLERS.get(event["InvocationEventType"])  # RINGING, CALL_ANSWERED, DIGITS_RECEIVED...: nothing to do
    actions = handler(event, attributes) if handler else []
    return response(actions, attributes)


def _attributes_of(event: object) -> dict:
    """The call's TransactionAttributes, whatever shape the event has (an empty map if none)."""
    details = event.get("CallDetails") if isinstance(event, dict) else None
    attributes = details.get("TransactionAttributes") if isinstance(details, dict) else None
    return {k: v for k, v in attributes.items() if isinstance(v, str)} if isinstance(attributes, dict) else {}


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        return handle(event)
    except Exception:  # noqa: BLE001 - never let an exception reach the SMA: answer safely instead
        logger.exception(
            "SMA event not handled; answering with no actions",
            extra={"event_type": event.get("InvocationEventType") if isinstance(event, dict) else None},
        )
        return response([], _attributes_of(event))
