"""JSON Schema validation for every payload that crosses a boundary; an error names the field.

The schemas are the files in the repository's `schemas/` folder; the layer build copies them next to
this module, so what is tested is what ships.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
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


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    schema = resources.load_json("schemas", f"{name}.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


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


def validate(payload: Any, name: str) -> Any:
    """Return `payload` unchanged if it matches schema `name`, else raise `InvalidRequest` for one field."""
    error = best_match(validator(name).iter_errors(payload))
    if error is not None:
        message = "unknown field" if error.validator == "additionalProperties" else (
            "is required" if error.validator == "required" else error.message
        )
        raise InvalidRequest(field_of(error), message)
    return payload


def deployed_providers() -> list[str]:
    """The providers this deployment serves (the template's Providers parameter, in PROVIDERS)."""
    return [p for p in os.environ.get("PROVIDERS", "connect,chime").split(",") if p]


def validate_start(request: Any) -> dict:
    """A start-recording request: its schema, and a provider this deployment serves."""
    validate(request, "start_recording_request")
    deployed = deployed_providers()
    if request["provider"] not in deployed:
        raise InvalidRequest("provider", f"{request['provider']} is not deployed here (Providers={','.join(deployed)})")
    return request
