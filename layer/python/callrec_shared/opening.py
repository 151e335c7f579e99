"""What an entry point hands RecordingSession: the request validated, the session's identity, its options filled
in, and its consent decision, all made before StartExecution.

The workflow starts from this (`opened`): no Lambda runs before it writes the session record, so the contact
flow's decision window holds no cold start, and every call costs two state transitions and two invocations
fewer than when the workflow validated and decided in tasks of its own. The workflow trusts its input because
only the three entry points may start it (their roles hold `states:StartExecution` on it; nothing else in the
template does).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from callrec_shared import consent
from callrec_shared.identity import session_id_for
from callrec_shared.validation import validate, validate_start

DEFAULT_TRACK = {"connect": "ALL", "chime": "BOTH"}


class ConsentPolicyFailed(Exception):
    """The policy could not decide for a valid request (its document unreadable, a decision that breaks its own
    schema): nothing starts and nothing is recorded on a guess; the session ends FAILED, audited
    (CONSENT_POLICY_FAILED)."""


def normalise(request: dict[str, Any]) -> dict[str, Any]:
    """The request validated (InvalidRequest names the field), with the session's id and every option filled in."""
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


def decided(session: dict[str, Any]) -> dict[str, Any]:
    """RecordingSession's input for a normalised request: it and `consent.decision`. ConsentPolicyFailed when the
    policy cannot decide."""
    try:
        decision = decision_for({"parties": session["parties"], "provider": session["provider"]})
    except Exception as err:  # noqa: BLE001 - whatever stopped the policy, nothing is recorded on a guess
        # named by its kind (an AWS error by its code), never by what it said: that may hold a value of the request
        code = err.response["Error"].get("Code") if isinstance(err, ClientError) else None
        raise ConsentPolicyFailed(code or type(err).__name__) from err
    return {**session, "consent": {"decision": decision}}


def opened(request: dict[str, Any]) -> dict[str, Any]:
    """RecordingSession's input for a request: InvalidRequest for a bad one (nothing decided), else `decided`."""
    return decided(normalise(request))
