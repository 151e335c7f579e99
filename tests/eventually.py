"""The one way tests wait for something asynchronous: read until a condition holds, or fail saying what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from callrec_shared.sessions import poll

T = TypeVar("T")


def eventually(read: Callable[[], T], until: Callable[[T], Any] = bool, timeout: float = 30.0, what: str = "") -> T:
    """Read (backing off as the entry points do) until `until(value)` holds; answer that value. At the deadline,
    fail naming `what` and the last value read."""
    value = poll(read, lambda current: bool(until(current)), timeout)
    assert until(value), f"timed out after {timeout} s waiting for {what or 'the condition'}; last read: {value!r}"
    return value
