"""The ledger record for how botocore reads a JSON answer: as `json.loads` gives it, where that is botocore's own
reading.

botocore reads a JSON-protocol answer in two steps: `json.loads`, then a walk of the result against the output
shape, which decodes blobs (base64) and timestamps, drops members that are null, and maps renamed members. For an
answer with none of these, the walk gives back what `json.loads` gave (every other JSON type is kept as it is,
`BaseJSONParser._default_handle`). DynamoDB's data-plane answers are such answers (each attribute value a
structure of its own: 25% of a GetItem's time here, 500 us of a Query's), and reading them was 2.7% of a profiled
test run's CPU.

The walk is skipped where it is known to change nothing: the output shape holds no timestamp, no document, no
renamed member, and no blob but under member names that are absent from the body (DynamoDB's `B` and `BS`), and
the body has no `null`. The top-level members are taken in the shape's order and any other dropped, as the walk
does; below the top level, a member the shape does not know would be kept where the walk drops it (moto's answers
have none). botocore's own walk reads everything else. Tests compare both readings, in order at every level, on
every JSON answer of played calls and on items of every attribute type.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from callrec.engine.ledger import Patch

# per output shape, for as long as botocore keeps it (worked out again by a thread that races another: the same)
_plain_shapes: weakref.WeakKeyDictionary[Any, tuple[bytes, ...] | None] = weakref.WeakKeyDictionary()
_UNSEEN = object()


def _blob_names(shape: Any, member: str, visiting: set[str]) -> set[str] | None:
    """The member names under which `shape`'s tree holds blobs; None if reading it changes something else."""
    if shape.name in visiting:  # a recursive shape (an attribute value's M and L): seen higher up
        return set()
    kind = shape.type_name
    if kind == "timestamp" or getattr(shape, "is_document_type", False):
        return None
    if kind == "blob":
        return {member}
    visiting.add(shape.name)
    try:
        if kind == "structure":
            names: set[str] = set()
            for name, child in shape.members.items():
                if child.serialization.get("name", name) != name:
                    return None
                found = _blob_names(child, name, visiting)
                if found is None:
                    return None
                names |= found
            return names
        if kind == "list":
            return _blob_names(shape.member, member, visiting)
        if kind == "map":
            keys, values = _blob_names(shape.key, member, visiting), _blob_names(shape.value, member, visiting)
            return None if keys is None or values is None else keys | values
        return set()
    finally:
        visiting.discard(shape.name)


def _plain(shape: Any) -> tuple[bytes, ...] | None:
    """For an output shape read as it is: the body tokens that call for botocore's walk (`null`, and each member
    name a blob is under, quoted); None if its shape always does. Kept per shape."""
    tokens: Any = _plain_shapes.get(shape, _UNSEEN)
    if tokens is _UNSEEN:
        names = _blob_names(shape, "", set()) if shape.type_name == "structure" else None
        tokens = None if names is None else (b"null", *(f'"{name}"'.encode() for name in sorted(names)))
        _plain_shapes[shape] = tokens
    return tokens


def _read_as_loaded(original: Callable[[Any, bytes, Any], Any]) -> Callable[[Any, bytes, Any], Any]:
    def _handle_json_body(self: Any, raw_body: bytes, shape: Any) -> Any:
        """botocore's reading of a JSON body, by `json.loads` alone where the shape walk would change nothing."""
        tokens = _plain(shape) if shape is not None and raw_body else None
        if tokens is not None and not any(token in raw_body for token in tokens):
            loaded = self._parse_body_as_json(raw_body)
            if isinstance(loaded, dict):  # the shape's members, in its order; others dropped, as the walk does
                return {name: loaded[name] for name in shape.members if name in loaded}
        return original(self, raw_body, shape)

    return _handle_json_body


RECORDS = (
    Patch(
        "json-answers-read-as-loaded",
        "botocore.parsers:JSONParser._handle_json_body",
        _read_as_loaded,
        "speed",
        "botocore walked every JSON answer against its output shape after json.loads, though for most answers "
        "(DynamoDB's items among them) the walk gives back what json.loads gave: 2.7% of a profiled test run's "
        "CPU.",
        "local only: botocore's own cost, the same on AWS; moto never sees how its answer is read",
        uses=(
            "botocore.parsers:BaseJSONParser._parse_body_as_json",
            "botocore.parsers:BaseJSONParser._handle_structure",
            "botocore.parsers:ResponseParser._default_handle",
        ),
    ),
)
