"""Decide the consent policy for a call: none, notice or opt-in, with the reason and the prompt.

The rules are the deployer's document (config/consent_policy.json, in the shared layer); this function
only applies them: the strictest rule among every party's jurisdiction.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from callrec_shared.aws import client
from callrec_shared.consent import decide
from callrec_shared.validation import InvalidRequest, validate

logger = Logger(service="callrec")

__all__ = ["InvalidRequest", "lambda_handler"]


def prompt_object(key: str) -> dict:
    """The exact prompt object the decision names, as the prompt bucket (versioned) holds it now: its S3
    version id and ETag, the evidence of which recording notice was played. If it cannot be read, why."""
    bucket = os.environ.get("PROMPT_BUCKET", "")
    if not key or not bucket:
        return {"key": key, "unavailable": "no prompt" if not key else "no prompt bucket configured"}
    try:
        head = client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        return {"bucket": bucket, "key": key, "unavailable": err.response["Error"]["Code"]}
    return {"bucket": bucket, "key": key, "versionId": head.get("VersionId", "null"), "etag": head["ETag"].strip('"')}


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
