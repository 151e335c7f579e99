"""The time every record carries.

In AWS this is the system clock. The local stack points it at the telephony simulator's call clock
(`use`), and the engine's `$$.State.EnteredTime` at the same clock, so session times, window times and
the recordings the twin renders share one timeline, as they do in AWS: verification places each
suspended window in the recording from these times.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    return _source() if _source is not None else datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds and Z, the format of Step Functions' EnteredTime (sorts as text)."""
    moment = (moment or now()).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    """The inverse of `stamp` (also accepts +00:00 offsets)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def use(source: Callable[[], datetime] | None) -> None:
    """Take the time from `source` (None: the system clock again)."""
    global _source
    _source = source
