"""What moto holds, taken whole and put back whole: a deployed template, deployed once per process.

Deploying template.yaml is about 90 API calls through botocore and moto (0.2 s of CPU); the test suite deploys it
a few hundred times, each time into a fresh moto. A `MotoState` taken right after a deployment into a fresh moto
is that moto's every service backend, copied; putting it back into another fresh moto gives that moto the same
resources, as if the same calls had been made again (copied again each time, so nothing a test does reaches the
next one). `callrec.stack.TemplateDeployer` takes one after it deploys into a fresh moto and puts it back when the
same template is deployed with the same parameters again (callrec/stack.py says when it does not).

It reads moto's registry of service backends (`BackendDict`, `AccountSpecificBackend`): the names it relies on are
resolved through the ledger, so a moto upgrade that moves them fails with HookMoved naming this module, not with
a stack that deployed nothing.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from callrec.engine.ledger import resolve

RECORD = __name__  # what HookMoved names: this module (it is no ledger record: it patches nothing)
_BACKENDS = "moto.core.base_backend:BackendDict._instances"  # every service's backends, once used
_LOCK = "moto.core.base_backend:backend_lock"
# a BackendDict's own attributes; any other (S3's `bucket_accounts`) is state of the service, kept with it
_OWN = frozenset({"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"})


_whole = threading.local()


def copying() -> bool:
    """Is this thread copying moto's state? (An object the ledger keeps from being copied, a DynamoDB table, is
    copied then.)"""
    return getattr(_whole, "copying", False)


def _copied(value: Any) -> Any:
    _whole.copying = True
    try:
        return copy.deepcopy(value)
    finally:
        _whole.copying = False


@dataclass(frozen=True)
class MotoState:
    services: tuple[Any, ...]  # the BackendDicts that held something
    held: tuple[tuple[dict, dict], ...]  # for each: (account -> its backends, the service's other state), copied


def _registry() -> list[Any]:
    return list(resolve(_BACKENDS, RECORD))


def pristine() -> bool:
    """Does moto hold nothing (a fresh `mock_aws`, before any call)?"""
    return not any(len(backends) for backends in _registry())


def take() -> MotoState:
    """Everything moto holds now, copied (one copy: what two services share stays shared)."""
    with resolve(_LOCK, RECORD):
        services = tuple(backends for backends in _registry() if len(backends))
        held = _copied(
            tuple((dict(backends), {k: v for k, v in vars(backends).items() if k not in _OWN}) for backends in services)
        )
    return MotoState(services, held)


def restore(state: MotoState) -> None:
    """Put `state` back into a pristine moto (a copy of it: `state` stays as it was taken)."""
    if not pristine():
        raise RuntimeError("a moto state is put back only into a fresh moto, which holds nothing yet")
    held = _copied(state.held)
    with resolve(_LOCK, RECORD):
        registry = resolve(_BACKENDS, RECORD)
        for backends, (accounts, other) in zip(state.services, held, strict=True):
            backends.update(accounts)
            vars(backends).update(other)
            if not any(known is backends for known in registry):  # moto's reset forgot it (by identity: a
                registry.append(backends)  # BackendDict is a dict, and equal to any other with the same content)
