"""Ledger records for moto's request dispatch: the action's method found once per class, and the hot JSON
answers written directly.

moto looked up the names of every function of a response class (inspect.getmembers) on each request, to find
the action's method: 3.5% of a profiled test run's CPU. The names are kept per class, and found again when the
class gains or loses an attribute (a ledger record that adds a method).

moto 5 serializes every answer through a generic serializer that walks the result against botocore's shapes
(aliases, transformers, one lookup per member). For the answers a call makes most (DynamoDB's items, a table
stream's records, an execution's description and history) moto's result already is the JSON AWS sends, but for the timestamps:
the records below write it as it stands, timestamps as the JSON protocols' epoch seconds (truncated to the
millisecond, as moto's serializer does). Anything else goes through moto's serializer, unchanged; tests
compare both on every operation served here.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable
from typing import Any

from callrec.engine.ledger import Patch

JSON_1_0 = "application/x-amz-json-1.0"
# Data-plane operations whose result moto builds as DynamoDB JSON
DYNAMODB_OPERATIONS = frozenset(
    ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "TransactWriteItems", "TransactGetItems")
)
STEPFUNCTIONS_OPERATIONS = frozenset(("DescribeExecution", "GetExecutionHistory"))
STREAMS_OPERATIONS = frozenset(("GetRecords",))


def _names_kept(original: Callable[[object], list[str]]) -> Callable[[object], list[str]]:
    kept: dict[tuple[Any, ...], list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        """moto's answer, kept per class and the size of each class of its MRO (a method added or removed)."""
        key = (clazz, *(len(vars(owner)) for owner in getattr(clazz, "__mro__", ())))
        names = kept.get(key)
        if names is None:
            names = kept[key] = original(clazz)
        return names

    return method_names_from_class


@functools.cache
def _epoch() -> Any:
    from moto.core.serialize import TimestampSerializer

    return TimestampSerializer(TimestampSerializer.TIMESTAMP_FORMAT_UNIX)


# The form moto writes history timestamps in (moto.core.utils.iso_8601_datetime_with_milliseconds)
_MOTO_HISTORY_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def epoch_seconds(moment: datetime.datetime | str) -> int | float:
    """A timestamp as the JSON protocols carry it, converted by moto's own serializer: seconds since the epoch,
    milliseconds kept. moto keeps history timestamps as ISO-8601 text ("...T19:09:35.102Z"), others as datetimes.
    Text in moto's own form is read by `datetime.fromisoformat` (the same instant, UTC) before moto's serializer
    takes it: that serializer reads text with dateutil's parser, 1.5% of a test run's CPU for history timestamps
    alone. Any other text goes to moto's serializer as it is."""
    if isinstance(moment, str) and _MOTO_HISTORY_TIME.fullmatch(moment):
        moment = datetime.datetime.fromisoformat(moment)
    return _epoch()._convert_timestamp_to_str(moment, _epoch().TIMESTAMP_FORMAT_UNIX)


def _datetime(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return epoch_seconds(value)
    raise TypeError(type(value).__name__)


def _history_timestamps(result: dict[str, Any]) -> dict[str, Any]:
    return {
        **result,
        "events": [{**event, "timestamp": epoch_seconds(event["timestamp"])} for event in result["events"]],
    }


def _as_json(operations: frozenset[str], prepare: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None):
    def make(_original: Any) -> Callable[..., Any]:
        def serialized(self, action_result):
            """The result of a hot operation, written as JSON directly (see the module's docstring); a value
            JSON cannot hold as moto keeps it (a binary inside a list or map) goes to moto's serializer."""
            from moto.core.responses import ActionResult, BaseResponse
            from moto.dynamodb.responses import DynamoResult

            result = action_result.result
            operation = self._get_action()
            if type(action_result) in (ActionResult, DynamoResult) and isinstance(result, dict):
                if operation in operations:
                    try:
                        body = json.dumps(prepare(operation, result) if prepare else result, default=_datetime)
                    except (TypeError, ValueError):
                        return BaseResponse.serialized(self, action_result)
                    return 200, {"Content-Type": JSON_1_0, **self.response_headers}, body
            return BaseResponse.serialized(self, action_result)

        return serialized

    return make


def _stepfunctions_prepare(operation: str, result: dict[str, Any]) -> dict[str, Any]:
    return _history_timestamps(result) if operation == "GetExecutionHistory" else result


_USES = (
    "moto.core.responses:BaseResponse.serialized",
    "moto.core.serialize:TimestampSerializer._convert_timestamp_to_str",
    "moto.core.responses:ActionResult",
    "moto.dynamodb.responses:DynamoResult",
)
RECORDS = (
    Patch(
        "action-names-kept",
        "moto.core.responses:method_names_from_class",
        _names_kept,
        "speed",
        "moto listed every function of the response class (inspect.getmembers) on each request to find the "
        "action's method: 3.5% of a profiled test run's CPU.",
        "not reported upstream yet",
    ),
    Patch(
        "dynamodb-answers-as-json",
        "moto.dynamodb.responses:DynamoHandler.serialized",
        _as_json(DYNAMODB_OPERATIONS),
        "speed",
        "moto serialized every DynamoDB answer through its shape-walking serializer, under the lock of "
        "dynamodb-one-request-at-a-time: 15% of the test suite's CPU, for JSON equal to the result's own.",
        "not reported upstream yet",
        uses=_USES,
        adds=True,
    ),
    Patch(
        "execution-answers-as-json",
        "moto.stepfunctions.responses:StepFunctionResponse.serialized",
        _as_json(STEPFUNCTIONS_OPERATIONS, _stepfunctions_prepare),
        "speed",
        "DescribeExecution (polled while a call runs) and GetExecutionHistory (read by the tests, the demo and "
        "the benchmarks) went through moto's shape-walking serializer: 11% of a profiled test run's CPU, most "
        "of it on the histories.",
        "not reported upstream yet",
        uses=_USES,
        adds=True,
    ),
    Patch(
        "stream-answers-as-json",
        "moto.dynamodbstreams.responses:DynamoDBStreamsHandler.serialized",
        _as_json(STREAMS_OPERATIONS),
        "speed",
        "A table stream's GetRecords (read by the event source mapping after every session write) went through "
        "moto's shape-walking serializer: 4.6% of a profiled test run's CPU.",
        "not reported upstream yet",
        uses=_USES,
        adds=True,
    ),
)
