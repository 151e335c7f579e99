"""A session's identity: one per provider call, the same however often the call is started."""

from __future__ import annotations

import json
import uuid
from typing import Any

_SESSION_NAMESPACE = uuid.UUID("9b0f6d2e-3c55-4a53-9d0e-6a1b1f7c2a10")


def session_id_for(request: dict[str, Any]) -> str:
    """Connect: the instance and the initial contact (stable across transfers); Chime: the transaction. The parts
    are JSON-encoded, so no two calls share an identity (joined with "/", instance `x` + contact `y/z` and
    instance `x/y` + contact `z` were one session)."""
    call = request["call"]
    if request["provider"] == "connect":
        parts = ["connect", call["InstanceId"], call["InitialContactId"]]
    else:
        parts = ["chime", call["SipMediaApplicationId"], call["TransactionId"]]
    return str(uuid.uuid5(_SESSION_NAMESPACE, json.dumps(parts, separators=(",", ":"))))
