"""Ledger records for the copies moto's ASL interpreter makes of a state's data.

moto's interpreter keeps each execution's `$states` (input, result, context) and copies it with `copy.deepcopy` at
every read and every reset: about five copies of the state's whole input per state entered (its entered event,
the input it works on, the output it becomes, the size quota check and its exited event). deepcopy is written in
Python and keeps a memo of every object it copies; a state's data is JSON, whose values a plain walk copies about
4 times faster (benchmarks/bench_engine.py: every state input of a payment call, 3.8-4.1x in its runs here).
Measured in one process (the load test at 30 calls and the workflow's test cases, timed inside the two methods),
the two records below took these copies from 1.42 s to 0.60 s of CPU.
"""

from __future__ import annotations

import copy
from typing import Any

from callrec.engine.ledger import Patch

STATES = "moto.stepfunctions.parser.asl.eval.states"
_ATOMS = frozenset((str, int, float, bool, type(None)))


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value: dicts and lists are new, strings, numbers, booleans and null are shared (they
    cannot change). Anything else inside (a JSONata sequence, a date) is copied by `copy.deepcopy`, whole. Unlike
    deepcopy, a dict or list that appears twice in `value` is copied twice: JSON has no shared parts, and no reader
    of a state's data relies on them."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {key: item if type(item) in _ATOMS else json_copy(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _ATOMS else json_copy(item) for item in value]
    return copy.deepcopy(value)


def _extract_copied(_original: Any) -> Any:
    from moto.stepfunctions.parser.asl.eval.states import extract_json

    def _extract(query: str | None, data: Any) -> Any:
        """moto's States._extract: the value at `query` (all of `data` without one), copied."""
        return json_copy(data if query is None else extract_json(query, data))

    return staticmethod(_extract)


def _reset(self: Any, input_value: Any) -> None:
    """moto's States.reset: the next state's input, copied; no result or error output yet."""
    self._states_data["input"] = json_copy(input_value)
    self._states_data["result"] = None
    self._states_data["errorOutput"] = None


RECORDS = (
    Patch(
        "state-data-read-as-json-copies",
        f"{STATES}:States._extract",
        _extract_copied,
        "speed",
        "Every read of `$states` (the input a state works on, its entered and exited events, the size quota check) "
        "deep-copied the value read with copy.deepcopy; it is JSON, copied by `json_copy` about 4 times faster.",
        "not reported upstream yet",
        uses=(f"{STATES}:extract_json",),
    ),
    Patch(
        "state-input-kept-as-json-copy",
        f"{STATES}:States.reset",
        lambda _original: _reset,
        "speed",
        "A state's output became the next state's input through copy.deepcopy; it is JSON, copied by `json_copy`.",
        "not reported upstream yet",
        uses=(f"{STATES}:States.__annotations__._states_data",),
    ),
)
