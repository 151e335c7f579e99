"""A DynamoDB outage on the local stack: from the RecordingSession workflow's n-th write on, every DynamoDB
request the system makes (the workflows' tasks, every Lambda function) is throttled for a span of the engine's
scaled time, as DynamoDB answers when a table's capacity or a partition is exhausted. The requests are refused
before they reach moto, so nothing is written while the outage lasts. The test itself, reading what happened,
is not part of the system and is not throttled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import botocore.client

from callrec.engine import authorization, settings
from callrec.engine.interpreter import modelled_error
from callrec.errors import service_error

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
WORKFLOW_ROLE = "-RecordingSessionRole"


@dataclass
class Outage:
    after_writes: int  # the workflow's writes let through before the outage begins (0: its first write fails)
    seconds: float  # how long it lasts, in the engine's scaled time
    writes: list[str] = field(default_factory=list)  # the workflow's writes, in order (operation names)
    began: float | None = None  # monotonic time it began
    refused: int = 0  # requests throttled
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _down(self, operation: str) -> bool:
        principal = authorization.current()
        with self._lock:
            if self.began is None and principal is not None and principal.role_arn.endswith(WORKFLOW_ROLE):
                if operation in WRITES:
                    if len(self.writes) >= self.after_writes:
                        self.began = time.monotonic()
                    self.writes.append(operation)
            if (
                principal is None
                or self.began is None
                or time.monotonic() - self.began > self.seconds * settings.time_scale
            ):
                return False
            self.refused += 1
            return True

    @property
    def over(self) -> bool:
        return self.began is not None and time.monotonic() - self.began > self.seconds * settings.time_scale


@contextmanager
def store_outage(after_writes: int, seconds: float = 300.0) -> Iterator[Outage]:
    """DynamoDB throttled for `seconds` of scaled time from the workflow's `after_writes`-th write on."""
    outage = Outage(after_writes, seconds)
    original = botocore.client.BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb" and outage._down(operation_name):
            raise modelled_error(  # as botocore raises it: the modelled class, named after the code
                service_error(
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded.",
                    400,
                    operation_name,
                )
            )
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = _make_api_call
    try:
        yield outage
    finally:
        botocore.client.BaseClient._make_api_call = original
