"""The Chime SDK SIP media application's Lambda: the call side of RecordingSession.

- NEW_INBOUND_CALL starts the call's RecordingSession and, when its consent policy asks for one, answers with the
  notice (PlayAudio) or the opt-in question (PlayAudioAndGetDigits) at once; for an outbound call
  (CreateSipMediaApplicationCall), CALL_ANSWERED does (NEW_OUTBOUND_CALL and RINGING need nothing: the service
  ignores what is answered). The prompt's outcome is reported as the caller's consent answer
  (sessions.answer_consent, as the contact flow reports Connect's): heard, accepted or declined with the key
  pressed, no-answer, or failed with the provider's error. The workflow waits for it on the session, so a
  hang-up before the answer ends that wait at once (before, the prompt was asked for by the workflow and its task
  token travelled only in that update: a caller who hung up before the update arrived left the workflow waiting
  its 180 s timeout).
- CALL_UPDATE_REQUESTED carries what the workflow asks for (op start-recording / stop-recording /
  suspend-recording / resume-recording) with the task token the workflow waits on; the token rides in
  TransactionAttributes until the action's outcome arrives.
- ACTION_SUCCESSFUL / ACTION_FAILED complete or fail that task: the recording destination, or the provider's
  error (both shapes of ACTION_FAILED).
- HANGUP signals the session that the call ended (which ends a consent wait too) and fails a pending task with
  CallerHungUp.
- Sensitive-input windows: the workflow's ops suspend-recording / resume-recording return
  PauseCallRecording / ResumeCallRecording, whose ACTION_SUCCESSFUL is the provider's confirmation.
- Only the workflow drives recording: an op that starts, stops, pauses or resumes recording is acted on only
  when it names the call's session and carries a task token the workflow is waiting on right now (checked with SendTaskHeartbeat). Anything else is answered with no
  actions and audited as OUTSIDE_REQUEST_REFUSED. An outside system (a payment IVR, an agent desktop) can ask for a window through
  UpdateSipMediaApplicationCall with op request-suspend / request-resume (and an optional
  idempotencyKey): that queues the signal on the session; it does not wait (the SMA invokes this
  function one event at a time, and the pause itself comes back through it).

Bridged calls (CallAndBridge): an outside system asks for one with op `bridge` (`to`: the E.164 number, and an
optional `jurisdiction` hint). The new party is a joining party (callrec_shared.joins): when their rule is not
stricter than the call's, the call is bridged at once; when it is, the recording is paused first (a window with the
reason `consent`; the bridge follows the SMA's confirmation of that pause), then the notice is played or the opt-in
asked on LEG-B, and the answer resumes the recording or stops it for the rest of the call. A bridge nobody answers
ends that reason again. Every workflow op acts on the leg the session records (its `callId`: LEG-A, or LEG-B for a
session started on the bridged leg). When either party of a bridged call hangs up, the other leg is hung up too.

It never lets an exception reach the SMA: on any error it answers with no actions (the call goes on,
nothing is recorded by it) and logs the failure. Digits other than the consent answer are never
logged or stored.
"""

from __future__ import annotations

import os
from functools import lru_cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import joins, sessions
from callrec_shared.consent import load_policy
from callrec_shared.opening import ConsentPolicyFailed
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

PENDING, TOKEN, SESSION = "pending", "token", "sessionId"
CONSENT = "consent"  # PENDING while the caller's consent prompt plays (played on arrival: no task token)
# a bridged call: LEG-B's CallId once bridged; the number to bridge once the pause for its consent is confirmed; the
# joining party awaiting consent, what to play them, and whether it is playing
LEG_B, BRIDGE_TO, PARTY, PARTY_CONSENT, PARTY_ASKED = "legB", "bridgeTo", "partyId", "partyConsent", "partyAsked"
# a party's field (as the API takes it) -> the bridge's argument, and what it must be
BRIDGE_ARGUMENTS = {
    "number": ("to", "to must be an E.164 phone number"),
    "jurisdiction": ("jurisdiction", "jurisdiction must be an ISO 3166 code such as US or US-CA"),
}
BRIDGE_TIMEOUT_SECONDS = 30


@lru_cache(maxsize=1)
def _digits() -> dict[str, str]:
    """The opt-in answer's digits, from the consent policy (config/consent_policy.json)."""
    prompt = load_policy()["prompts"]["opt-in"]
    return {"accepted": prompt["acceptDigit"], "declined": prompt["declineDigit"]}


def response(actions: list[dict], attributes: dict[str, str]) -> dict:
    return {"SchemaVersion": "1.0", "Actions": actions, "TransactionAttributes": attributes}


def _leg(event: dict, tag: str) -> dict | None:
    return next((p for p in event["CallDetails"]["Participants"] if p["ParticipantTag"] == tag), None)


def _leg_a(event: dict) -> dict:
    leg = _leg(event, "LEG-A")
    assert leg is not None  # every SMA event has LEG-A (its schema requires a participant; LEG-A comes first)
    return leg


def _prompt(call_id: str, mode: str, bucket: str, key: str) -> dict:
    """The notice (PlayAudio) or the opt-in question (PlayAudioAndGetDigits) on the leg `call_id`."""
    source = {"Type": "S3", "BucketName": bucket, "Key": key}
    if mode == "notice":
        return {"Type": "PlayAudio", "Parameters": {"CallId": call_id, "AudioSource": source}}
    return {
        "Type": "PlayAudioAndGetDigits",
        "Parameters": {
            "CallId": call_id,
            "AudioSource": source,
            "FailureAudioSource": source,
            "MinNumberOfDigits": 1,
            "MaxNumberOfDigits": 1,
            "InputDigitsRegex": f"^[{''.join(sorted(_digits().values()))}]$",
            "Repeat": 2,
        },
    }


def _answer_of(data: dict) -> dict:
    """A prompt's outcome as consent evidence: heard (the notice played), accepted, declined or no-answer; with the
    key pressed when it is one of the policy's two (never any other digits)."""
    if data["Type"] == "PlayAudio":
        return {"answer": "heard"}
    digits = data.get("ReceivedDigits", "")
    answer = {digit: meaning for meaning, digit in _digits().items()}.get(digits, "no-answer")
    return {"answer": answer, **({"digit": digits} if answer != "no-answer" else {})}


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
        started = sessions.start(request, actor="sma")
    except InvalidRequest as err:
        logger.warning("call not recorded: request invalid", extra={"field": err.field})
        return []
    except ConsentPolicyFailed:
        logger.warning("call not recorded: the consent policy could not decide (the session ended FAILED, audited)")
        return []
    attributes[SESSION] = started["sessionId"]
    decision = started.get("decision")
    if decision is None:  # a start that went in before: its workflow waits for an answer nobody asks (not recorded)
        logger.warning("consent decision unknown on a repeated start: no prompt played")
        return []
    if decision["decision"] == "none":
        return []
    attributes[PENDING] = CONSENT
    bucket = decision.get("promptObject", {}).get("bucket") or os.environ.get("PROMPT_BUCKET", "")
    return [_prompt(leg["CallId"], decision["decision"], bucket, decision["promptKey"])]


def _consent_played(attributes: dict) -> bool:
    """Was the action that just ended the caller's consent prompt? (Then it is over: no longer pending.)"""
    if attributes.get(PENDING) != CONSENT:
        return False
    attributes.pop(PENDING)
    return True


def _report_consent(attributes: dict, answer: str, **evidence: str) -> None:
    """The caller's consent answer, for the workflow's consent wait (or the session, if it has not parked yet)."""
    try:
        sessions.answer_consent(attributes[SESSION], answer, actor="sma", **evidence)
    except (sessions.NotWaiting, sessions.SessionNotFound):  # the call ended, or was stopped, first
        logger.warning("consent answer not taken: the session is not waiting for one", extra={"answer": answer})


WORKFLOW_OPS = ("start-recording", "stop-recording", "suspend-recording", "resume-recording")


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
    op = arguments.get("op")
    call_id = arguments.get("callId") or _leg_a(event)["CallId"]  # the leg the session records
    if op in ("request-suspend", "request-resume"):
        return request_window(op.split("-")[1], arguments, attributes)
    if op == "bridge":
        return request_bridge(event, arguments, attributes)
    if op in WORKFLOW_OPS:
        refused = refusal(op, arguments, attributes)
        if refused is not None:  # nothing acted on, nothing of the pending task touched
            logger.warning("outside request refused", extra={"op": op, "reason": refused})
            if SESSION in attributes:
                sessions.audit(attributes[SESSION], "OUTSIDE_REQUEST_REFUSED", "sma", op=op, reason=refused)
            return []
    if "token" in arguments:
        attributes[TOKEN] = arguments["token"]
    # the op waited on, with the window's reason for a suspension (a bridge may wait for the pause for `consent`)
    attributes[PENDING] = f"{op}:{arguments['reason']}" if op and arguments.get("reason") else op or ""
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


def _bridge_refusal(party: dict, attributes: dict) -> tuple[str, str] | None:
    """Why a bridge cannot be made now: (the argument or state at fault, the reason), or None. The party is checked
    against the schema a party joining through the API is (schemas/party_join_request.schema.json)."""
    if SESSION not in attributes:
        return "call", "the call has no session"
    if LEG_B in attributes or BRIDGE_TO in attributes:
        return "call", "the call is bridged already (one bridged leg per call)"
    if attributes.get(PENDING) or PARTY_ASKED in attributes:
        return "call", "a recording action or a consent prompt is in progress: ask again when it is done"
    try:
        validate(party, "party_join_request")
    except InvalidRequest as err:
        return BRIDGE_ARGUMENTS.get(err.field, (err.field, f"{err.field} {err.message}"))
    return None


def _call_and_bridge(event: dict, number: str) -> dict:
    """Bridge `number` to the call, presenting the centre's own number (the one the caller dialled, or the one an
    outbound call came from) as the caller id."""
    leg = _leg_a(event)
    return {
        "Type": "CallAndBridge",
        "Parameters": {
            "CallTimeoutSeconds": BRIDGE_TIMEOUT_SECONDS,
            "CallerIdNumber": leg["From"] if leg["Direction"] == "Outbound" else leg["To"],
            "Endpoints": [{"BridgeEndpointType": "PSTN", "Uri": number}],
        },
    }


def request_bridge(event: dict, arguments: dict, attributes: dict) -> list[dict]:
    """An outside system asks to bridge a party to the call: bridged now, or once the recording is paused for the
    party's consent, or refused (audited, naming the field, never its value)."""
    party = {"number": arguments.get("to"), **{k: arguments[k] for k in ("jurisdiction",) if k in arguments}}
    refused = _bridge_refusal(party, attributes)
    joined: dict = {"bridge": "refused"}
    if refused is None:
        try:
            joined = joins.bridging(attributes[SESSION], party, actor="sma")
        except sessions.SessionEnded:  # the session had ended: nothing is recorded, nobody's consent is needed
            joined = {"bridge": "now", "consent": "none"}
        except (joins.NotRecording, sessions.SessionNotFound) as err:
            refused = ("call", f"the call cannot be bridged now: {err}")
        if joined["bridge"] == "refused" and refused is None:
            refused = ("call", "the recording could not be paused for the new party's consent")
    if refused is not None:
        logger.warning("bridge refused", extra={"field": refused[0], "reason": refused[1]})
        if SESSION in attributes:
            sessions.audit(attributes[SESSION], "OUTSIDE_REQUEST_REFUSED", "sma", op="bridge", reason=refused[1])
        return []
    if joined["consent"] != "none":
        attributes[PARTY], attributes[PARTY_CONSENT] = joined["partyId"], joined["consent"]
    if joined["bridge"] == "now":
        return [_call_and_bridge(event, party["number"])]
    attributes[BRIDGE_TO] = party["number"]  # bridged once the SMA confirms the pause for the party's consent
    return []


def _bridge_waits_on(pending: str, attributes: dict) -> bool:
    """Is the op that just ended the pause a bridge waits on (a suspension for a joining party's consent)?"""
    return pending == f"suspend-recording:{joins.CONSENT_REASON}" and BRIDGE_TO in attributes


def _party_prompted(event: dict, attributes: dict) -> bool:
    """Is this action the consent prompt played to the bridged party?"""
    data = event.get("ActionData", {})
    return PARTY_ASKED in attributes and data.get("Parameters", {}).get("CallId") == attributes.get(LEG_B)


def on_bridged(event: dict, attributes: dict) -> list[dict]:
    """The bridged party answered: ask them for consent on LEG-B when their rule is stricter."""
    leg_b = _leg(event, "LEG-B")
    attributes[LEG_B] = leg_b["CallId"]
    mode = attributes.pop(PARTY_CONSENT, None)
    if mode is None:
        return []
    attributes[PARTY_ASKED] = "true"
    prompt = load_policy()["prompts"][mode]
    return [_prompt(leg_b["CallId"], mode, os.environ.get("PROMPT_BUCKET", ""), prompt["key"])]


def _party_answered(attributes: dict, given: str) -> None:
    """The bridged party's consent answer: the recording resumes (queued) or stops for the rest of the call."""
    attributes.pop(PARTY_ASKED, None)
    party = attributes.pop(PARTY, None)
    if party is not None and SESSION in attributes:
        try:
            joins.answer_queued(attributes[SESSION], party, given, actor="sma")
        except (joins.UnknownParty, sessions.SessionEnded, sessions.SessionNotFound) as err:
            logger.warning("bridged party's answer not applied", extra={"reason": str(err)})


def _party_not_connected(attributes: dict, paused: bool = True) -> None:
    """The party to bridge never joined (or left before answering): their consent reason ends."""
    for key in (BRIDGE_TO, PARTY_CONSENT, PARTY_ASKED):
        attributes.pop(key, None)
    party = attributes.pop(PARTY, None)
    if party is not None and SESSION in attributes:
        try:
            joins.not_connected(attributes[SESSION], party, actor="sma", paused=paused)
        except (joins.UnknownParty, sessions.SessionEnded, sessions.SessionNotFound) as err:
            logger.warning("party not connected; nothing to end", extra={"reason": str(err)})


def _take_token(attributes: dict) -> str | None:
    attributes.pop(PENDING, None)
    return attributes.pop(TOKEN, None)


def on_success(event: dict, attributes: dict) -> list[dict]:
    data = event["ActionData"]
    kind = data["Type"]
    if kind == "CallAndBridge":
        return on_bridged(event, attributes)
    if _party_prompted(event, attributes):
        _party_answered(attributes, _answer_of(data)["answer"])
        return []
    if kind in ("PlayAudio", "PlayAudioAndGetDigits") and _consent_played(attributes):
        answer = _answer_of(data)
        _report_consent(attributes, answer.pop("answer"), **answer)
        return []
    pending = attributes.get(PENDING, "")
    token = _take_token(attributes)
    if token is None:
        return []
    if kind == "StartCallRecording":
        sessions.complete_task(
            token,
            {
                "location": data["CallRecordingDestination"]["Location"],
                "track": data.get("Parameters", {}).get("Track", "BOTH"),
            },
        )
    else:
        sessions.complete_task(token, {"done": kind})
    if kind == "PauseCallRecording" and _bridge_waits_on(pending, attributes):
        return [_call_and_bridge(event, attributes.pop(BRIDGE_TO))]  # paused for the new party: bridge them now
    return []


# the error a workflow task fails with when its action fails (a consent prompt's failure is reported as its answer)
_FAILURES = {
    "StartCallRecording": "RecordingStartFailed",
    "StopCallRecording": "RecordingStopFailed",
    "PauseCallRecording": "SuspendFailed",
    "ResumeCallRecording": "ResumeFailed",
}


def on_failure(event: dict, attributes: dict) -> list[dict]:
    data = event["ActionData"]
    if data.get("Type") == "CallAndBridge":  # not answered (or refused): the party never joined
        _party_not_connected(attributes)
        return []
    if _party_prompted(event, attributes):  # no valid answer from the bridged party
        _party_answered(attributes, "no-answer")
        return []
    if _consent_played(attributes):  # no valid key (no answer), or the prompt could not be played (failed)
        code, message = _error_of(data)
        if data.get("Type") == "PlayAudioAndGetDigits" and code == "InvalidDigitsReceived":
            _report_consent(attributes, "no-answer")
        else:
            _report_consent(attributes, "failed", error="ConsentPromptFailed", cause=f"{code}: {message}")
        return []
    pending, token = attributes.get(PENDING, ""), _take_token(attributes)
    if _bridge_waits_on(pending, attributes):
        _party_not_connected(attributes, paused=False)  # not paused for the new party: they are not bridged
    if token is None:
        return []
    code, message = _error_of(data)
    sessions.fail_task(token, _FAILURES.get(data.get("Type"), "ActionFailed"), f"{code}: {message}")
    return []


def on_interrupted(event: dict, attributes: dict) -> list[dict]:
    if _party_prompted(event, attributes):  # the bridged party's prompt gave way to the workflow: no answer
        _party_answered(attributes, "no-answer")
        return []
    return _not_done(attributes, "ActionInterrupted", f"{event['ActionData'].get('Type')} was interrupted")


def _not_done(attributes: dict, error: str, cause: str) -> list[dict]:
    """The pending action did not complete: the consent prompt's is reported as the answer `failed` (the caller heard
    nothing to answer), a workflow task fails."""
    if _consent_played(attributes):
        _report_consent(attributes, "failed", error=error, cause=cause)
        return []
    token = _take_token(attributes)
    if token is not None:
        sessions.fail_task(token, error, cause)
    return []


def on_hangup(event: dict, attributes: dict) -> list[dict]:
    """Record that the call ended first, then release whatever the workflow waits on for this call. On a bridged
    call, either party hanging up ends the call: the other leg is hung up (it would otherwise stay up, billed)."""
    gone = event.get("ActionData", {}).get("Parameters", {}).get("ParticipantTag", "LEG-A")
    if gone == "LEG-B" and PARTY_ASKED in attributes:
        _party_not_connected(attributes)  # gone before answering
    other = _leg(event, "LEG-A" if gone == "LEG-B" else "LEG-B")
    ended_already = other is not None and other.get("Status") == "Disconnected"  # the first leg's HANGUP ended it
    if SESSION in attributes and not ended_already:
        try:
            sessions.end(attributes[SESSION], "hangup", actor="sma")
        except (sessions.SessionEnded, sessions.SessionNotFound):
            pass  # nothing left to end
    token = _take_token(attributes)
    if token is not None:
        sessions.fail_task(token, "CallerHungUp", "the call ended")
    if other is not None and other.get("Status") == "Connected":
        return [{"Type": "Hangup", "Parameters": {"CallId": other["CallId"], "SipResponseCode": "0"}}]
    return []


def on_invalid_response(event: dict, attributes: dict) -> list[dict]:
    logger.error(
        "the SMA rejected this function's answer", extra={"error": event.get("ActionData", {}).get("ErrorMessage")}
    )
    return _not_done(attributes, "InvalidLambdaResponse", event.get("ActionData", {}).get("ErrorMessage", ""))


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
