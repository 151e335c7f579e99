"""Decide the consent policy for a call: none, notice or opt-in, with the reason and the prompt.

The rules are the deployer's document (config/consent_policy.json, in the shared layer); this function
only applies them: the strictest rule among every party's jurisdiction.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared.consent import decide, prompt_object
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

__all__ = ["InvalidRequest", "lambda_handler"]


def decision_for(request: dict) -> dict:
    validate(request, "consent_policy_request")
    decision = decide(request["parties"]).to_dict()
    if decision["decision"] != "none":
        decision["promptObject"] = prompt_object(decision["promptKey"])
    return validate(decision, "consent_decision")


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    decision = decision_for(event)
    logger.info(
        "consent decided", extra={"decision": decision["decision"], "policy_version": decision["policyVersion"]}
    )
    return decision
