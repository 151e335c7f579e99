"""A tamper-evident audit trail: seals that chain a session's audit records.

Audit records are insert-only: every write is conditional and never replaces one. On top of that, a
*seal* commits to them: an insert-only record of its own (`at` = "SEAL#000001", ...) that holds the
SHA-256 of each record it covers (canonical JSON of the record as stored) and the hash of the previous
seal, so the seals form a hash chain. The session keeps the chain head (`auditHead`, `auditSeals`), and the
verification's signed attestation includes it.

Who seals: while the call goes on, AuditSealer, which the audit table's stream brings every new record to
(moments after its write), and for a recorded call on after its end; at the call's end, the entry point that
takes a stop or hang-up (also one refused because the session had ended), RecordingSession's last task when no
verification follows, and VerifyRecording before it signs; once the verdict is saved, AuditSealer again: the seal
that covers the verdict closes the trail (`closed`), and it seals nothing written after that (an entry point
that refuses a late end still seals its own record of it). A record written after the last seal is covered by the next
one, until the trail is closed. A seal covers at most PER_SEAL records; a record can be covered by two (`_since`).
`verify` recomputes everything and names each record that was changed, deleted (or moved: its key is part of what a
seal covers) and each that no seal covers yet: an unsealed record is reported as unverified, never as holding.

Concurrency: two sealers that race for the same seal number both try an insert-only write; one wins, the
other reads again and seals what is left, so the chain stays linear.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from callrec_shared.attestation import canonical
from callrec_shared.aws import client, settings

SEAL_PREFIX = "SEAL#"
SEALED = "AUDIT_SEALED"
VERDICT_ACTOR = "VerifyRecording"  # the actor of the verdict record (the workflow's Save Verdict)
ATTEMPTS = 8  # races lost to other sealers before giving up (the next seal covers what is left)
PER_SEAL = 1_000  # records one seal covers at most: a seal item stays far below DynamoDB's 400 KB
log = logging.getLogger(__name__)


def record_hash(item: dict[str, Any]) -> str:
    """SHA-256 of the item as stored (DynamoDB JSON, its types included), in canonical JSON; a binary value
    someone slipped in is hashed by its repr, so it is reported, never a crash."""
    return hashlib.sha256(canonical(item, default=repr)).hexdigest()


SEALS_PER_READ = 4  # seals read newest first: a first page of this many, then the rest, until one covers nothing new


def _pages(
    session_id: str, condition: str = "", values: dict[str, Any] | None = None, first: int = 0, **options: Any
) -> Any:
    """The session's audit items whose key (`#at`) meets `condition`, page by page; strongly consistent. `first`:
    the first page holds at most that many items, the rest come in as few pages as DynamoDB allows."""
    request: dict[str, Any] = {
        "KeyConditionExpression": "sessionId = :id" + (f" AND {condition}" if condition else ""),
        "ExpressionAttributeValues": {":id": {"S": session_id}, **(values or {})},
        "ConsistentRead": True,
        **options,
    }
    if condition:
        request["ExpressionAttributeNames"] = {"#at": "at"}
    if first:
        request["Limit"] = first
    while True:
        page = client("dynamodb").query(TableName=settings().audit_table, **request)
        request.pop("Limit", None)
        yield page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _records(session_id: str, since: str | None = None) -> list[dict[str, Any]]:
    """Every audit item of the session (records and seals), in key order. `since`: only the records keyed from it
    on (seals sort after every record, so all of them still come)."""
    if since is None:
        return [item for page in _pages(session_id) for item in page]
    return [item for page in _pages(session_id, "#at >= :since", {":since": {"S": since}}) for item in page]


def _since(session_id: str, since: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records keyed from `since` on, and the seals that may cover them (in key order): read from the newest
    back to the first that covers only records of an earlier time than `since`'s. An older seal covered older
    records. One that covered a record from `since` on is left unread only if a later seal covered only earlier
    ones: a record written well after the time its key was given (a stalled writer), or one left unsealed by its
    batch and sealed by a call's end seal. The record is then covered again by the next seal, with the same hash,
    which `verify` accepts: it costs a few bytes, never the chain's proof."""
    records = [  # every record key sorts before SEAL_PREFIX
        item
        for page in _pages(
            session_id, "#at BETWEEN :since AND :seals", {":since": {"S": since}, ":seals": {"S": SEAL_PREFIX}}
        )
        for item in page
        if not is_seal(item)
    ]
    newest_first = _pages(
        session_id,
        "begins_with(#at, :seals)",
        {":seals": {"S": SEAL_PREFIX}},
        first=SEALS_PER_READ,
        ScanIndexForward=False,
    )
    seals: list[dict[str, Any]] = []
    for item in (item for page in newest_first for item in page):
        seals.append(item)
        if all(_time(at) < _time(since) for at, _ in json.loads(item["covers"]["S"])):
            break
    return records, seals[::-1]


def _time(at: str) -> str:
    """The time a record's key begins with (ISO 8601, milliseconds): records written in the same millisecond sort
    by the rest of their keys, not in the order they were written."""
    return at.split("#", 1)[0]


def _number(seal: dict[str, Any]) -> int:
    return int(seal["at"]["S"][len(SEAL_PREFIX) :])


def is_seal(item: dict[str, Any]) -> bool:
    """A seal, not a record (DynamoDB JSON)."""
    return item["at"]["S"].startswith(SEAL_PREFIX)


def is_verdict(item: dict[str, Any], verified_at: str) -> bool:
    """The verification's verdict, the last record of a session's trail: written by VerifyRecording (its only record)
    in the transaction that set the session's `verifiedAt`, which its key begins with."""
    return (
        not is_seal(item)
        and item.get("actor", {}).get("S") == VERDICT_ACTOR
        and item["at"]["S"].startswith(f"{verified_at}#")
    )


def _covered(items: list[dict[str, Any]]) -> set[str]:
    """The keys of the records that the seals among `items` cover."""
    return {sk for item in items if is_seal(item) for sk, _ in json.loads(item["covers"]["S"])}


def _verdict_covered(items: list[dict[str, Any]], covered: set[str], verified_at: str) -> bool:
    return any(is_verdict(item, verified_at) and item["at"]["S"] in covered for item in items)


def closed(items: list[dict[str, Any]], verified_at: str) -> bool:
    """Is the trail closed: does a seal cover the verdict? (`items`: the session's records and seals;
    `verified_at`: the session's `verifiedAt`.)"""
    return _verdict_covered(items, _covered(items), verified_at)


def is_closed(session_id: str, session: dict[str, Any]) -> bool:
    """Is the session's trail closed: its verdict sealed, and the session's head moved to that seal? (`session`:
    its view, read before this.)"""
    if not session.get("verifiedAt"):
        return False
    items = _records(session_id, since=session["verifiedAt"])  # the verdict (keyed from its time on) and every seal
    seals = [item for item in items if is_seal(item)]
    return closed(items, session["verifiedAt"]) and seals[-1]["hash"]["S"] == session.get("auditHead")


def _seal_body(session_id: str, seq: int, prev: str, covers: list[list[str]]) -> dict[str, Any]:
    return {
        "sessionId": {"S": session_id},
        "at": {"S": f"{SEAL_PREFIX}{seq:06d}"},
        "event": {"S": SEALED},
        "prev": {"S": prev},
        "covers": {"S": json.dumps(covers, separators=(",", ":"))},
    }


def seal(session_id: str, actor: str, *, verified_at: str | None = None, since: str | None = None) -> str | None:
    """Seal every record of the session that no seal covers yet; the chain head (None if sealing failed: the
    caller's own write stands, and the next seal covers it). `verified_at` (the session's `verifiedAt`): seal
    nothing once the trail is closed (a record inserted after the sealed verdict stays unsealed, so `verify`
    reports it). `since` (AuditSealer: the key of the earliest record the stream brought it): seal the records
    keyed from there on (and the verdict), and read no earlier one, and before the verdict only the newest seals
    (`_since`); an earlier record no seal covers yet (its own batch failed past its retries) is left to a seal that
    reads the whole trail, as the call's end seals do."""
    if since is not None and verified_at is not None:
        since = min(since, verified_at)  # the verdict's key begins with its time: read, so its seal is seen
    try:
        lost = 0
        while lost < ATTEMPTS:
            if since is not None and verified_at is None:  # a call going on: its newest seals are enough
                records, seals = _since(session_id, since)
            else:  # the whole trail (or, once verified, every seal: the one that closed it must be seen)
                items = _records(session_id, since)
                records, seals = [i for i in items if not is_seal(i)], [i for i in items if is_seal(i)]
            covered = _covered(seals)
            if verified_at is not None and _verdict_covered(records, covered, verified_at):
                return str(seals[-1]["hash"]["S"])
            fresh = [item for item in records if item["at"]["S"] not in covered][:PER_SEAL]
            head = seals[-1]["hash"]["S"] if seals else ""
            number = _number(seals[-1]) + 1 if seals else 1
            if not fresh:
                return head
            body = _seal_body(session_id, number, head, [[i["at"]["S"], record_hash(i)] for i in fresh])
            item = {**body, "actor": {"S": actor}, "hash": {"S": record_hash(body)}}
            try:
                client("dynamodb").put_item(
                    TableName=settings().audit_table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#at)",
                    ExpressionAttributeNames={"#at": "at"},
                )
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                lost += 1  # another sealer took this number: read again, seal what is left
                continue
            _move_head(session_id, number, item["hash"]["S"])
            if len(fresh) < PER_SEAL:  # all it read is sealed; a record written since is the stream's to seal
                return str(item["hash"]["S"])
    except ClientError as err:
        log.warning("audit of session %s not sealed now: %s", session_id, err.response["Error"]["Code"])
    return None


def _move_head(session_id: str, seq: int, head: str) -> None:
    """The session keeps the chain head; a slower sealer of an earlier seal never moves it back."""
    try:
        client("dynamodb").update_item(
            TableName=settings().sessions_table,
            Key={"sessionId": {"S": session_id}},
            UpdateExpression="SET auditHead = :head, auditSeals = :seq",
            ConditionExpression="attribute_exists(sessionId) AND (attribute_not_exists(auditSeals) OR auditSeals < :seq)",
            ExpressionAttributeValues={":head": {"S": head}, ":seq": {"N": str(seq)}},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


@dataclass
class ChainReport:
    session_id: str
    records: list[dict[str, str]] = field(default_factory=list)  # at, event, actor, state
    problems: list[str] = field(default_factory=list)  # what broke, naming the record or seal
    seals: int = 0
    head: str = ""

    @property
    def unsealed(self) -> list[str]:
        return [r["at"] for r in self.records if r["state"] == "unsealed"]

    @property
    def holds(self) -> bool:
        """Every record sealed, unchanged and present, the seals linked, the session's head the last seal."""
        return not self.problems and not self.unsealed

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "holds": self.holds,
            "seals": self.seals,
            "head": self.head,
            "problems": self.problems,
            "unsealed": self.unsealed,
            "records": self.records,
        }


def verify(session_id: str, session_head: str | None) -> ChainReport:
    """Recompute the chain from the table: each seal's hash and link, each covered record's hash. Names every
    record changed, missing (deleted or moved) or not sealed yet. `session_head`: the session's `auditHead`."""
    report = ChainReport(session_id)
    items = _records(session_id)
    records = {item["at"]["S"]: item for item in items if not is_seal(item)}
    covered: dict[str, str] = {}
    prev = ""
    for index, item in enumerate(item for item in items if is_seal(item)):
        name = item["at"]["S"]
        body = _seal_body(session_id, index + 1, item.get("prev", {}).get("S", ""), json.loads(item["covers"]["S"]))
        if name != body["at"]["S"]:
            report.problems.append(f"seal {name}: out of sequence (expected {body['at']['S']})")
        if item.get("hash", {}).get("S") != record_hash(body):
            report.problems.append(f"seal {name}: changed (its hash does not match what it covers)")
        if body["prev"]["S"] != prev:
            report.problems.append(f"seal {name}: does not link to the seal before it")
        prev = item.get("hash", {}).get("S", "")
        report.seals += 1
        for at, digest in json.loads(item["covers"]["S"]):
            covered[at] = digest
            if at not in records:
                report.problems.append(f"record {at}: missing (deleted, or moved to another key) - sealed by {name}")
    report.head = prev
    if session_head is not None and session_head != prev:
        report.problems.append("the session's auditHead is not the last seal (a seal was removed or replaced)")
    for at, item in records.items():
        state = "sealed"
        if at not in covered:
            state = "unsealed"
        elif record_hash(item) != covered[at]:
            state = "changed"
            report.problems.append(f"record {at}: changed after it was sealed")
        report.records.append(
            {
                "at": at,
                "event": item.get("event", {}).get("S", ""),
                "actor": item.get("actor", {}).get("S", ""),
                "state": state,
            }
        )
    return report
