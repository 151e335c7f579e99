"""The embedded Step Functions engine: moto's ASL interpreter, adapted to run this project locally.

moto (pinned in requirements/runtime.txt) interprets the real ASL files. Every change made to it is a
record in the ledger (callrec/engine/ledger.py explains the records; the areas are interpreter.py,
copies.py, tokens.py, dynamodb.py, iam.py, clients.py, kms.py, and the request path: requests_in.py, routing.py,
answers.py and parsing.py). `install()` checks every record against moto, then applies them;
CONTRIBUTING.md says how to upgrade moto with the ledger.

What the project registers with the engine (runtime.py): the template's Lambda functions, run in-process,
and the telephony twins that answer `aws-sdk:connect:*` and `aws-sdk:chimesdkvoice:*` tasks; and its
settings: time scale, timeout scale, clock, Step Functions Local mock config.
"""

from __future__ import annotations

from collections.abc import Iterable

from callrec.engine import (
    answers,
    clients,
    copies,
    dynamodb,
    iam,
    interpreter,
    jsonata,
    kms,
    parsing,
    powertools,
    quotas,
    requests_in,
    routing,
    streams,
    tokens,
)
from callrec.engine.interpreter import modelled_error
from callrec.engine.ledger import HookMoved, Ledger, Patch
from callrec.engine.runtime import (
    ROUTED_SERVICES,
    EngineSettings,
    Handler,
    LambdaContext,
    LambdaFunction,
    ServiceFake,
    ServiceNotSimulated,
    json_safe,
    register_function,
    register_service,
    reset,
    settings,
    stop_pollers,
    workflow_seconds,
)
from callrec.engine.streams import SOURCES as STREAM_SOURCES
from callrec.engine.streams import StreamMapping

LEDGER = Ledger(
    interpreter.RECORDS
    + jsonata.RECORDS
    + copies.RECORDS
    + tokens.RECORDS
    + quotas.RECORDS
    + dynamodb.RECORDS
    + answers.RECORDS
    + requests_in.RECORDS
    + routing.RECORDS
    + parsing.RECORDS
    + iam.RECORDS
    + clients.RECORDS
    + kms.RECORDS
    + streams.RECORDS
    + powertools.RECORDS,
    deferred=interpreter.DEFERRED,
)


def check_hooks() -> None:
    """Raise HookMoved naming every ledger record that no longer fits moto."""
    LEDGER.check()


def install(without: Iterable[str] = ()) -> None:
    """Apply the ledger to moto (idempotent, process-wide: moto's interpreter is process-wide)."""
    LEDGER.install(without)


def uninstall() -> None:
    LEDGER.uninstall()


def installed() -> bool:
    return LEDGER.installed()


__all__ = [
    "LEDGER",
    "ROUTED_SERVICES",
    "EngineSettings",
    "Handler",
    "HookMoved",
    "STREAM_SOURCES",
    "StreamMapping",
    "LambdaContext",
    "LambdaFunction",
    "Ledger",
    "Patch",
    "ServiceFake",
    "ServiceNotSimulated",
    "check_hooks",
    "install",
    "installed",
    "json_safe",
    "modelled_error",
    "register_function",
    "register_service",
    "reset",
    "settings",
    "stop_pollers",
    "uninstall",
    "workflow_seconds",
]
