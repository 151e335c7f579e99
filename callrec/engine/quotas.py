"""Ledger records for Step Functions' quotas: the history quota, which moto does not enforce, and the terminal
errors the 256 KiB payload quota and the runtime raise.

The payload quota: moto fails a state whose output (or task result) is over 256 KiB with
`States.DataLimitExceeded`, as AWS does; but its `States.ALL` then caught it, and retried it. On AWS it is
terminal: "a terminal error that can't be caught by the States.ALL error type", and neither can
`States.Runtime` (AWS's Step Functions guide, "Error names"). A Catch or Retry that names it still applies.
A task's input after `Parameters` over 256 KiB fails the same way on AWS; moto sent it.

The history quota: a Standard execution's history holds at most 25,000 events. AWS ends an execution that
reaches it, unattended and beyond any Catch: event 25,000 is `ExecutionFailed` with `States.Runtime`,
"The execution reached the maximum number of history events (25000).", and event 24,999 is the last one the
definition produced (AWS's Step Functions quotas and its "avoid reaching the history quota" best practice).
moto keeps appending events for ever, so no local run could show a workflow that would hit it.
"""

from __future__ import annotations

from callrec.engine.ledger import Patch
from callrec.engine.runtime import settings

SFN = "moto.stepfunctions.parser"
HISTORY_QUOTA = 25_000
_REACHED = "_callrec_quota_reached"  # the failure, set on an execution's event manager (its frames share it)


def _history_cause(quota: int) -> str:
    return f"The execution reached the maximum number of history events ({quota})."


def _environment_known(original):
    def __init__(self, *args, **kwargs):
        """The execution's environment is what the history quota ends (its frames share its event manager)."""
        original(self, *args, **kwargs)
        self.event_manager.callrec_environment = self

    return __init__


def _history_capped(original):
    def add_event(self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True):
        """At the quota the execution fails: event 25,000 is `ExecutionFailed`, and what the definition still
        does while it stops is not recorded."""
        from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        failure = getattr(self, _REACHED, None)
        if failure is not None:
            if event_type != HistoryEventType.ExecutionFailed or getattr(self, "_callrec_failed", False):
                return context.last_published_event_id
            self._callrec_failed = True
            details = EventDetails(executionFailedEventDetails=failure)
            return original(self, context, event_type, details, timestamp, update_source_event_id)
        quota = settings.history_event_quota
        if len(self._history_event_list) < quota - 1 or event_type == HistoryEventType.ExecutionFailed:
            return original(self, context, event_type, event_details, timestamp, update_source_event_id)
        failure = ExecutionFailedEventDetails(error="States.Runtime", cause=_history_cause(quota))
        setattr(self, _REACHED, failure)
        environment = getattr(self, "callrec_environment", None)
        if environment is not None:
            environment.set_error(failure)  # wakes whatever the execution waits on, and its frames
        return context.last_published_event_id

    return add_event


def _quota_failure_kept(original):
    def set_error(self, error):
        """Once the history quota ended the execution, that is its error, whatever the state it cut short
        raises afterwards."""
        return original(self, getattr(self.event_manager, _REACHED, None) or error)

    return set_error


TERMINAL = ("States.DataLimitExceeded", "States.Runtime")


def _terminal_errors_spared(original):
    def _eval_body(self, env) -> None:
        """`States.ALL` matches every error but the terminal ones; naming one still matches it."""
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

        error_name = env.stack[-1]
        wildcard = any(name.error_name == "States.ALL" for name in self.error_names)
        if wildcard and isinstance(error_name, StatesErrorName) and error_name.error_name in TERMINAL:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    return _eval_body


def _task_input_within_quota(original):
    def _eval_parameters(self, env) -> dict:
        """A task's input after `Parameters` over 256 KiB fails the state with States.DataLimitExceeded."""
        from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
            FailureEvent,
            FailureEventException,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
            StatesErrorNameType,
        )
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
        from moto.stepfunctions.parser.quotas import is_within_size_quota

        parameters = original(self, env)
        if is_within_size_quota(parameters):
            return parameters
        error = StatesErrorNameType.StatesStatesDataLimitExceeded
        cause = f"The state/task '{self.name}' has an input with a size exceeding the maximum number of bytes service limit."
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=error),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(error=error.to_name(), cause=cause)
                ),
            )
        )

    return _eval_parameters


RECORDS = (
    Patch(
        "environment-known-to-its-history",
        f"{SFN}.asl.eval.environment:Environment.__init__",
        _environment_known,
        "local",
        "The history-quota record below must end the execution whose history is full: each event manager "
        "knows the environment it was made for.",
        "not applicable",
    ),
    Patch(
        "history-event-quota",
        f"{SFN}.asl.eval.event.event_manager:EventManager.add_event",
        _history_capped,
        "fix",
        "A Standard execution fails at 25,000 history events (States.Runtime, beyond any Catch); moto never "
        "stops, so a workflow that would fail on AWS ran on locally.",
        "not reported upstream yet",
        uses=(
            f"{SFN}.api:ExecutionFailedEventDetails",
            f"{SFN}.api:HistoryEventType",
            f"{SFN}.asl.eval.event.event_detail:EventDetails",
            f"{SFN}.asl.eval.environment:Environment.set_error",
        ),
    ),
    Patch(
        "states-all-spares-terminal-errors",
        f"{SFN}.asl.component.common.error_name.error_equals_decl:ErrorEqualsDecl._eval_body",
        _terminal_errors_spared,
        "fix",
        "States.ALL does not catch or retry States.DataLimitExceeded (a state's output over 256 KiB) or "
        "States.Runtime on AWS; moto's States.ALL matched them, so an execution AWS would fail went down its "
        "Catch locally.",
        "not reported upstream yet",
        uses=(f"{SFN}.asl.component.common.error_name.states_error_name:StatesErrorName",),
    ),
    Patch(
        "task-input-quota",
        f"{SFN}.asl.component.state.exec.state_task.state_task:StateTask._eval_parameters",
        _task_input_within_quota,
        "fix",
        "A task's input after Parameters over 256 KiB fails with States.DataLimitExceeded on AWS; moto sent it.",
        "not reported upstream yet",
        uses=(
            f"{SFN}.quotas:is_within_size_quota",
            f"{SFN}.api:TaskFailedEventDetails",
            f"{SFN}.asl.component.common.error_name.failure_event:FailureEventException",
            f"{SFN}.asl.component.common.error_name.states_error_name_type:StatesErrorNameType",
        ),
    ),
    Patch(
        "history-quota-error-kept",
        f"{SFN}.asl.eval.environment:Environment.set_error",
        _quota_failure_kept,
        "fix",
        "With the history quota reached, the execution's error stays States.Runtime even if the state it cut "
        "short fails afterwards (moto would report that state's error instead).",
        "not reported upstream yet",
    ),
)
