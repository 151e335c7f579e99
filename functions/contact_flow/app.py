"""The Amazon Connect contact flow's Lambda: start a recording session, report the consent answer,
stop, or report the hang-up. It answers a flat map of strings well within Connect's 8 s.

operation=start   -> starts the RecordingSession and waits (bounded) for the consent decision, so the
                     flow knows what to play: consent = none | notice | opt-in, with the prompt version.
                     Optional hints: customerJurisdiction, centreJurisdiction (e.g. US-TX).
operation=consent -> answer = heard | accepted | declined | no-answer: what the caller did.
operation=suspend / resume -> a sensitive-input window (optional idempotencyKey): answers
                     suspended = true only once Connect confirmed the suspension; otherwise
                     suspended = false and a reason, within the deadline, so the flow takes its safe
                     branch (e.g. does not collect the card number). The same for resume.
operation=stop / hangup -> ends the session (stop recording / the contact is over).
operation=join  -> a party joins (a transfer or conference to partyNumber, optional partyJurisdiction): its rule;
                     if stricter than the call's, recording is suspended (confirmed) and consent = notice | opt-in
                     says what to play to that party, else consent = none. If the suspension cannot be confirmed,
                     recording is stopped for the rest of the call (recordingStopped = true).
                     It answers the party's partyId (no number is kept).
operation=joinConsent -> what that party did (partyId, answer = heard | accepted | declined | no-answer):
                     recording resumes, or stops for the rest of the call.
operation=state -> is the call being recorded right now: recordingState = OFF | ON | SUSPENDED | STOPPED, with
                     its reason and since.
Errors come back as {"error": ..., "field"?, "message": ...} so the flow can branch on them.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from callrec_shared import joins, sessions
from callrec_shared.aws import settings
from callrec_shared.identity import session_id_for
from callrec_shared.opening import ConsentPolicyFailed
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

DECISION_WAIT_SECONDS = 4.0  # well inside Connect's 8 s, leaving room for the flow's own retries


def _request(contact: dict, parameters: dict) -> dict:
    instance_id = contact["InstanceARN"].rsplit("/", 1)[1]
    customer = (contact.get("CustomerEndpoint") or {}).get("Address")
    party = {"number": customer, "role": "caller"} if customer else {"role": "caller"}  # no number: an unknown party
    if parameters.get("customerJurisdiction"):
        party["jurisdiction"] = parameters["customerJurisdiction"]
    parties = [party]
    system = (contact.get("SystemEndpoint") or {}).get("Address")
    if system:
        party = {"number": system, "role": "callee"}
        if parameters.get("centreJurisdiction"):  # a toll-free number says nothing of where the centre is
            party["jurisdiction"] = parameters["centreJurisdiction"]
        parties.append(party)
    return {
        "provider": "connect",
        "call": {
            "InstanceId": instance_id,
            "ContactId": contact["ContactId"],
            "InitialContactId": contact["InitialContactId"],
        },
        "parties": parties,
    }


def start(contact: dict, parameters: dict) -> dict:
    try:
        started = sessions.start(_request(contact, parameters), actor="contact-flow")
    except ConsentPolicyFailed:
        return {
            "sessionId": session_of(contact),
            "error": "ConsentPolicyFailed",
            "message": "the consent policy could not decide; take the safe path (do not record)",
        }
    view = sessions.wait_until(
        started["sessionId"], lambda s: "consent" in s or s.get("status") in sessions.TERMINAL, DECISION_WAIT_SECONDS
    )
    if view is None or "consent" not in view:
        return {
            "sessionId": started["sessionId"],
            "error": "DecisionPending",
            "message": "the consent decision was not ready in time; take the safe path (do not record)",
        }
    consent = view["consent"]
    return {
        "sessionId": started["sessionId"],
        "consent": consent["decision"],
        "promptVersion": consent["promptVersion"],
        "status": view["status"],
    }


def session_of(contact: dict) -> str:
    return session_id_for(_request(contact, {}))


def handle(event: dict) -> dict:
    validate(event, "contact_flow_event")
    contact, parameters = event["Details"]["ContactData"], event["Details"]["Parameters"]
    operation = parameters["operation"]
    if operation == "start":
        return start(contact, parameters)
    session_id = session_of(contact)
    if operation == "consent":
        sessions.answer_consent(session_id, parameters["answer"], actor="contact-flow")
        return {"sessionId": session_id, "answered": parameters["answer"]}
    if operation == "state":
        return recording_state(session_id)
    if operation == "join":  # a transfer or conference to a number: the new party's rule, and what to play them
        party = {"number": parameters["partyNumber"]}
        if parameters.get("partyJurisdiction"):
            party["jurisdiction"] = parameters["partyJurisdiction"]
        return joins.join(session_id, party, actor="contact-flow", contact_id=contact["ContactId"])
    if operation == "joinConsent":  # what the joined party did when the notice or the opt-in was played
        return joins.answer(
            session_id,
            parameters["partyId"],
            parameters["answer"],
            actor="contact-flow",
            contact_id=contact["ContactId"],
        )
    if operation in ("suspend", "resume"):  # on the contact this flow runs for: the current one after a transfer
        return window(session_id, operation, parameters.get("idempotencyKey"), contact["ContactId"])
    sessions.end(
        session_id, "stop" if operation == "stop" else "hangup", actor="contact-flow", contact_id=contact["ContactId"]
    )
    return {"sessionId": session_id, "ended": operation}


def recording_state(session_id: str) -> dict:
    """Is this call being recorded right now? Connect has no API that tells, nor an event: the session's record of
    what Connect confirmed answers (callrec_shared.recording_state: `recordingState` OFF, ON, SUSPENDED or
    STOPPED, with the `reason` and `since`)."""
    state = sessions.require(session_id)["recordingState"]
    return {
        "sessionId": session_id,
        "recordingState": state["state"],
        **{k: state[k] for k in ("reason", "since") if state.get(k)},
    }


# DynamoDB's answers when it cannot take a request now (throttled, or failing): the session store is unavailable
STORE_UNAVAILABLE = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
)


def window(session_id: str, kind: str, key: str | None, contact_id: str) -> dict:
    flag = "suspended" if kind == "suspend" else "resumed"
    try:
        outcome = sessions.signal(
            session_id,
            kind,
            actor="contact-flow",
            key=key,
            wait_seconds=settings().confirmation_deadline_seconds,
            contact_id=contact_id,
        )
    except sessions.SessionEnded as err:
        return {"sessionId": session_id, flag: "false", "reason": str(err)}
    except ClientError as err:
        if err.response["Error"]["Code"] not in STORE_UNAVAILABLE:
            raise
        # the flow's safe branch, said plainly: no card is taken, and a window that was open stays open
        return {
            "sessionId": session_id,
            flag: "false",
            "reason": "the session store did not answer; take the safe path",
        }
    confirmed = sessions.in_effect(outcome)
    answer = {"sessionId": session_id, flag: str(confirmed).lower(), "status": outcome["status"]}
    if not confirmed:
        answer["reason"] = outcome.get("reason") or "not confirmed by the provider before the deadline"
    return answer


def _as_strings(answer: dict) -> dict[str, str]:
    """Connect reads a flat map of strings: booleans as `true` / `false`."""
    return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in answer.items()}


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        return _as_strings(handle(event))
    except InvalidRequest as err:
        return _as_strings({"error": "InvalidRequest", "field": err.field, "message": err.message})
    except sessions.SessionNotFound as err:
        return _as_strings({"error": "SessionNotFound", "message": f"no session {err}"})
    except (
        sessions.NotWaiting,
        sessions.SessionEnded,
        sessions.SessionConflict,
        sessions.SignalConflict,
        joins.NotRecording,
        joins.UnknownParty,
    ) as err:
        return _as_strings({"error": type(err).__name__, "message": str(err)})
