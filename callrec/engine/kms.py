"""KMS: what the local stack needs of moto's keys."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from callrec.engine.lazy import MadeWhenUsed
from callrec.engine.ledger import Patch

NOT_REPORTED = "not reported upstream yet"


def _made_when_used(original: Callable[[str], Any]) -> Callable[[str], Any]:
    def generate_private_key(key_spec: str) -> MadeWhenUsed:
        """moto's private key for a KMS key, made the first time something uses it (Sign, Verify, GetPublicKey)."""
        return MadeWhenUsed(functools.partial(original, key_spec))

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
