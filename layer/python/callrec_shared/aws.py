"""AWS clients and settings for the functions: one cached factory, read at call time.

boto3 honours AWS_ENDPOINT_URL, so the same code talks to AWS, to `make serve`, or to moto in tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    return boto3.client(service)


@dataclass(frozen=True)
class Settings:
    sessions_table: str
    audit_table: str
    signals_table: str
    recording_session_arn: str
    confirmation_deadline_seconds: float
    max_signals_per_call: int


class MissingSetting(RuntimeError):
    """The function's environment lacks a setting the template gives it."""


def setting(name: str) -> str:
    """One required setting from the function's environment (raises MissingSetting naming it)."""
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"{name} is not set")
    return value


def settings() -> Settings:
    return Settings(
        sessions_table=os.environ.get("SESSIONS_TABLE", ""),
        audit_table=os.environ.get("AUDIT_TABLE", ""),
        signals_table=os.environ.get("SIGNALS_TABLE", ""),
        recording_session_arn=os.environ.get("RECORDING_SESSION_ARN", ""),
        confirmation_deadline_seconds=float(os.environ.get("CONFIRMATION_DEADLINE_SECONDS", "3")),
        max_signals_per_call=int(os.environ.get("MAX_SIGNALS_PER_CALL", "200")),
    )
