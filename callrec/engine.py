"""The embedded Step Functions engine: moto's ASL interpreter, adapted to run this project locally.

moto (pinned) interprets the real ASL files. This module is the one place that adapts it:

- `lambda:invoke` (and `.waitForTaskToken`) tasks run the project's own handlers in-process; a raised
  exception becomes the task error named after its class, with AWS's `errorType`/`errorMessage` cause;
- `aws-sdk:connect:*` and `aws-sdk:chimesdkvoice:*` tasks go to a registry of service fakes (the
  telephony simulator); an unregistered call fails the task with a clear `States.Runtime` cause, and
  service errors get AWS's names (`Connect.ThrottlingException`);
- `stateMachineArn#TestCase` runs Step Functions Local's MockConfigFile test cases: responses are
  numbered by every call to the state in the execution (moto restarted at "0" each time a state in a
  loop was entered again), a mocked `Throw` may name a `States.*` error, and on a DynamoDB task keeps
  its name (both of which moto got wrong);
- executions started without a name get a unique one, as on AWS;
- SDK results are made JSON-safe (datetimes, streams), as Step Functions returns them;
- `Wait` states and `Retry` intervals can be scaled (`time_scale`: tests, the demo) or honoured
  (`make serve`), and task timeouts/heartbeats separately (`timeout_scale`, 1 unless a test of a limit
  lowers it);
- `$$.State.EnteredTime` in AWS's format (milliseconds, `Z`), so it sorts with other timestamps;
- each definition is parsed once, not at every execution start (moto ran its ANTLR parser, pure Python, each
  time: about 1 s of CPU for RecordingSession, a third of the whole stack's time under load);
- a JSONPath is parsed once (moto built a new parser, tables and all, for every path of every state) and
  the SDK clients of service tasks are made once per service and Region (moto made one per task);
- DynamoDB requests are handled one at a time (moto's backend is not thread-safe), and a transaction
  keeps a copy of the items it writes, not of their whole tables (moto deep-copied every table a
  transaction touched, for its rollback: a cost that grew with the tables, i.e. with every call made);
- SendTaskFailure keeps its `cause` (moto's API handler dropped it), and the task-token APIs skip
  executions still starting (moto dereferenced their missing environment and failed the call);
- `states:startExecution` tasks reach boto3 with its parameter names (moto passed `StateMachineArn`) and
  answer `ExecutionArn`/`StartDate` as Step Functions does (moto: boto3's names and a raw datetime);
- a policy statement conditioned on a key the request does not carry does not apply (moto takes the
  condition as met, so a standard TLS-only Deny on a bucket would refuse every request);
- S3's LastModified follows the engine's clock when one is set (one timeline with the sessions' times);
- a task token is used once: SendTaskSuccess/Failure/Heartbeat on a closed task answer TaskTimedOut;
  SendTaskHeartbeat on an open task without HeartbeatSeconds is accepted (moto: InvalidToken).

Every patched or relied-on moto attribute is listed in `HOOKS`; `check_hooks()` fails loudly when a moto
upgrade moves one (a dedicated test calls it).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import copy
import datetime
import functools
import importlib
import json
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import boto3
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

# moto's interpreter modules (the hook points)
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb import responses as dynamodb_responses
from moto.iam import access_control
from moto.stepfunctions import exceptions as sfn_exceptions
from moto.stepfunctions import responses as sfn_responses
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts import heartbeat as heartbeat_module
from moto.stepfunctions.parser.asl.component.common.timeouts import timeout as timeout_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails, TaskTimedOut
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils
from moto.stepfunctions.parser.asl.eval import environment as sfn_environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_dynamodb,
    state_task_service_sfn,
)
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.backend import execution as sfn_execution
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client
from moto.stepfunctions.parser.asl.utils import json_path as sfn_json_path
from moto.s3 import models as s3_models
from moto.stepfunctions.parser.asl.eval.callback import callback as sfn_callback

from callrec.mock_config import MockConfig, MockConfigError

# (module path, attribute path) of everything this adapter patches or relies on in moto.
HOOKS: tuple[tuple[str, str], ...] = (
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils", "_invoke_lambda_function"),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
        "StateTaskServiceAwsSdk._eval_service_task",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
        "_SERVICE_ERROR_NAMES",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
        "StateTaskServiceDynamoDB._from_error",
    ),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend.start_execution"),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend._get_executions"),
    ("moto.stepfunctions.parser.backend.execution", "Execution._get_start_execution_worker"),
    ("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker._mock_test_case"),
    ("moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser.parse"),
    ("moto.stepfunctions.parser.asl.component.eval_component", "EvalComponent.heap_key"),
    ("moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function", "WaitFunction._wait_interval"),
    ("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time"),
    ("moto.stepfunctions.parser.mocking.mock_config", "_mock_test_case_from_raw"),
    ("moto.iam.access_control", "IAMPolicyStatement.is_action_permitted"),
    ("moto.stepfunctions.responses", "StepFunctionResponse.send_task_failure"),
    ("moto.stepfunctions.parser.asl.component.state.exec.state_task.mock_eval_utils", "_eval_mocked_response_throw"),
    ("moto.stepfunctions.parser.asl.component.state.state", "datetime"),
    ("moto.stepfunctions.parser.asl.eval.environment", "Environment.get_current_mocked_response"),
    ("moto.stepfunctions.parser.asl.component.common.timeouts.timeout", "Timeout._eval_body"),
    ("moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat", "Heartbeat._eval_body"),
    ("moto.dynamodb.responses", "DynamoHandler.call_action"),
    ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items"),
    ("moto.dynamodb.models", "copy"),
    ("moto.stepfunctions.parser.asl.utils.json_path", "parse"),
    ("moto.stepfunctions.parser.asl.utils.boto_client", "boto3"),
    ("moto.s3.models", "utcnow"),
    ("moto.stepfunctions.parser.asl.eval.callback.callback", "CallbackPoolManager.notify"),
    ("moto.stepfunctions.parser.asl.eval.callback.callback", "CallbackPoolManager.heartbeat"),
    ("moto.stepfunctions.parser.asl.eval.callback.callback", "CallbackEndpoint.notify_heartbeat"),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
        "StateTaskServiceSfn._normalise_parameters",
    ),
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
        "StateTaskServiceSfn._eval_service_task",
    ),
)


class HookMoved(RuntimeError):
    """A moto upgrade moved or removed something this adapter patches: re-check the adapter."""


def check_hooks() -> None:
    """Raise `HookMoved` naming every hook point that is not where this adapter expects it."""
    missing = []
    for module_name, attribute_path in HOOKS:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{module_name} (module)")
            continue
        for part in attribute_path.split("."):
            if part == "_mock_test_case":  # an instance attribute: look for it in __init__'s annotations
                if part not in getattr(target, "__annotations__", {}):
                    missing.append(f"{module_name}.{attribute_path}")
                break
            # on a class, the attribute must be its own: patching an inherited one changes other classes
            found = part in vars(target) if isinstance(target, type) else hasattr(target, part)
            if not found:
                missing.append(f"{module_name}.{attribute_path}")
                break
            target = getattr(target, part)
    if missing:
        raise HookMoved("moto's interpreter changed; these hook points moved: " + ", ".join(missing))


# --- registries the engine dispatches to ------------------------------------------------------------


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
        load_handler: Callable[[], Handler],
        memory_mb: int = 128,
        timeout_seconds: int = 3,
    ):
        self.name = name
        self.arn = arn
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        self._load_handler = load_handler
        self._handler: Handler | None = None
        self._lock = threading.Lock()
        self.durations: collections.deque[float] = collections.deque(maxlen=10_000)  # seconds per invocation, first (cold) one first

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
            self._handler = handler
        try:
            yield original
        finally:
            with self._lock:
                self._handler = original

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
        began = time.perf_counter()
        try:
            result = self.handler(event, context)
        except Exception as err:  # noqa: BLE001 - the Lambda runtime reports every exception
            # Like the Python runtime: the handler's frames only, not the runtime's (here, this method).
            frames = traceback.extract_tb(err.__traceback__)[1:]
            return _function_error(type(err).__name__, str(err), traceback.format_list(frames))
        finally:
            self.durations.append(time.perf_counter() - began)
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


@dataclass
class EngineSettings:
    functions: dict[str, LambdaFunction] = field(default_factory=dict)  # by name and by ARN
    services: dict[str, ServiceFake] = field(default_factory=dict)
    time_scale: float = 1.0  # Wait states and Retry intervals
    timeout_scale: float = 1.0  # task timeouts/heartbeats: they wait on real actors, so real seconds unless asked
    mock_config: MockConfig | None = None  # None: read SFN_MOCK_CONFIG when a test case is asked for
    clock: Callable[[], datetime.datetime] | None = None  # $$.State.EnteredTime's source (None: system clock)


settings = EngineSettings()


def register_function(function: LambdaFunction) -> None:
    settings.functions[function.name] = function
    settings.functions[function.arn] = function


def register_service(service_name: str, fake: ServiceFake) -> None:
    if service_name not in ROUTED_SERVICES:
        raise ValueError(f"{service_name!r} is not routed to a fake; routed: {sorted(ROUTED_SERVICES)}")
    settings.services[service_name] = fake


def reset() -> None:
    """Forget registered functions, fakes, mock config and scaling (between tests)."""
    global settings
    settings = EngineSettings()


# --- the patches ---------------------------------------------------------------------------------------


def _client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
        },
        operation,
    )


def _invoke_lambda_function(parameters: dict, region: str, state_credentials: Any) -> dict:
    name = parameters.get("FunctionName", "")
    function = settings.functions.get(name) or settings.functions.get(name.split(":")[-1])
    if function is None:
        raise _client_error(
            "ResourceNotFoundException", f"Function not found: {name}", 404, "Invoke"
        )
    raw = parameters.get("Payload") or b"{}"
    event = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    return function.invoke(event)


_original_aws_sdk_eval = state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task


def _eval_aws_sdk_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
    service = self.resource.api_name
    if service in ROUTED_SERVICES:
        fake = settings.services.get(service)
        action = self.resource.api_action[:1].upper() + self.resource.api_action[1:]
        if fake is None:
            raise ServiceNotSimulated(
                f"aws-sdk:{service}:{self.resource.api_action} has no service fake registered "
                f"(register one with callrec.engine.register_service({service!r}, fake))"
            )
        try:
            response = fake.call(action, normalised_parameters) or {}
        except ClientError as err:
            raise modelled_error(err) from err
        response.pop("ResponseMetadata", None)
        env.stack.append(response)
    else:
        _original_aws_sdk_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials)
    env.stack.append(json_safe(env.stack.pop()))


def modelled_error(err: ClientError) -> ClientError:
    """The error as boto3's modelled exception class (named after its code), which moto's interpreter
    turns into the Step Functions error name (`Connect.ThrottlingException`), as AWS does."""
    code = err.response.get("Error", {}).get("Code") or "Unknown"
    modelled = type(code, (ClientError,), {})
    return modelled(err.response, err.operation_name)


def json_safe(value: Any) -> Any:
    """Make an SDK result JSON: timestamps as ISO-8601 UTC strings, streams and bytes as text."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, StreamingBody):
        value = value.read()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    return value


_original_dynamodb_from_error = state_task_service_dynamodb.StateTaskServiceDynamoDB._from_error


def _dynamodb_from_error(self, env, ex):
    """moto turns a mocked Throw on a DynamoDB task into `DynamoDB.AmazonDynamoDBException`; Step
    Functions Local keeps the mocked error name, so pass the mocked failure through."""
    if isinstance(ex, FailureEventException):
        return ex.failure_event
    return _original_dynamodb_from_error(self, env, ex)


_pending_test_case: contextvars.ContextVar = contextvars.ContextVar("callrec_pending_test_case", default=None)
_original_start_execution = sfn_models.StepFunctionsParserBackend.start_execution
_original_get_worker = sfn_execution.Execution._get_start_execution_worker


def _start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
    base_arn, has_case, case_name = state_machine_arn.partition("#")
    test_case = None
    if has_case:
        state_machine = self.describe_state_machine(base_arn)
        try:
            config = settings.mock_config or MockConfig.from_environment()
            test_case = config.test_case(state_machine.name, case_name)
        except MockConfigError as err:  # answered over the API like any bad stateMachineArn
            raise sfn_exceptions.InvalidArn(str(err)) from err
    token = _pending_test_case.set(test_case)
    try:
        return _original_start_execution(
            self, base_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )
    finally:
        _pending_test_case.reset(token)


_original_get_executions = sfn_models.StepFunctionsParserBackend._get_executions


def _executions_with_environment(self, execution_status=None):
    """moto lists an execution as RUNNING before its worker thread has built its environment, and the task
    token APIs dereference that environment: a SendTaskSuccess arriving while any other execution was
    starting failed with AttributeError (under load, a woken workflow then stayed parked for good). Only an
    execution with an environment can hold a task token, so the others are left out."""
    return [execution for execution in _original_get_executions(self, execution_status)
            if execution.exec_worker is not None and execution.exec_worker.env is not None]


def _get_start_execution_worker(self):
    worker = _original_get_worker(self)
    worker._mock_test_case = _pending_test_case.get()
    return worker


_programs: dict[str, Any] = {}
_programs_lock = threading.Lock()
_parse_definition = AmazonStateLanguageParser.parse  # moto's own parser (ANTLR)


def _parse_once(definition: str) -> Any:
    """moto's parse (at create_state_machine, and at every execution start), done once per definition. A
    parsed program holds no execution state (that lives in each execution's Environment, keyed by the
    components' heap keys), so executions can share it; the heap keys, which moto draws lazily, are drawn
    here before it is shared. A definition that does not parse raises, and is not kept."""
    with _programs_lock:
        parsed = _programs.get(definition)
        if parsed is None:
            parsed = _parse_definition(definition)
            _draw_heap_keys(parsed[0], set())
            _programs[definition] = parsed
    return parsed


def _draw_heap_keys(component: Any, seen: set[int]) -> None:
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        component.heap_key  # noqa: B018 - drawn now, once, rather than raced for by two executions
    children = vars(component).values() if isinstance(component, Component) else (
        component.values() if isinstance(component, dict) else component if isinstance(component, (list, tuple)) else ())
    for child in children:
        if isinstance(child, (Component, dict, list, tuple)):
            _draw_heap_keys(child, seen)


def _wait_interval(self, env, wait_seconds):
    """Wait `wait_seconds` (times the time scale) unless the execution stops first."""
    deadline = time.monotonic() + wait_seconds * settings.time_scale
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        env.program_state_event.wait(min(remaining, 0.5))


_original_statement_permitted = access_control.IAMPolicyStatement.is_action_permitted


def _absent_key_fails(operator: str, key: str, values: dict | None) -> bool:
    """IAM: a condition on a key the request does not carry is false, unless the operator is negated
    (StringNotEquals, ArnNotLike, ...) or ends in IfExists."""
    negated = "Not" in operator
    return key not in (values or {}) and not negated and not operator.endswith("IfExists")


def _statement_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
    """moto treats a condition key the request lacks as satisfied, so a TLS-only Deny refuses every
    request and an Allow conditioned on aws:SourceAccount grants anyone; on AWS such a statement does
    not apply."""
    for operator, tests in (self._statement.get("Condition") or {}).items():
        if any(_absent_key_fails(operator, key, incoming_condition_values) for key in tests):
            return access_control.PermissionResult.NEUTRAL
    return _original_statement_permitted(self, action, resource, principal, incoming_condition_values)


def _send_task_failure(self):
    """moto's API handler drops SendTaskFailure's `cause`; AWS passes it to the Catch (`$.error.Cause`)."""
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return sfn_responses.EmptyResult()


def _eval_mocked_response_throw(env, mocked_response):
    """A mocked Throw may name a States.* error (States.Timeout for a callback that never came), as
    Step Functions Local allows; moto accepted only custom names."""
    name = mocked_response.error
    error_name = StatesErrorName.from_name(name) if name.startswith("States.") else CustomErrorName(name)
    details = TaskFailedEventDetails(error=name, cause=mocked_response.cause)
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(taskFailedEventDetails=details),
        )
    )


_mock_calls_lock = threading.Lock()


def _current_mocked_response(self):
    """Step Functions Local numbers a state's mocked responses by every call to that state in the
    execution (retries included), so a state in a loop gets "0", "1", "2"... moto numbered them by the
    retry count, which restarts at 0 each time the state is entered again."""
    if not self.is_mocked_mode():
        raise RuntimeError("Cannot retrieve mocked response: execution is not operating in mocked mode")
    case, name = self.mock_test_case, self.next_state_name
    with _mock_calls_lock:
        calls = case.__dict__.setdefault("_callrec_calls", {})
        index = calls.get(name, 0)
        calls[name] = index + 1
    responses = case.state_mocked_responses[name].mocked_responses
    if index >= len(responses):
        raise RuntimeError(
            f"mock test case {case.test_case_name}: state {name!r} was called {index + 1} times but has "
            f"{len(responses)} mocked responses"
        )
    return responses[index]


class _AwsTimestamp(datetime.datetime):
    """A datetime whose isoformat is Step Functions' ($$.State.EnteredTime: '2026-11-20T12:30:05.123Z')."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> "_AwsTimestamp":
        """The engine's clock (`settings.clock`, e.g. the telephony twin's call clock) or the system's."""
        moment = settings.clock() if settings.clock else datetime.datetime.now(datetime.timezone.utc)
        return cls.fromtimestamp(moment.timestamp(), tz=tz or datetime.timezone.utc)

    def isoformat(self, *args: Any, **kwargs: Any) -> str:
        utc = self.astimezone(datetime.timezone.utc) if self.tzinfo else self
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class _AwsDatetimeModule:
    """Stands for the datetime module inside moto's state.py, whose one use is $$.State.EnteredTime."""

    timezone = datetime.timezone  # (before the next line, which rebinds `datetime` in this class body)
    datetime = _AwsTimestamp


def _s3_now() -> datetime.datetime:
    """moto's S3 stamps LastModified with the system clock; locally the one timeline is the engine's clock (the
    call clock, which runs ahead of wall time by the simulated people's time), as on AWS where the provider,
    S3 and Step Functions share real time. VerifyRecording checks LastModified against the session's times."""
    if settings.clock is None:
        return _original_s3_now()
    return settings.clock().astimezone(datetime.timezone.utc).replace(tzinfo=None)  # moto keeps naive UTC


def _open_task_only(original):
    """A task token can be used once. moto keeps a completed task's callback and accepts SendTaskSuccess,
    SendTaskFailure and SendTaskHeartbeat on it again; AWS answers TaskTimedOut ("the task associated
    with the token has already been closed")."""

    def guarded(self, callback_id, *args, **kwargs):
        endpoint = self._pool.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            # raised as the service error itself: moto's own mapping of a consumer error tests the wrapper's type
            # (never a timeout) and builds TaskDoesNotExist without its message (a TypeError)
            raise TaskTimedOut("Task Timed Out: the task associated with the token has already been closed", "TaskTimedOut")
        return original(self, callback_id, *args, **kwargs)

    return guarded


def _heartbeat_accepted(self) -> bool:
    """SendTaskHeartbeat reports that an open task is making progress; the API reference describes it for
    every callback task, HeartbeatSeconds only sets how long may pass between two. moto answers InvalidToken
    for a task without HeartbeatSeconds. (Not verified against AWS from here: the SMA handler's proof that a
    request comes from the workflow rests on it; the README's Chime wiring says so.)"""
    if self._heartbeat_endpoint:
        self._heartbeat_endpoint.notify()
    return True


def _scaled_seconds(original):
    """Task TimeoutSeconds(Path) and HeartbeatSeconds(Path) follow `settings.timeout_scale`: 1 by default,
    because a timeout guards a real actor (a caller, a contact flow); a test of a limit lowers it."""

    def _eval_body(self, env) -> None:
        original(self, env)
        if settings.timeout_scale != 1.0:
            env.stack.append(env.stack.pop() * settings.timeout_scale)

    return _eval_body


_original_s3_now = s3_models.utcnow
_dynamodb_lock = threading.RLock()
_original_dynamodb_call = dynamodb_responses.DynamoHandler.call_action


def _dynamodb_call_action(self):
    """moto's DynamoDB backend is not thread-safe (concurrent requests crash with 'dictionary changed
    size during iteration'); on AWS every request is atomic. One request at a time here."""
    with _dynamodb_lock:
        return _original_dynamodb_call(self)


class _TablesNotCopied:
    """Stands for the `copy` module inside moto's DynamoDB backend: `deepcopy` of a whole table (which moto
    took for a transaction's rollback) answers the table itself; `_transact_write_items` rolls back the
    items the transaction wrote instead."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, dynamodb_models.Table) else copy.deepcopy(value, memo)


_original_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
    """All or nothing, as on AWS: if moto's transaction fails, each item it targeted is put back as it was."""
    before = []
    for entry in transact_items[:100]:
        operation = next(iter(entry.values()), {})
        table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
        if table is None:
            continue
        key = operation.get("Key") or {name: operation.get("Item", {}).get(name)
                                       for name in (table.hash_key_attr, table.range_key_attr) if name}
        try:
            current = self.get_item(table.name, key)
        except Exception:  # noqa: BLE001 - a malformed key: moto's own code answers it below
            continue
        before.append((table.name, key, copy.deepcopy(current)))
    try:
        _original_transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, item in reversed(before):
            if item is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, item.to_json()["Attributes"])
        raise


class _ClientsKept:
    """Stands for boto3 inside moto's `boto_client_for`: one client per service, Region and settings, kept
    (botocore clients are thread-safe; moto built a new one, endpoint rules and all, for every task)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(boto3, name)

    def client(self, **kwargs: Any) -> Any:
        key = repr(sorted((name, repr(value.__dict__) if name == "config" else value) for name, value in kwargs.items()))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(**kwargs)
            return self._clients[key]


_original_sfn_normalise = state_task_service_sfn.StateTaskServiceSfn._normalise_parameters


def _sfn_normalise_parameters(self, parameters: dict, boto_service_name=None, service_action_name=None) -> None:
    """`states:startExecution` takes `StateMachineArn`, `Name`, `Input`; boto3's members are camelCase and
    moto passed the ASL names through, so every start failed in botocore's serializer ('StateMachineArn')."""
    _original_sfn_normalise(self, parameters, boto_service_name, service_action_name)
    for key in [k for k in parameters if k[:1].isupper()]:
        parameters[key[0].lower() + key[1:]] = parameters.pop(key)


_original_sfn_eval = state_task_service_sfn.StateTaskServiceSfn._eval_service_task


def _sfn_eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials) -> None:
    """...and its result as Step Functions gives it: `ExecutionArn`, `StartDate` (boto3's camelCase and a
    datetime, which moto left as they were and which broke the history's JSON)."""
    _original_sfn_eval(self, env, resource_runtime_part, normalised_parameters, state_credentials)
    result = env.stack.pop()
    if isinstance(result, dict):
        result = {key[0].upper() + key[1:]: value for key, value in result.items()}
    env.stack.append(json_safe(result))


class _ScaledClock:
    """Stands in for the `time` module inside moto's retrier: retry intervals follow the time scale."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds * settings.time_scale)


_PATCHES: tuple[tuple[Any, str, Any], ...] = (
    (lambda_eval_utils, "_invoke_lambda_function", _invoke_lambda_function),
    (state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", _eval_aws_sdk_task),
    (state_task_service_dynamodb.StateTaskServiceDynamoDB, "_from_error", _dynamodb_from_error),
    (sfn_models.StepFunctionsParserBackend, "start_execution", _start_execution),
    (sfn_models.StepFunctionsParserBackend, "_get_executions", _executions_with_environment),
    (sfn_execution.Execution, "_get_start_execution_worker", _get_start_execution_worker),
    (AmazonStateLanguageParser, "parse", staticmethod(_parse_once)),
    (wait_function.WaitFunction, "_wait_interval", _wait_interval),
    (retrier_decl, "time", _ScaledClock()),
    (access_control.IAMPolicyStatement, "is_action_permitted", _statement_permitted),
    (sfn_responses.StepFunctionResponse, "send_task_failure", _send_task_failure),
    (mock_eval_utils, "_eval_mocked_response_throw", _eval_mocked_response_throw),
    (state_module, "datetime", _AwsDatetimeModule()),
    (sfn_environment.Environment, "get_current_mocked_response", _current_mocked_response),
    (timeout_module.Timeout, "_eval_body", _scaled_seconds(timeout_module.Timeout._eval_body)),
    (heartbeat_module.Heartbeat, "_eval_body", _scaled_seconds(heartbeat_module.Heartbeat._eval_body)),
    (dynamodb_responses.DynamoHandler, "call_action", _dynamodb_call_action),
    (dynamodb_models.DynamoDBBackend, "transact_write_items", _transact_write_items),
    (dynamodb_models, "copy", _TablesNotCopied()),
    (sfn_json_path, "parse", functools.lru_cache(maxsize=4096)(sfn_json_path.parse)),
    (sfn_boto_client, "boto3", _ClientsKept()),
    (state_task_service_sfn.StateTaskServiceSfn, "_normalise_parameters", _sfn_normalise_parameters),
    (state_task_service_sfn.StateTaskServiceSfn, "_eval_service_task", _sfn_eval_service_task),
    (s3_models, "utcnow", _s3_now),
    (sfn_callback.CallbackPoolManager, "notify", _open_task_only(sfn_callback.CallbackPoolManager.notify)),
    (sfn_callback.CallbackPoolManager, "heartbeat", _open_task_only(sfn_callback.CallbackPoolManager.heartbeat)),
    (sfn_callback.CallbackEndpoint, "notify_heartbeat", _heartbeat_accepted),
)
_originals: list[tuple[Any, str, Any]] = []
_install_lock = threading.Lock()


def install() -> None:
    """Apply the adapter to moto (idempotent, process-wide: moto's interpreter is process-wide)."""
    with _install_lock:
        if _originals:
            return
        check_hooks()
        for owner, attribute, replacement in _PATCHES:
            _originals.append((owner, attribute, owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)))
            setattr(owner, attribute, replacement)
        state_task_service_aws_sdk._SERVICE_ERROR_NAMES.update(
            {name.lower(): prefix for name, prefix in ROUTED_SERVICES.items()}
        )


def uninstall() -> None:
    with _install_lock:
        while _originals:
            owner, attribute, original = _originals.pop()
            setattr(owner, attribute, original)


def installed() -> bool:
    return bool(_originals)
