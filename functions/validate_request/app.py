"""Validate a start-recording request, give the session its identity, and decide its consent policy.

The first task of RecordingSession: the workflow never acts on a request that does not match
`schemas/start_recording_request.schema.json`, or for a provider this deployment does not serve. The session id is
derived from the provider's own call identity, so the same call always maps to the same session (idempotent
starts). The consent policy (none, notice or opt-in, with its reason and prompt) is decided in the same
invocation: the strictest rule among every party's jurisdiction, from the deployer's document
(config/consent_policy.json, in the shared layer). One Lambda where there were two: one state transition and one
invocation fewer on every call.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import consent
from callrec_shared.identity import session_id_for
from callrec_shared.validation import InvalidRequest, validate, validate_start

logger = Logger(service="callrec")

__all__ = ["ConsentPolicyFailed", "InvalidRequest", "decision_for", "lambda_handler", "session_id_for"]


DEFAULT_TRACK = {"connect": "ALL", "chime": "BOTH"}


class ConsentPolicyFailed(Exception):
    """The policy could not decide for a valid request (its document unreadable, a decision that breaks its own
    schema): the workflow ends the session FAILED and audited (CONSENT_POLICY_FAILED), never recording on a
    guess."""


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


def decision_for(request: dict[str, Any]) -> dict[str, Any]:
    """The consent decision for the parties (and provider) of a request, with the prompt object it names."""
    validate(request, "consent_policy_request")
    decision = consent.decide(request["parties"]).to_dict()
    if decision["decision"] != "none":
        decision["promptObject"] = consent.prompt_object(decision["promptKey"])
    return validate(decision, "consent_decision")


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    session = normalise(event)
    try:
        session["consent"] = decision_for({"parties": session["parties"], "provider": session["provider"]})
    except Exception as err:  # noqa: BLE001 - whatever stopped the policy, the session ends FAILED on it
        raise ConsentPolicyFailed(f"{type(err).__name__}: {err}") from err
    logger.info(
        "request valid, consent decided",
        extra={
            "session_id": session["sessionId"],
            "provider": session["provider"],
            "decision": session["consent"]["decision"],
            "policy_version": session["consent"]["policyVersion"],
        },
    )
    return session
