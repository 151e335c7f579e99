"""A DynamoDB outage on the local stack: from the RecordingSession workflow's first write from a given state on
(the engine names the state each workflow task acts from: `authorization.current().state`), every DynamoDB
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
FAILURE_SAVE = "Save Store Failure"  # the workflow's path that outlives an outage (retried for 15 minutes)


@dataclass
class Outage:
    at_state: str  # the outage begins at the workflow's `occurrence`-th write from this state
    occurrence: int  # 1: its first write from that state
    seconds: float  # how long it lasts, in the engine's scaled time
    writes: list[str] = field(default_factory=list)  # the states the workflow wrote from, in order
    began: float | None = None  # monotonic time it began
    refused: int = 0  # requests throttled
    failure_save_refused: bool = False  # the workflow's first try at saving the failure was refused
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _down(self, operation: str) -> bool:
        principal = authorization.current()
        with self._lock:
            workflow = principal is not None and principal.role_arn.endswith(WORKFLOW_ROLE)
            state = principal.state if principal is not None and workflow else ""
            if self.began is None and workflow and operation in WRITES:
                self.writes.append(state)
                if state == self.at_state and self.writes.count(state) == self.occurrence:
                    self.began = time.monotonic()
            if principal is None or self.began is None:
                return False
            if state == FAILURE_SAVE and not self.failure_save_refused:
                self.failure_save_refused = True  # the outage outlasts the failed task's retries, whatever the load
            elif self.over:
                return False
            self.refused += 1
            return True

    @property
    def over(self) -> bool:
        """Its span of scaled time has passed, and the workflow's save of the failure was refused at least once:
        the outage outlasts a task's retries (15 s scaled) even when a busy machine stretches them in real time."""
        return (
            self.began is not None
            and self.failure_save_refused
            and time.monotonic() - self.began > self.seconds * settings.time_scale
        )


@contextmanager
def store_outage(at_state: str | None, occurrence: int = 1, seconds: float = 300.0) -> Iterator[Outage]:
    """DynamoDB throttled for `seconds` of scaled time from the workflow's `occurrence`-th write from `at_state`
    (None: from now until the block ends)."""
    outage = Outage(at_state or "", occurrence, seconds)
    if at_state is None:
        outage.began = time.monotonic()
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


@contextmanager
def held_at(state: str) -> Iterator[threading.Event]:
    """The workflow's DynamoDB writes from `state` wait until the event yielded is set (at the latest when the block
    ends): a busy stack, where the entry points run before the workflow gets there."""
    release = threading.Event()
    original = botocore.client.BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        principal = authorization.current()
        if (
            self.meta.service_model.service_name == "dynamodb"
            and operation_name in WRITES
            and principal is not None
            and principal.role_arn.endswith(WORKFLOW_ROLE)
            and principal.state == state
        ):
            release.wait(60)
        return original(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = _make_api_call
    try:
        yield release
    finally:
        release.set()
        botocore.client.BaseClient._make_api_call = original
