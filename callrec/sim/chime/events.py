"""The events the Chime SDK twin sends an SMA's Lambda, and the answers it accepts.

Every event is checked against `callrec/sim/shapes/sma_event.json`, the documented shape with no extra field
allowed (Amazon Chime SDK Developer Guide, "Understanding telephony events for Amazon Chime SDK PSTN audio
service"): the twin is faithful by construction, and sends nothing a real SMA would not.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from callrec.sim.chime.legs import CallLeg

MAX_ACTIONS = 10
MAX_TRANSACTION_ATTRIBUTES = 10
SUPPORTED_ACTIONS = (
    "PlayAudio",
    "PlayAudioAndGetDigits",
    "StartCallRecording",
    "PauseCallRecording",
    "ResumeCallRecording",
    "StopCallRecording",
    "CallAndBridge",
    "Hangup",
)
SHAPE = Path(__file__).resolve().parent.parent / "shapes" / "sma_event.json"


class UndocumentedEvent(AssertionError):
    """The twin built an event that does not have the documented shape: a simulator bug."""


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SHAPE.read_text()))


def check(event: dict[str, Any]) -> dict[str, Any]:
    problems = sorted(_validator().iter_errors(event), key=lambda e: list(e.absolute_path))
    if problems:
        where = "/".join(str(part) for part in problems[0].absolute_path) or "(top)"
        raise UndocumentedEvent(f"the SMA event is not the documented shape at {where}: {problems[0].message}")
    return event


def event(leg: CallLeg, event_type: str, action_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The leg's next event (its Sequence grows by one), in the documented shape."""
    leg.sequence += 1
    details: dict[str, Any] = {
        "TransactionId": leg.transaction_id,
        **({"TransactionAttributes": dict(leg.attributes)} if leg.attributes else {}),
        "AwsAccountId": leg.sma.account,
        "AwsRegion": leg.sma.region,
        "SipMediaApplicationId": leg.sma.id,
        "Participants": [
            {
                "CallId": party.call_id,
                "ParticipantTag": party.tag,
                "To": party.to_number,
                "From": party.from_number,
                "Direction": party.direction,
                "StartTimeInMilliseconds": str(party.start_ms),
                # the documented NEW_OUTBOUND_CALL carries no Status: the call is only being placed
                **({} if event_type == "NEW_OUTBOUND_CALL" else {"Status": party.status}),
            }
            for party in leg.participants
        ],
    }
    built = {
        "SchemaVersion": "1.0",
        "Sequence": leg.sequence,
        "InvocationEventType": event_type,
        "CallDetails": details,
    }
    if action_data is not None:
        built["ActionData"] = action_data
    return check(built)


def action_data(action: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An action as the next event reports it: its Type and Parameters, and what it produced."""
    return {"Type": action["Type"], "Parameters": dict(action.get("Parameters", {})), **extra}


def response_problem(response: Any) -> str | None:
    """Why the service would refuse a Lambda's answer (INVALID_LAMBDA_RESPONSE), or None."""
    if not isinstance(response, dict) or response.get("SchemaVersion") != "1.0":
        return "the response must be an object with SchemaVersion 1.0"
    actions = response.get("Actions")
    if not isinstance(actions, list):
        return "Actions must be a list"
    if len(actions) > MAX_ACTIONS:
        return f"at most {MAX_ACTIONS} actions, got {len(actions)}"
    for action in actions:
        if not isinstance(action, dict) or action.get("Type") not in SUPPORTED_ACTIONS:
            kind = action.get("Type") if isinstance(action, dict) else action
            return f"unsupported action {kind!r}"
    attributes = response.get("TransactionAttributes", {})
    if (
        not isinstance(attributes, dict)
        or len(attributes) > MAX_TRANSACTION_ATTRIBUTES
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
    ):
        return f"TransactionAttributes must be at most {MAX_TRANSACTION_ATTRIBUTES} string pairs"
    return None
