"""KMS: what the local stack needs of moto's keys."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from callrec.engine.ledger import Patch

NOT_REPORTED = "not reported upstream yet"


class _MadeWhenUsed:
    """moto's private key for a KMS key, made the first time something uses it (Sign, Verify, GetPublicKey)."""

    def __init__(self, make: Callable[[str], Any], key_spec: str):
        self._make, self._key_spec, self._key = make, key_spec, None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._key is None:
                self._key = self._make(self._key_spec)
        return getattr(self._key, name)

    def __deepcopy__(self, memo: dict) -> _MadeWhenUsed:
        """A copy of moto's state (callrec.engine.snapshot) copies the key as it stands: not made yet, or made
        (a private key is immutable: the copy shares it). Defined here, or `copy` would make the key to look
        this method up."""
        twin = _MadeWhenUsed(self._make, self._key_spec)
        twin._key = self._key
        return twin


def _made_when_used(original: Callable[[str], Any]) -> Callable[[str], Any]:
    def generate_private_key(key_spec: str) -> _MadeWhenUsed:
        return _MadeWhenUsed(original, key_spec)

    return generate_private_key


RECORDS = (
    Patch(
        "kms-private-keys-made-when-used",
        "moto.kms.models:generate_private_key",
        _made_when_used,
        "speed",
        "moto generated an RSA-2048 private key for every KMS key it created, symmetric ones included (whose key "
        "material it never signs with): 20-60 ms of CPU per key, two keys per deployment of the template. The "
        "key is now made the first time something uses it, so an asymmetric key signs as before.",
        NOT_REPORTED,
    ),
)
