"""Ledger records for JSONata and Variables: moto parses `QueryLanguage: JSONata`, `Arguments`, `Output`,
`Assign` and JSONata `Condition`s, but evaluates nothing (its evaluator is a stub set to None; moto issue
10105). These records evaluate each expression with jsonata-python.

The values an expression reads ($states, the workflow's variables) are handed to the evaluator as bindings,
never written into the expression's text: moto embedded string variables into the text unescaped, so a value
with a quote broke the expression (or changed it). Compiled expressions are kept per text, since the text no
longer carries values. Step Functions' own functions ($partition, $range, $hash, $random, $uuid, $parse) are
provided as AWS's "Transforming data with JSONata in Step Functions" documents them. An error inside an
expression fails the state with States.QueryEvaluationError, as on AWS.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import threading
import uuid
from typing import Any

from callrec.engine.ledger import Patch

STRING = "moto.stepfunctions.parser.asl.component.common.string.string_expression"
HASHES = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
}

_compiled: dict[str, tuple[Any, threading.Lock, frozenset[str], frozenset[str] | None]] = {}
_compiled_lock = threading.Lock()
_REFERENCE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?")


def _references(expression: str) -> tuple[frozenset[str], frozenset[str] | None]:
    """The names an expression can read ($name), and which parts of $states (None: all of it). A name that only
    appears inside a string literal is bound needlessly, never missed."""
    found = _REFERENCE.findall(expression)
    names = frozenset(name for name, _ in found)
    parts = [part for name, part in found if name == "states"]
    return names, (None if "" in parts else frozenset(parts))


def _partition(array: Any, size: Any) -> list[list[Any]]:
    items = list(array or [])
    return [items[index : index + int(size)] for index in range(0, len(items), int(size))]


def _range(first: Any, last: Any, step: Any) -> list[Any]:
    values, current = [], first
    while (step > 0 and current <= last) or (step < 0 and current >= last):
        values.append(current)
        current += step
    return values


def _hash(value: Any, algorithm: Any) -> str:
    if algorithm not in HASHES:
        raise ValueError(f"$hash: algorithm must be one of {sorted(HASHES)}")
    return HASHES[algorithm](str(value).encode("utf-8")).hexdigest()


def _random(seed: Any = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()


_library: Any = None  # jsonata-python's module, once load() has imported it


def load() -> Any:
    """jsonata-python's module, imported with the process's recursion limit kept: its import sets the limit to
    10,000 for the whole process ("similar to JavaScript"), and the Lambda functions running in the same process
    would then parse JSON that AWS Lambda's Python refuses (found: the API took a body nested 5,000 deep as JSON
    once a JSONata state had run, and answered a payload error instead of an unparseable body)."""
    global _library
    if _library is None:  # imported once, under the lock; every later evaluation takes no lock here
        with _compiled_lock:
            if _library is None:
                limit = sys.getrecursionlimit()
                import jsonata.jsonata

                sys.setrecursionlimit(limit)
                _library = jsonata.jsonata
    return _library


def _compile(expression: str) -> tuple[Any, threading.Lock, frozenset[str], frozenset[str] | None]:
    """The compiled expression (kept per text, which carries no values), its lock, and what it reads."""
    Jsonata = load().Jsonata  # noqa: N806 - the library's class

    with _compiled_lock:
        entry = _compiled.get(expression)
        if entry is None:
            compiled = Jsonata(expression)
            compiled.register_lambda("partition", _partition)
            compiled.register_lambda("range", _range)
            compiled.register_lambda("hash", _hash)
            compiled.register_lambda("random", _random)
            compiled.register_lambda("uuid", lambda: str(uuid.uuid4()))
            compiled.register_lambda("parse", lambda text: json.loads(text))
            entry = _compiled[expression] = (compiled, threading.Lock(), *_references(expression))
        return entry


class QueryEvaluationError(Exception):
    pass


def evaluate(expression: str, env: Any, with_states: bool = True) -> Any:
    """The expression's value over the execution's $states and variables (JSON: lists, dicts, str, numbers)."""
    load()
    from jsonata.jexception import JException
    from jsonata.utils import Utils

    def bound(value: Any) -> Any:  # JSON null stays null (jsonata-python reads a bare None as undefined)
        value = json.loads(json.dumps(value, default=str))
        return Utils.NULL_VALUE if value is None else Utils.convert_nulls(value)

    compiled, lock, names, states_parts = _compile(expression)
    # only what the expression reads is copied in: a whole state, at every evaluation, was the hot path
    variables = {**env.variable_store._outer_scope, **env.variable_store._inner_scope}
    bindings = {name: bound(value) for name, value in variables.items() if name in names}
    if with_states and "states" in names:
        data = env.states._states_data
        bindings["states"] = bound(
            data if states_parts is None else {k: v for k, v in data.items() if k in states_parts}
        )
    try:
        with lock:
            result = compiled.evaluate(None, bindings)
            if result is None and not _compile(f"$exists({expression})")[0].evaluate(None, bindings):
                raise QueryEvaluationError(f"The JSONata expression '{expression}' returned nothing (undefined).")
    except (JException, ValueError, TypeError, RecursionError) as err:
        message = f"An error occurred while evaluating the JSONata expression '{expression}': {err}"
        raise QueryEvaluationError(message) from None
    return json.loads(json.dumps(result))


def _failure(env: Any, cause: str) -> Exception:
    """States.QueryEvaluationError, with its EvaluationFailed history event, as moto's own validations build it."""
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    details = EventDetails(
        evaluationFailedEventDetails=EvaluationFailedEventDetails(cause=cause, error=error_name.error_name)
    )
    env.event_manager.add_event(
        context=env.event_history_context, event_type=HistoryEventType.EvaluationFailed, event_details=details
    )
    return FailureEventException(
        failure_event=FailureEvent(
            env=env, error_name=error_name, event_type=HistoryEventType.EvaluationFailed, event_details=details
        )
    )


def _evaluating(with_states: bool):
    def make(_original):
        def _eval_body(self, env) -> None:
            if not with_states:
                from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode

                states = self.query_language_mode == QueryLanguageMode.JSONata
            else:
                states = True
            try:
                env.stack.append(evaluate(self.expression, env, with_states=states))
            except QueryEvaluationError as err:
                raise _failure(env, str(err)) from None

        return _eval_body

    return make


RECORDS = (
    Patch(
        "jsonata-evaluated",
        f"{STRING}:StringJSONata._eval_body",
        _evaluating(True),
        "fix",
        "moto parses JSONata (Arguments, Output, Assign, Conditions) but evaluates nothing: its evaluator is a stub "
        "set to None, so every JSONata state failed with a TypeError. Evaluated here with jsonata-python, the "
        "values bound rather than embedded in the text (moto embedded strings unescaped), Step Functions' own "
        "functions provided, an error inside an expression raised as States.QueryEvaluationError.",
        "moto issue 10105 (open): JSONata evaluation needs a JVM bridge moto does not ship",
        uses=(
            "moto.stepfunctions.parser.asl.eval.environment:Environment",
            "moto.stepfunctions.parser.asl.eval.variable_store:VariableStore.__annotations__._inner_scope",
            "moto.stepfunctions.parser.asl.eval.states:States.__annotations__._states_data",
            "moto.stepfunctions.parser.api:EvaluationFailedEventDetails",
        ),
    ),
    Patch(
        "variable-sample-evaluated",
        f"{STRING}:StringVariableSample._eval_body",
        _evaluating(False),
        "fix",
        'A variable read in a JSONPath state ("x.$": "$myVariable") goes through the same stub evaluator; '
        "evaluated the same way ($states only in JSONata mode).",
        "moto issue 10105 (open)",
        uses=("moto.stepfunctions.parser.asl.component.common.query_language:QueryLanguageMode",),
    ),
)
