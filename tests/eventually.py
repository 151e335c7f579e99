"""Tests wait the way the local runtime does (callrec.waiting)."""

from callrec.waiting import StillWaiting, eventually

__all__ = ["StillWaiting", "eventually"]
