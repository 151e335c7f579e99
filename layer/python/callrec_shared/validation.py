r"""JSON Schema validation for every payload that crosses a boundary; an error names the field and what
was expected, never the value (a card-number-shaped value must not reach a log or an answer).

Patterns match the whole value: JSON Schema's patterns are ECMA-262 regular expressions, where `$` is
the end of the string; Python's `$` also matches before a final newline, so `"+14155550123\n"` would
pass `^\+[1-9][0-9]{1,14}$`. Each pattern's final `$` is read as `\Z` here.

The schemas are the files in the repository's `schemas/` folder; the layer build copies them next to
this module, so what is tested is what ships.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match

from callrec_shared import resources


class InvalidRequest(Exception):
    """A payload does not match its schema. Matched by name in the state machines' Catch."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def schema_dir() -> Path:
    return resources.folder("schemas")


@cache
def whole(pattern: str) -> re.Pattern[str]:
    r"""The pattern with its final `$` (if any) as `\Z`: the end of the value, not before a final newline."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if isinstance(instance, str) and not whole(pattern).search(instance):
        yield ValidationError("does not match the expected format")


StrictValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def validator(name: str) -> Draft202012Validator:
    schema = resources.load_json("schemas", f"{name}.schema.json")
    Draft202012Validator.check_schema(schema)
    return StrictValidator(schema, format_checker=FormatChecker())


def describe(error: ValidationError) -> str:
    """What the field should have been, from the schema alone (never the value that was sent)."""
    expected, kind = error.validator_value, error.validator
    return {
        "additionalProperties": "unknown field",
        "required": "is required",
        "type": f"must be of type {' or '.join(expected) if isinstance(expected, list) else expected}",
        "enum": "is not one of the allowed values",
        "const": "is not the allowed value",
        "pattern": "does not match the expected format",
        "format": f"is not a valid {expected}",
        "minLength": f"must be at least {expected} characters long",
        "maxLength": f"must be at most {expected} characters long",
        "minItems": f"must have at least {expected} items",
        "maxItems": f"must have at most {expected} items",
        "minProperties": f"must have at least {expected} fields",
        "maxProperties": f"must have at most {expected} fields",
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "exclusiveMinimum": f"must be more than {expected}",
        "exclusiveMaximum": f"must be less than {expected}",
    }.get(kind, f"is not valid ({kind})")


def field_of(error: ValidationError) -> str:
    """The dotted path of the offending field, including the missing or unknown property's name."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        missing = [p for p in error.validator_value if p not in (error.instance or {})]
        path.append(missing[0] if missing else "?")
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(key for key in error.instance if key not in allowed)
        path.append(unknown[0] if unknown else "?")
    return ".".join(path) or "(payload)"


MAX_DEPTH = 32  # no payload here nests deeper; a deeper one is refused before anything walks it recursively


def _unencodable(payload: Any) -> str | None:
    """The dotted path of a string (or key) that is not valid Unicode text (a lone surrogate, which cannot be
    encoded as UTF-8 and would fail later, in a store or a log), or "(payload)" when nested too deeply."""
    stack: list[tuple[Any, list[str]]] = [(payload, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return "(payload)"
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            for text in (key, item):
                if isinstance(text, str):
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError:
                        return ".".join([*path, str(key).encode("utf-8", "replace").decode()]) or "(payload)"
            if isinstance(item, (dict, list)):
                stack.append((item, [*path, str(key)]))
    return None


def parse_json(text: str | bytes | None, field: str = "(body)", empty: str = "") -> Any:
    """A request body as JSON; InvalidRequest naming `field` when it is not JSON, nests too deeply (Python's
    parser raises RecursionError near 1,000 levels) or holds text that is not valid Unicode."""
    try:
        payload = json.loads(text or empty)
    except (ValueError, RecursionError):
        raise InvalidRequest(field, "must be a JSON object") from None
    return payload


def validate(payload: Any, name: str) -> Any:
    """Return `payload` unchanged if it matches schema `name`, else raise `InvalidRequest` for one field."""
    bad = _unencodable(payload)
    if bad is not None:
        raise InvalidRequest(bad, "is nested too deeply" if bad == "(payload)" else "is not valid Unicode text")
    error = best_match(validator(name).iter_errors(payload))
    if error is not None:
        raise InvalidRequest(field_of(error), describe(error))
    return payload


def deployed_providers() -> list[str]:
    """The providers this deployment serves (the template's Providers parameter, in PROVIDERS)."""
    return [p for p in os.environ.get("PROVIDERS", "connect,chime").split(",") if p]


def validate_start(request: Any) -> dict[str, Any]:
    """A start-recording request: its schema, and a provider this deployment serves."""
    validate(request, "start_recording_request")
    if request["provider"] == "connect" and "keyPrefix" in request.get("recording", {}):
        raise InvalidRequest("recording.keyPrefix", "only a Chime call takes one (Connect's is the instance's storage)")
    deployed = deployed_providers()
    if request["provider"] not in deployed:
        raise InvalidRequest("provider", f"this provider is not deployed here (Providers={','.join(deployed)})")
    call, configured = request["call"], configured_call_sources()
    field, wanted = (
        ("call.InstanceId", configured["connect"])
        if request["provider"] == "connect"
        else ("call.SipMediaApplicationId", configured["chime"])
    )
    if wanted and call[field.split(".")[1]] != wanted:
        raise InvalidRequest(field, "is not the one this deployment records")
    return request


def configured_call_sources() -> dict[str, str]:
    """The Connect instance id and the SMA id this deployment records (template parameters, via the
    functions' environment); "" where not configured."""
    arn = os.environ.get("CONNECT_INSTANCE_ARN", "")
    return {"connect": arn.rsplit("/", 1)[-1] if arn else "", "chime": os.environ.get("SIP_MEDIA_APPLICATION_ID", "")}
