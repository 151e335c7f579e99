"""The one way the local runtime and the tests wait for something asynchronous: read until a condition holds.

It paces its reads as the entry points do (the layer's `sessions.poll`: 20 ms, growing by half up to 250 ms),
so a quick answer is seen quickly and a slow one costs a few reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class StillWaiting(TimeoutError):
    """The condition did not hold by the deadline."""


def eventually(
    read: Callable[[], T],
    until: Callable[[T], Any] = bool,
    timeout: float = 30.0,
    what: str = "the condition",
    show: Callable[[T], Any] = repr,
) -> T:
    """Read until `until(value)` holds and answer that value; at the deadline raise StillWaiting naming `what`
    and the last value read (as `show` renders it: keep sensitive values out of it)."""
    from callrec_shared.sessions import poll  # the layer is importable once a stack is deployed

    value = poll(read, lambda current: bool(until(current)), timeout)
    if not until(value):
        raise StillWaiting(f"still waiting after {timeout} s for {what}; last read: {show(value)}")
    return value
