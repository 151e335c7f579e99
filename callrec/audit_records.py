"""The frame of every audit record the workflows write, in one place.

A workflow adds to the audit trail with a Put into the audit table inside its state's transaction. Every such
Put has the same frame: insert-only (a record is never overwritten), keyed by the session (each workflow's
execution is named after its session) and by a time-ordered key, `<entered time>#<order>#<uuid>`, and naming
the execution that wrote it. What differs from state to state stays in the definitions: the event, the actor,
the details, and the order part of the key (what sorts records written in the same millisecond). A change to the
frame is one edit here, then `python -m callrec.audit_records --write`; tests/unit/test_audit_records.py fails
while a definition and this module disagree.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from callrec import definitions

TABLE = "${AuditTableName}"
CONDITION = "attribute_not_exists(sessionId)"  # insert-only
SESSION = "{% $states.context.Execution.Name %}"
EXECUTION = "{% $states.context.Execution.Id %}"
_KEY = re.compile(r"^\{% \$states\.context\.State\.EnteredTime & '#' & (?P<order>.+) & '#' & \$uuid\(\) %\}$")


def key(order: str) -> str:
    """The record's sort key: its state's entered time, then `order` (a JSONata expression), then a UUID."""
    return "{% $states.context.State.EnteredTime & '#' & " + order + " & '#' & $uuid() %}"


def order_of(at: str) -> str:
    """The order part of a record's key (raises ValueError naming the key when it is not in the frame)."""
    found = _KEY.match(at)
    if found is None:
        raise ValueError(f"an audit record's key must be {key('<order>')!r}, not {at!r}")
    return found.group("order")


def framed(put: dict) -> dict:
    """One audit Put in the frame (field order kept; what the state says of its record unchanged)."""
    item = dict(put["Item"])
    item["sessionId"] = {"S": SESSION}
    item["at"] = {"S": key(order_of(item["at"]["S"]))}
    item["executionArn"] = {"S": EXECUTION}
    return {**put, "Item": item, "ConditionExpression": CONDITION}


def _walk(value: Any, on_put: Callable[[dict], dict]) -> Any:
    """`value` with every audit Put in it replaced by `on_put`'s answer for it."""
    if isinstance(value, dict):
        put = value.get("Put")
        if isinstance(put, dict) and put.get("TableName") == TABLE:
            return {**value, "Put": on_put(put)}
        return {name: _walk(item, on_put) for name, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, on_put) for item in value]
    return value


def applied(definition: dict) -> dict:
    """The definition with every audit Put in the frame."""
    return {**definition, "States": _walk(definition["States"], framed)}


def puts(definition: dict) -> list[tuple[str, dict]]:
    """Every audit Put of the definition, by its state's name."""
    found: list[tuple[str, dict]] = []
    for name, state in definition["States"].items():
        _walk(state, lambda put, name=name: found.append((name, put)) or put)
    return found


if __name__ == "__main__":
    definitions.main(sys.argv[1:], "callrec.audit_records", applied)
