"""Ledger records for the task-token API (SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat)."""

from __future__ import annotations

from callrec.engine.ledger import Patch, replace_with

CALLBACK = "moto.stepfunctions.parser.asl.eval.callback.callback"
NOT_REPORTED = "not reported upstream yet"


def _send_task_failure(self):
    """SendTaskFailure passes `cause` on to the Catch (`$.error.Cause`)."""
    from moto.stepfunctions import responses as sfn_responses

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return sfn_responses.EmptyResult()


def _open_task_only(original):
    def guarded(self, callback_id, *args, **kwargs):
        """A task token can be used once: on a closed task AWS answers TaskTimedOut."""
        from moto.stepfunctions.parser.api import TaskTimedOut

        endpoint = self._pool.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            # raised as the service error itself: moto's own mapping of a consumer error tests the wrapper's type
            # (never a timeout) and builds TaskDoesNotExist without its message (a TypeError)
            raise TaskTimedOut(
                "Task Timed Out: the task associated with the token has already been closed", "TaskTimedOut"
            )
        return original(self, callback_id, *args, **kwargs)

    return guarded


def _heartbeat_accepted(self) -> bool:
    """SendTaskHeartbeat reports that an open task is making progress; HeartbeatSeconds only sets how long may
    pass between two."""
    if self._heartbeat_endpoint:
        self._heartbeat_endpoint.notify()
    return True


RECORDS = (
    Patch(
        "send-task-failure-cause",
        "moto.stepfunctions.responses:StepFunctionResponse.send_task_failure",
        replace_with(_send_task_failure),
        "fix",
        "moto's API handler dropped SendTaskFailure's `cause`; AWS passes it to the Catch (`$.error.Cause`).",
        "not reported upstream yet",
        uses=("moto.stepfunctions.responses:EmptyResult",),
    ),
    Patch(
        "task-token-once",
        f"{CALLBACK}:CallbackPoolManager.notify",
        _open_task_only,
        "fix",
        'A task token can be used once: SendTaskSuccess/Failure on a closed task answer TaskTimedOut ("the task '
        'associated with the token has already been closed"); moto kept the callback and accepted it again.',
        NOT_REPORTED,
        uses=("moto.stepfunctions.parser.api:TaskTimedOut", f"{CALLBACK}:CallbackPoolManager.__annotations__._pool"),
    ),
    Patch(
        "heartbeat-on-closed-task",
        f"{CALLBACK}:CallbackPoolManager.heartbeat",
        _open_task_only,
        "fix",
        "SendTaskHeartbeat on a task that has closed answers TaskTimedOut too; moto accepted it.",
        NOT_REPORTED,
    ),
    Patch(
        "heartbeat-without-heartbeat-seconds",
        f"{CALLBACK}:CallbackEndpoint.notify_heartbeat",
        replace_with(_heartbeat_accepted),
        "fix",
        "AWS's API reference describes SendTaskHeartbeat for every "
        "open callback task (HeartbeatSeconds only sets how long may pass between two); moto answered "
        "InvalidToken for a task without HeartbeatSeconds. Not verified against AWS from here: the SMA handler's "
        "proof that a request comes from the workflow rests on it (docs/deploy.md's Chime wiring says so).",
        NOT_REPORTED,
    ),
)
