"""What the engine dispatches to: the registered Lambda functions and service twins, and its settings.

Nothing here imports moto: the CLI and the layer's tests can use these types without loading the engine.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import functools
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from callrec.mock_config import MockConfig


@dataclass
class LambdaContext:
    """What the Lambda runtime hands a Python handler as `context` (the fields Powertools reads)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_seconds: int = 30
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


Handler = Callable[[dict, LambdaContext], Any]


class LambdaFunction:
    """One function of the template, run in-process. Its handler is imported on the first invocation
    (a cold start), after the local stack has put the function's environment in place."""

    def __init__(
        self,
        name: str,
        arn: str,
        load_handler: Callable[[], Handler] | None = None,
        memory_mb: int = 128,
        timeout_seconds: int = 3,
        role_arn: str | None = None,
        load_environment: Callable[[int], Handler] | None = None,
    ):
        self.name = name
        self.role_arn = role_arn  # every AWS call the handler makes is checked against it (None: unchecked)
        self.arn = arn
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        if load_handler is None:  # the first execution environment: environment 0 of `load_environment`
            if load_environment is None:
                raise ValueError(f"function {name}: give load_handler or load_environment")
            load_handler = functools.partial(load_environment, 0)
        self._load_handler = load_handler
        # Execution environments, as Lambda runs them: each serves one invocation at a time, and a concurrent
        # invocation gets another (a cold start) with its own copy of the function's module, so module state
        # is never shared by two invocations at once (state a library keeps on its own classes is another matter:
        # Powertools' current event, kept per invocation by engine/powertools.py).
        # `load_environment(n)` loads environment n; without it, every invocation shares the handler.
        self._load_environment = load_environment
        self._environments = 0  # made so far; environment 0 is `handler`
        self._idle: list[Handler] = []
        self._override: Handler | None = None  # a test's stand-in (replaced), for every invocation
        self._handler: Handler | None = None
        self._lock = threading.Lock()
        self.durations: collections.deque[float] = collections.deque(
            maxlen=10_000
        )  # seconds per invocation, first (cold) one first

    @property
    def handler(self) -> Handler:
        with self._lock:
            if self._handler is None:
                self._handler = self._load_handler()
            return self._handler

    @contextlib.contextmanager
    def replaced(self, handler: Handler) -> Iterator[Handler]:
        """A switch for tests: invocations that begin inside the block run `handler`; yields the function's
        own handler (e.g. for a stand-in that delays, then calls it)."""
        original = self.handler
        with self._lock:
            self._override = handler
        try:
            yield original
        finally:
            with self._lock:
                self._override = None

    def _take(self) -> tuple[Handler, bool]:
        """The handler of an execution environment free for one invocation, and whether it goes back to the pool:
        an idle one, else a new one (a cold start)."""
        with self._lock:
            if self._override is not None:
                return self._override, False
            if self._load_environment is None:
                index = -1
            elif self._idle:
                return self._idle.pop(), True
            else:
                index = self._environments
                self._environments += 1
        if index < 0:
            return self.handler, False
        return (self.handler if index == 0 else self._load_environment(index)), True

    def _give_back(self, handler: Handler) -> None:
        with self._lock:
            self._idle.append(handler)

    def crashing(self, error: Exception) -> contextlib.AbstractContextManager:
        """A fault switch for tests: every invocation raises `error` until the block ends."""

        def crash(event: Any, context: Any) -> Any:
            raise error

        return self.replaced(crash)

    def invoke(self, event: Any) -> dict:
        """Run the handler as the Lambda service would and answer like `lambda.invoke` does."""
        context = LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_mb,
            timeout_seconds=self.timeout_seconds,
        )
        from callrec.engine import authorization

        began = time.perf_counter()
        handler, pooled = self._take()
        outcome: dict[str, Any] = {}
        life = authorization.life_now()  # the invoker's: a workflow task of a runtime that has closed, say

        def run() -> None:
            try:
                with authorization.acting_as(self.role_arn, self.name, life):
                    outcome["result"] = handler(event, context)
            except Exception as err:  # noqa: BLE001 - the Lambda runtime reports every exception
                outcome["error"] = err
            finally:
                if pooled:  # free again once its invocation has ended (a timed-out one runs on, and stays busy)
                    self._give_back(handler)

        # The function's Timeout holds, as on AWS: past it the invocation fails with Sandbox.Timedout. (Locally
        # the handler's thread cannot be frozen as Lambda freezes its sandbox: it runs on, unheard.)
        worker = threading.Thread(target=run, daemon=True, name=f"lambda-{self.name}")
        worker.start()
        worker.join(self.timeout_seconds * settings.lambda_timeout_scale)
        self.durations.append(time.perf_counter() - began)
        if worker.is_alive():
            message = (
                f"RequestId: {context.aws_request_id} Error: Task timed out after {self.timeout_seconds:.2f} seconds"
            )
            return _function_error("Sandbox.Timedout", message, [])
        if "error" in outcome:
            err = outcome["error"]
            # Like the Python runtime: the handler's frames only, not the runtime's (here, `run`).
            frames = traceback.extract_tb(err.__traceback__)[1:]
            return _function_error(type(err).__name__, str(err), traceback.format_list(frames))
        result = outcome.get("result")
        try:
            payload = json.loads(json.dumps(result))
        except (TypeError, ValueError) as err:
            return _function_error("Runtime.MarshalError", f"Unable to marshal response: {err}", [])
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": payload}


def _function_error(error_type: str, message: str, stack: list[str]) -> dict:
    return {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "ExecutedVersion": "$LATEST",
        "Payload": {"errorType": error_type, "errorMessage": message, "stackTrace": stack},
    }


class ServiceFake(Protocol):
    """A provider twin: `call("StartContactRecording", {...})` answers like the AWS API or raises ClientError."""

    def call(self, action: str, parameters: dict) -> dict: ...


class ServiceNotSimulated(RuntimeError):
    """An aws-sdk task named a routed service that has no fake registered."""


# SDK service name in the Resource ARN -> the PascalCase prefix Step Functions gives its errors.
ROUTED_SERVICES = {"connect": "Connect", "chimesdkvoice": "ChimeSdkVoice"}
# ... and the IAM service prefix their actions are authorized under (Chime SDK Voice's is `chime`)
ROUTED_SERVICES_SIGNING = {"connect": "connect", "chimesdkvoice": "chime"}


@dataclass
class EngineSettings:
    functions: dict[str, LambdaFunction] = field(default_factory=dict)  # by name and by ARN
    services: dict[str, ServiceFake] = field(default_factory=dict)
    time_scale: float = 1.0  # Wait states and Retry intervals
    timeout_scale: float = 1.0  # task timeouts/heartbeats: they wait on real actors, so real seconds unless asked
    # functions' Timeout: 1 (as on AWS) unless a run knowingly starves the in-process stack of CPU (the load run)
    lambda_timeout_scale: float = 1.0
    mock_config: MockConfig | None = None  # None: read SFN_MOCK_CONFIG when a test case is asked for
    clock: Callable[[], datetime.datetime] | None = None  # $$.State.EnteredTime's source (None: system clock)
    history_event_quota: int = 25_000  # Step Functions' hard quota per execution (lowered only by its own test)
    pollers: list[Any] = field(default_factory=list)  # running event source mappings (callrec.engine.streams)


settings = EngineSettings()  # one object for the process: reset() clears it in place


def workflow_seconds() -> float:
    """A monotonic clock in the workflows' time: Wait states and Retry intervals follow the time scale, so a quota
    the workflows' retries wait out (a twin's request quota) refills by this clock."""
    return time.monotonic() / settings.time_scale


def stop_pollers() -> None:
    """Stop the running event source mappings (before moto stops: none may read what comes next)."""
    while settings.pollers:
        settings.pollers.pop().stop()


def reset() -> None:
    """Stop the event source mappings; forget registered functions, fakes, mock config, scaling and the clock
    (between tests). Whoever acted before can no longer call (authorization.Outlived)."""
    from callrec.engine import authorization

    stop_pollers()
    settings.__dict__.update(EngineSettings().__dict__)
    authorization.new_life()


def register_function(function: LambdaFunction) -> None:
    settings.functions[function.name] = function
    settings.functions[function.arn] = function


def register_service(service_name: str, fake: ServiceFake) -> None:
    if service_name not in ROUTED_SERVICES:
        raise ValueError(f"{service_name!r} is not routed to a fake; routed: {sorted(ROUTED_SERVICES)}")
    settings.services[service_name] = fake


def twin_answer(client: Any, operation: str, params: dict) -> dict | None:
    """A boto3 call (a function's) to a service a registered twin plays, answered by the twin as botocore would:
    its errors are the services' ClientErrors, retried by botocore's own standard retry rules and backoff (in the
    workflows' time) up to the client's attempts, as the call would be on AWS. None for any other service, which
    moto answers."""
    fake = settings.services.get(client.meta.service_model.service_name.replace("-", ""))
    if fake is None:  # every boto3 call in the process comes here: the rest only for a twin's
        return None
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ClientError
    from botocore.retries import standard

    retries = client.meta.config.retries or {}
    attempts = retries.get("total_max_attempts") or retries.get("max_attempts", 2) + 1
    conditions, backoff = standard.StandardRetryConditions(max_attempts=attempts), standard.ExponentialBackoff()
    operation_model = client.meta.service_model.operation_model(operation)
    attempt = 1
    while True:
        try:
            response = dict(fake.call(operation, params) or {})
            break
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            context = standard.RetryContext(
                attempt,
                operation_model=operation_model,
                parsed_response=err.response,
                http_response=AWSResponse("", status, {}, None),
            )
            if not conditions.is_retryable(context):
                raise
            time.sleep(backoff.delay_amount(context) * settings.time_scale)
            attempt += 1
    response.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RetryAttempts": attempt - 1})
    return response


def json_safe(value: Any) -> Any:
    """Make an SDK result JSON: timestamps as ISO-8601 UTC strings, streams and bytes as text."""
    from botocore.response import StreamingBody

    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, StreamingBody):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    return value
