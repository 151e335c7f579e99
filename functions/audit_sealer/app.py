"""AuditSealer: the audit trail is chained as it is written. Every record inserted into the audit table comes to
this function on the table's stream (keys only), and its session is sealed at once (callrec_shared.audit_chain):
the seal holds the hash of each record no seal covered yet and the previous seal's hash, and the session's chain
head moves on. A record is chained moments after its write, while the call goes on, instead of only when the
call ends; a record changed or removed after that is named by `callrec audit verify`.

Why on the stream and not in the write: the workflow writes its audit records inside the DynamoDB transactions
of its own states, where reading and moving a chain head would cost a state transition and a conflict retry
for every record. The stream gives one ordered reader per session (its records share a partition key, so one
shard, in write order), so the chain stays linear.

A recorded session is sealed here until its trail is closed: its verdict's record comes here too, and the seal
that covers it closes the trail (the verification itself seals before it signs, so nothing is chained here that
it would not chain). Any other ended session is left alone: its end is sealed by those who end it (the entry
point that takes the hang-up, RecordingSession's last task). A record inserted after such an end seal, or after
the closing seal, is left unsealed, so `callrec audit verify` reports it (unverified): a late insertion is never
chained in as if it belonged.

Seals are insert-only records of the same table; their own stream records are skipped. A session whose seal
fails (throttled, refused) is reported as the batch's failure from its first record, so Lambda reads again from
there; a later seal covers whatever an earlier one missed, so nothing is lost when the retries run out, only
chained later (at the latest by the seals at the call's end).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from callrec_shared import audit_chain
from callrec_shared.aws import client, settings

logger = Logger(service="callrec")
ACTOR = "AuditSealer"


def _inserted(records: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """session id -> (the stream sequence number of its first new record in the batch, the smallest key of its new
    records), seals left out."""
    first: dict[str, tuple[str, str]] = {}
    for record in records:
        keys = record.get("dynamodb", {}).get("Keys", {})
        session_id, at = keys.get("sessionId", {}).get("S"), keys.get("at", {}).get("S", "")
        if record.get("eventName") != "INSERT" or not session_id or at.startswith(audit_chain.SEAL_PREFIX):
            continue
        sequence, since = first.get(session_id, (record["dynamodb"]["SequenceNumber"], at))
        first[session_id] = (sequence, min(since, at))
    return first


def _stage(session_id: str) -> tuple[str, str | None]:
    """The session's stage for sealing: "verified" (its verdict is saved; with its `verifiedAt`), "ended" (ended,
    and not recorded), or "open" (also a session not opened yet: an entry point's record can come first; and a
    recorded one whose verdict is not saved yet)."""
    item = (
        client("dynamodb")
        .get_item(
            TableName=settings().sessions_table,
            Key={"sessionId": {"S": session_id}},
            ProjectionExpression="endedAt, verifiedAt, #status",
            ExpressionAttributeNames={"#status": "status"},
            ConsistentRead=True,
        )
        .get("Item")
        or {}
    )
    if "verifiedAt" in item:
        return "verified", item["verifiedAt"]["S"]
    return ("ended" if "endedAt" in item and item.get("status", {}).get("S") != "RECORDED" else "open"), None


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    failed = []
    for session_id, (sequence, since) in _inserted(event["Records"]).items():
        try:
            stage, verified_at = _stage(session_id)
            if stage == "ended":
                continue  # sealed by those who ended it; a later insertion stays unsealed (reported)
        except ClientError as err:
            logger.warning(
                "session not read; Lambda reads the stream again", extra={"code": err.response["Error"]["Code"]}
            )
            failed.append(sequence)
            continue
        if audit_chain.seal(session_id, ACTOR, verified_at=verified_at, since=since) is None:
            failed.append(sequence)
    if failed:  # read again from the earliest record whose session was not sealed
        logger.warning("audit not sealed now; Lambda reads the stream again", extra={"sessions": len(failed)})
        return {"batchItemFailures": [{"itemIdentifier": min(failed, key=int)}]}
    return {"batchItemFailures": []}
