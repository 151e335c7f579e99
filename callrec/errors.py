"""An AWS service error as boto3 raises it: one shape for the engine (Lambda, IAM refusals) and the
simulator (the twins' answers, also on the wire)."""

from __future__ import annotations

import uuid

from botocore.exceptions import ClientError


def service_error(code: str, message: str, status: int, operation: str) -> ClientError:
    """ClientError with the service's error code and message, its HTTP status and a request id."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
        },
        operation,
    )
