"""The workflows' Retry policies, in one place.

Every Task state of statemachines/*.asl.json retries by the policy this module names for it (`policy_for`):
by the service it calls and how (an optimized DynamoDB task raises `DynamoDB.*`, an SDK integration
`DynamoDb.*`; only a transaction raises the transaction errors), with the few states that differ named below
and why. A change to a policy is one edit here, then `python -m callrec.retries --write` rewrites the
definitions; tests/unit/test_retries.py fails while a definition and this module disagree.

The error names and the retry fields are AWS's: "Error handling in Step Functions" and, for the names an
integration raises, "Handling errors in service integrations" (Step Functions Developer Guide).
"""

from __future__ import annotations

import sys
from typing import Any

from callrec import definitions

DEFINITIONS = definitions.DEFINITIONS
_STORE_ERRORS = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "InternalServerErrorException",
    "RequestLimitExceededException",
)

# A transaction whose cancellation is its answer (a condition said no: the end was requested, the answer came
# first, the signal was settled): it is caught, never retried.
CANCELLATION_ANSWERS = frozenset(("Await Consent Answer", "Save Consent Answer", "Fail Unanswered Signals"))
# The failure path outlives an outage: 30 tries 30 s apart (15 minutes), then the execution fails (the alarm).
AFTER_STORE_FAILURE = frozenset(("Save Store Failure", "Answer Signals After Store Failure", "Fail Unanswered Signals"))
# Connect calls made inside the contact flow's answer (a suspend or resume the caller waits on): two quick tries.
CONNECT_IN_FLOW = frozenset(("Suspend Contact Recording", "Resume Contact Recording"))
# Connect calls whose caller is already past the flow or the call: a short backoff, three tries.
CONNECT_BRIEF = frozenset(("Stop Recording After Store Failure",))

# VerifyRecording's look: a recording not landed yet is looked for again by this retrier, each pause twice the last
# (one transition a look; a Wait-then-look loop cost three or four). No jitter: the look reads how long it has
# waited from its retry count (LANDING_WAITED, in its Payload), and gives up at LandingWaitSeconds. 15 tries cover
# the parameter's largest value (86,400 s).
LANDING_LOOK = "Check Recording"
LANDING_RETRIER = {"ErrorEquals": ["RecordingNotLanded"], "IntervalSeconds": 5, "MaxAttempts": 15, "BackoffRate": 2}
LANDING_WAITED = (
    f"{{% {LANDING_RETRIER['IntervalSeconds']} * ($power({LANDING_RETRIER['BackoffRate']}, "
    "$states.context.State.RetryCount) - 1) %}"
)


def _retrier(errors: list[str], attempts: int = 4, backoff: float = 2, jitter: bool = True, **more: Any) -> dict:
    retrier: dict[str, Any] = {"ErrorEquals": errors, "IntervalSeconds": 1, "MaxAttempts": attempts}
    retrier.update(BackoffRate=backoff, **more)
    if jitter:
        retrier["JitterStrategy"] = "FULL"
    return retrier


def _store(name: str, optimized: bool, transaction: bool) -> list[dict]:
    errors = [f"{'DynamoDB' if optimized else 'DynamoDb'}.{error}" for error in _STORE_ERRORS]
    if transaction:
        errors.append("DynamoDb.TransactionConflictException")
        if name not in CANCELLATION_ANSWERS:
            errors.append("DynamoDb.TransactionCanceledException")
    if name in AFTER_STORE_FAILURE:
        return [{"ErrorEquals": errors, "IntervalSeconds": 30, "MaxAttempts": 30, "BackoffRate": 1}]
    return [_retrier(errors)]


def _connect(name: str) -> list[dict]:
    if name in CONNECT_IN_FLOW:
        return [_retrier(["Connect.ThrottlingException", "Connect.InternalServiceException"], 2, 1, jitter=False)]
    if name in CONNECT_BRIEF:
        return [_retrier(["Connect.ThrottlingException", "Connect.InternalServiceException"], 3)]
    return [
        _retrier(["Connect.ThrottlingException"], 6, MaxDelaySeconds=8),
        _retrier(["Connect.InternalServiceException"], 3, jitter=False),
    ]


_BY_SERVICE = {
    "chimesdkvoice": [
        _retrier(
            [
                "ChimeSdkVoice.ThrottledClientException",
                "ChimeSdkVoice.ServiceUnavailableException",
                "ChimeSdkVoice.ServiceFailureException",
            ]
        )
    ],
    "lambda": [
        _retrier(
            [
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ],
            3,
            jitter=False,
        )
    ],
    "states": [
        _retrier(
            [
                "StepFunctions.ThrottlingException",
                "StepFunctions.ExecutionLimitExceededException",
                "StepFunctions.SdkClientException",
            ]
        )
    ],
    "events": [
        _retrier(["EventBridge.FailedEntry", "EventBridge.InternalException", "EventBridge.ThrottlingException"], 3)
    ],
    "sns": [_retrier(["SNS.InternalErrorException", "SNS.ThrottledException", "SNS.KMSThrottlingException"], 3)],
}


def policy_for(name: str, state: dict) -> list[dict]:
    """The Retry a Task state must have, from its name and its Resource."""
    integration = state["Resource"].removeprefix("arn:aws:states:::")
    sdk = integration.startswith("aws-sdk:")
    service, _, action = integration.removeprefix("aws-sdk:").partition(":")
    if service == "dynamodb":
        return _store(name, optimized=not sdk, transaction=action.startswith("transactWriteItems"))
    if service == "connect":
        return _connect(name)
    if name == LANDING_LOOK:
        return [*_BY_SERVICE[service], LANDING_RETRIER]
    return _BY_SERVICE[service]


def applied(definition: dict) -> dict:
    """The definition with every Task state's Retry set by its policy (field order kept)."""
    states = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            state = {**state, "Retry": policy_for(name, state)}
        if name == LANDING_LOOK and "Payload" in state.get("Arguments", {}):
            payload = {**state["Arguments"]["Payload"], "waited": LANDING_WAITED}
            state = {**state, "Arguments": {**state["Arguments"], "Payload": payload}}
        states[name] = state
    return {**definition, "States": states}


if __name__ == "__main__":
    definitions.main(sys.argv[1:], "callrec.retries", applied)
