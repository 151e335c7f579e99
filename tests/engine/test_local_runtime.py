"""The local runtime closes cleanly whatever its executions are doing, and leaves nothing to the next one."""

from __future__ import annotations

import json
import time

from callrec.runtime import LocalRuntime
from callrec.stack import client
from tests.conftest import allow_all_role


def test_closing_stops_an_execution_that_is_still_starting_and_the_next_runtime_starts_clean(monkeypatch):
    """An execution started a moment before the runtime closes may not have an environment yet in moto's worker,
    and moto then fails to stop it. Found in a full run: a RecordingSession that ends by starting VerifyRecording
    left it starting as the test closed; the close raised, moto's state stayed, and every later test of that
    worker failed on a log group that already existed."""
    from moto.stepfunctions.parser.backend import execution_worker

    original = execution_worker.ExecutionWorker._execution_logic

    def slow_to_start(self) -> None:
        time.sleep(0.3)  # the worker's thread builds its environment only after this
        original(self)

    monkeypatch.setattr(execution_worker.ExecutionWorker, "_execution_logic", slow_to_start)
    with LocalRuntime(deploy=False):
        sfn = client("stepfunctions")
        definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
        machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=allow_all_role())
        sfn.start_execution(stateMachineArn=machine["stateMachineArn"])
    # the first runtime closed without an error; the next one holds nothing of it
    with LocalRuntime(deploy=False):
        assert client("stepfunctions").list_state_machines()["stateMachines"] == []
