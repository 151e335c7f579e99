"""The twins' answers on the wire, checked against botocore's own output shapes for the service: no member the
service model lacks, every value of the member's type. A twin's answer that does not fit is a simulator bug,
answered 500 with the problem, so the tests over the wire catch it."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.session import get_session

SERVICES = {"connect": "connect", "chime": "chime-sdk-voice"}  # signing name -> botocore service name


@cache
def _operation(service: str, operation: str) -> OperationModel:
    return get_session().get_service_model(service).operation_model(operation)


def problems(service: str, operation: str, body: Any) -> list[str]:
    """Why `body` is not `operation`'s output as the service model defines it (empty: it fits)."""
    shape = _operation(service, operation).output_shape
    if shape is None:
        return [] if not body else ["the operation has no output, but the answer has a body"]
    return list(_walk(shape, body, ""))


def _walk(shape: Shape, value: Any, path: str) -> Iterator[str]:
    where = path or "(top)"
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            yield f"{where}: {shape.name} must be an object"
            return
        members = {
            name: member for name, member in shape.members.items() if member.serialization.get("location") is None
        }
        for key, item in value.items():
            if key not in members:
                yield f"{path}/{key}: {shape.name} has no member {key!r}"
            else:
                yield from _walk(members[key], item, f"{path}/{key}")
    elif kind == "list":
        if not isinstance(value, list):
            yield f"{where}: must be a list"
            return
        for index, item in enumerate(value):
            yield from _walk(shape.member, item, f"{path}/{index}")
    elif kind == "map":
        if not isinstance(value, dict):
            yield f"{where}: must be a map"
            return
        for key, item in value.items():
            yield from _walk(shape.value, item, f"{path}/{key}")
    elif kind == "string":
        if not isinstance(value, str):
            yield f"{where}: must be a string"
        elif shape.enum and value not in shape.enum:
            yield f"{where}: {value!r} is not one of {shape.name}'s values"
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            yield f"{where}: must be an integer"
    elif kind in ("float", "double", "timestamp"):  # restJson timestamps: epoch seconds
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            yield f"{where}: must be a number"
    elif kind == "boolean":
        if not isinstance(value, bool):
            yield f"{where}: must be a boolean"
