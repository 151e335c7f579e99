"""The ledger record for how botocore reads a JSON answer: as `json.loads` gives it, with botocore's own reading of
the timestamps in it, where that is botocore's own reading.

botocore reads a JSON-protocol answer in two steps: `json.loads`, then a walk of the result against the output
shape, which decodes blobs (base64) and timestamps, drops members that are null, and maps renamed members. Every
other JSON type is kept as it is (`BaseJSONParser._default_handle`), so for most answers the walk gives back what
`json.loads` gave. DynamoDB's data-plane answers are such answers (each attribute value a structure of its own: 25%
of a GetItem's time here, 500 us of a Query's), and reading them was 2.7% of a profiled test run's CPU. Answers with
timestamps in them were walked whole for those few values: a DynamoDB stream's records (one timestamp per record,
beside two item images) and an execution's history (one per event) took 3.3% of a later run's CPU to read, of which
`json.loads` was a sixth.

The walk is replaced where it is known to change nothing but what a plan worked out from the shape says: the output
shape holds no document, no renamed member, no tagged union and no timestamp under a recursive shape, and no blob but
under member names that are absent from the body (DynamoDB's `B` and `BS`), and the body has no `null`. The plan
reads each timestamp where the shape puts it, by the parser's own `_handle_timestamp`, and builds each structure again
as the walk builds it (the shape's members in its order, any other dropped), but for a recursive shape (an attribute
value), kept as loaded below its first level: each holds one member, and a member the shape does not know would be
kept there where the walk drops it (moto's answers have none). botocore's own walk reads everything else. Tests
compare both readings, in order at every level, on every JSON answer of played calls and on items of every attribute
type.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callrec.engine.ledger import Patch

TIMESTAMP = "timestamp"  # a plan's leaf: the value is a timestamp, read by the parser
# A plan says how the walk would change a value: TIMESTAMP; for a structure, {member: plan} (the structure is built
# again with the shape's members in its order, and the members named read by their plans); for a list or a map,
# ("items", plan) of its members or values; None where the walk would give back the value as it is.
Plan = Any


@dataclass(frozen=True)
class _Reading:
    """How an output shape's answer is read without the walk: the body tokens that call for the walk after all
    (`null`, and each member name a blob is under, quoted), and the plan of the rest."""

    walk_if: tuple[bytes, ...]
    plan: Plan


# per output shape, for as long as botocore keeps it (worked out again by a thread that races another: the same)
_readings: weakref.WeakKeyDictionary[Any, _Reading | None] = weakref.WeakKeyDictionary()
_UNSEEN = object()


class _WalkNeeded(Exception):
    """The shape holds something only botocore's walk reads as botocore does."""


@dataclass
class _Survey:
    """What surveying an output shape found so far."""

    blobs: set[str]  # the member names blobs are under
    visiting: set[str]  # the shapes on the way down (a recursion ends where one is met again)
    recursive: set[str]  # the shapes met again below themselves
    timestamps: set[str]  # the shapes that hold a timestamp anywhere below them


def _survey(shape: Any, member: str, found: _Survey) -> Plan:
    """The plan of `shape` (or _WalkNeeded)."""
    if shape.name in found.visiting:  # a recursive shape (an attribute value's M and L): surveyed higher up
        found.recursive.add(shape.name)
        return None
    kind = shape.type_name
    if getattr(shape, "is_document_type", False) or getattr(shape, "is_tagged_union", False):
        raise _WalkNeeded
    if kind == "timestamp":
        found.timestamps.add(shape.name)
        return TIMESTAMP
    if kind == "blob":
        found.blobs.add(member)
        return None
    found.visiting.add(shape.name)
    try:
        plan: Plan = None
        children: list[Any] = []
        if kind == "structure":
            plan = {}
            for name, child in shape.members.items():
                if child.serialization.get("name", name) != name:
                    raise _WalkNeeded
                if (read := _survey(child, name, found)) is not None:
                    plan[name] = read
                children.append(child)
        elif kind in ("list", "map"):
            children = [shape.member] if kind == "list" else [shape.key, shape.value]
            reads = [_survey(child, member, found) for child in children]
            if len(reads) == 2 and reads[0] is not None:  # a map keyed by what the walk reads (no AWS map is)
                raise _WalkNeeded
            plan = None if reads[-1] is None else ("items", reads[-1])
        if any(child.name in found.timestamps for child in children):
            found.timestamps.add(shape.name)
        if shape.name in found.recursive:
            # A recursive shape is kept as loaded below its first level (an attribute value has one member),
            # which no plan could say of a timestamp at any depth.
            if shape.name in found.timestamps:
                raise _WalkNeeded
            return None
        return plan
    finally:
        found.visiting.discard(shape.name)


def _reading(shape: Any) -> _Reading | None:
    """How an output shape's answer is read without the walk; None if it always needs the walk. Kept per shape."""
    reading: Any = _readings.get(shape, _UNSEEN)
    if reading is _UNSEEN:
        reading = None
        if shape.type_name == "structure":
            found = _Survey(set(), set(), set(), set())
            try:
                plan = _survey(shape, "", found)
            except _WalkNeeded:
                pass
            else:
                walk_if = (b"null", *(f'"{name}"'.encode() for name in sorted(found.blobs)))
                reading = _Reading(walk_if, plan if plan is not None else {})
        _readings[shape] = reading
    return reading


def reading_for(raw_body: bytes, shape: Any) -> _Reading | None:
    """How this answer is read without the walk; None where botocore's walk reads it."""
    reading = _reading(shape) if shape is not None and raw_body else None
    if reading is None or any(token in raw_body for token in reading.walk_if):
        return None
    return reading


def _read(parser: Any, shape: Any, plan: Plan, value: Any) -> Any:
    """`value` as the walk reads it, by the plan of its shape."""
    if plan is None:
        return value
    if plan is TIMESTAMP:
        return parser._handle_timestamp(shape, value)
    if isinstance(plan, dict):  # a structure, built as the walk builds it
        members = shape.members
        return {name: _read(parser, members[name], plan.get(name), value[name]) for name in members if name in value}
    items = plan[1]
    if shape.type_name == "list":
        return [_read(parser, shape.member, items, item) for item in value]
    return {key: _read(parser, shape.value, items, item) for key, item in value.items()}


def _read_as_loaded(original: Callable[[Any, bytes, Any], Any]) -> Callable[[Any, bytes, Any], Any]:
    def _handle_json_body(self: Any, raw_body: bytes, shape: Any) -> Any:
        """botocore's reading of a JSON body: `json.loads`, and its timestamps read where the shape puts them, where
        the shape walk would change nothing else."""
        reading = reading_for(raw_body, shape)
        if reading is not None:
            loaded = self._parse_body_as_json(raw_body)
            if isinstance(loaded, dict):
                return _read(self, shape, reading.plan, loaded)
        return original(self, raw_body, shape)

    return _handle_json_body


RECORDS = (
    Patch(
        "json-answers-read-as-loaded",
        "botocore.parsers:JSONParser._handle_json_body",
        _read_as_loaded,
        "speed",
        "botocore walked every JSON answer against its output shape after json.loads, though for most answers "
        "(DynamoDB's items among them) the walk gives back what json.loads gave, and for the others (a stream's "
        "records, an execution's history) it changes only the timestamps and the order of members: 2.7% and 3.3% of "
        "two profiled test runs' CPU.",
        "local only: botocore's own cost, the same on AWS; moto never sees how its answer is read",
        uses=(
            "botocore.parsers:BaseJSONParser._parse_body_as_json",
            "botocore.parsers:BaseJSONParser._handle_structure",
            "botocore.parsers:BaseJSONParser._handle_timestamp",
            "botocore.parsers:ResponseParser._default_handle",
        ),
    ),
)
