"""An object made the first time something uses it: what the engine keeps that moto would make at once and may
never use (a KMS key's private key; a definition's ANTLR parse tree whose program came from the program store)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class MadeWhenUsed:
    """Stands for `make()`'s result: made (once, whichever thread asks first) when an attribute is first read."""

    def __init__(self, make: Callable[[], Any]):
        self._make, self._made = make, None
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._made is not None

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._made is None:
                self._made = self._make()
        return getattr(self._made, name)

    def __deepcopy__(self, memo: dict) -> MadeWhenUsed:
        """A copy of moto's state (callrec.engine.snapshot) copies it as it stands: not made yet, or made (the
        copy shares what was made: a private key, a parse tree, neither changed once made). Defined here, or
        `copy` would make it to look this method up."""
        twin = MadeWhenUsed(self._make)
        twin._made = self._made
        return twin
