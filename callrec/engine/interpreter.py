"""Ledger records for moto's ASL interpreter (moto.stepfunctions.parser): tasks, executions, time, mocks."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
import json
import threading
import time
import uuid
from typing import Any

from callrec.engine.lazy import MadeWhenUsed
from callrec.engine.ledger import Deferred, Patch, replace_with, unwrap
from callrec.engine.runtime import ROUTED_SERVICES, ROUTED_SERVICES_SIGNING, ServiceNotSimulated, json_safe, settings
from callrec.errors import service_error
from callrec.mock_config import MockConfig, MockConfigError

SFN = "moto.stepfunctions.parser"
TASK = f"{SFN}.asl.component.state.exec.state_task"
SERVICE = f"{TASK}.service"
NOT_REPORTED = "not reported upstream yet"


def modelled_error(err: Any) -> Any:
    """The error as boto3's modelled exception class (named after its code), which moto's interpreter
    turns into the Step Functions error name (`Connect.ThrottlingException`), as AWS does."""
    from botocore.exceptions import ClientError

    code = err.response.get("Error", {}).get("Code") or "Unknown"
    modelled = type(code, (ClientError,), {})
    return modelled(err.response, err.operation_name)


# --- tasks ---------------------------------------------------------------------------------------------


def _invoke_lambda_function(parameters: dict, region: str, state_credentials: Any) -> dict:
    """`lambda:invoke` runs the registered handler in-process, answering as lambda.invoke does."""
    name = parameters.get("FunctionName", "")
    function = settings.functions.get(name) or settings.functions.get(name.split(":")[-1])
    if function is None:
        raise service_error("ResourceNotFoundException", f"Function not found: {name}", 404, "Invoke")
    _as_task_role(state_credentials, "lambda", "Invoke", {"FunctionName": function.arn}, region)
    raw = parameters.get("Payload") or b"{}"
    event = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    return function.invoke(event)


def _as_task_role(state_credentials: Any, prefix: str, operation: str, params: dict, region: str) -> None:
    """The Lambda service and the twins check the task's role as AWS would (callrec.engine.authorization)."""
    from callrec.engine import authorization

    principal = authorization.Principal(state_credentials.role_arn, "execution", life=authorization.life_now())
    authorization.check_as(principal, prefix, operation, params, region)


def _aws_sdk_to_twins(original):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        service = self.resource.api_name
        if service in ROUTED_SERVICES:
            from botocore.exceptions import ClientError

            fake = settings.services.get(service)
            action = self.resource.api_action[:1].upper() + self.resource.api_action[1:]
            if fake is None:
                raise ServiceNotSimulated(
                    f"aws-sdk:{service}:{self.resource.api_action} has no service fake registered "
                    f"(register one with callrec.engine.register_service({service!r}, fake))"
                )
            try:
                _as_task_role(
                    state_credentials,
                    ROUTED_SERVICES_SIGNING[service],
                    action,
                    normalised_parameters,
                    resource_runtime_part.region,
                )
                response = fake.call(action, normalised_parameters) or {}
            except ClientError as err:
                raise modelled_error(err) from err
            response.pop("ResponseMetadata", None)
            env.stack.append(response)
        else:
            original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        env.stack.append(json_safe(env.stack.pop()))

    return _eval_service_task


def _dynamodb_keeps_mocked_error(original):
    def _from_error(self, env, ex):
        """Step Functions Local keeps a mocked Throw's name on a DynamoDB task; moto turned it into
        `DynamoDB.AmazonDynamoDBException`."""
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

        if isinstance(ex, FailureEventException):
            return ex.failure_event
        return original(self, env, ex)

    return _from_error


def _start_execution_normalised(original):
    def _normalise_parameters(self, parameters: dict, boto_service_name=None, service_action_name=None) -> None:
        """`states:startExecution` takes `StateMachineArn`, `Name`, `Input`: boto3's members are camelCase."""
        original(self, parameters, boto_service_name, service_action_name)
        for key in [k for k in parameters if k[:1].isupper()]:
            parameters[key[0].lower() + key[1:]] = parameters.pop(key)

    return _normalise_parameters


def _start_execution_result(original):
    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials) -> None:
        """...and its result as Step Functions gives it: `ExecutionArn`, `StartDate` as a string."""
        original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        result = env.stack.pop()
        if isinstance(result, dict):
            result = {key[0].upper() + key[1:]: value for key, value in result.items()}
        env.stack.append(json_safe(result))

    return _eval_service_task


# --- executions ----------------------------------------------------------------------------------------

_pending_test_case: contextvars.ContextVar = contextvars.ContextVar("callrec_pending_test_case", default=None)


def _start_execution(original):
    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        from moto.stepfunctions import exceptions as sfn_exceptions

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
            return original(self, base_arn, name or str(uuid.uuid4()), execution_input, trace_header)
        finally:
            _pending_test_case.reset(token)

    return start_execution


def _worker_with_test_case(original):
    def _get_start_execution_worker(self):
        worker = original(self)
        worker._mock_test_case = _pending_test_case.get()
        return worker

    return _get_start_execution_worker


def _started_in_its_runtime(original):
    def __init__(self, *args, **kwargs):
        """The engine's life the execution is started in (a runtime's), kept where its environment and its frames
        will read it (its AWSExecutionDetails): made before its thread starts, in the starting caller's."""
        from callrec.engine import authorization

        original(self, *args, **kwargs)
        details = self._evaluation_details.aws_execution_details
        setattr(details, authorization.EXECUTION_LIFE, authorization.life_now())

    return __init__


def _finished_threads_let_go(original):
    from moto.stepfunctions.parser.utils import TMP_THREADS

    def start(self):
        """moto's start, after letting go of the interpreter's threads that have finished: moto appends every thread
        it starts (an execution's worker, each task, branch and iteration) to one module list and never removes one
        (1,471 after 50 load calls). The list is emptied in place, as five modules hold it by name."""
        TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]
        return original(self)

    return start


def _running_while_starting(original):
    def status(self):
        """An execution listed before its start set its status is RUNNING, as AWS shows it from StartExecution on."""
        return original.fget(self) if self.exec_status is not None else "RUNNING"

    return property(status)


def _executions_with_environment(original):
    def _get_executions(self, execution_status=None):
        """Only an execution with an environment can hold a task token: leave out those still starting (one not
        started at all reads RUNNING: record `execution-status-while-starting`)."""
        return [
            execution
            for execution in original(self, execution_status)
            if execution.exec_worker is not None and execution.exec_worker.env is not None
        ]

    return _get_executions


_programs: dict[str, Any] = {}
_programs_lock = threading.Lock()
# A folder processes share parsed programs through: the test session makes one for its pytest-xdist workers
# (tests/conftest.py) unless one is given; the Makefile gives one in .venv, kept across runs and filled first by the
# install's warm-up deployment. Unset, each process parses for itself.
PROGRAM_STORE = "CALLREC_PROGRAM_STORE"


@functools.cache
def _parser_version() -> str:
    """What a stored program depends on besides its definition: moto's version, Python's, and the engine's own
    source (a record may change what a parsed component holds)."""
    import hashlib
    import sys
    from pathlib import Path

    from moto import __version__

    engine = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        engine.update(source.read_bytes())
    return f"{__version__}\n{sys.version}\n{engine.hexdigest()}"


def _stored(definition: str) -> str | None:
    import hashlib
    import os

    folder = os.environ.get(PROGRAM_STORE)
    if not folder:
        return None
    key = hashlib.sha256(f"{_parser_version()}\n{definition}".encode()).hexdigest()
    return os.path.join(folder, f"{key}.pickle")


def _from_store(path: str | None) -> Any:
    import pickle

    if path is None:
        return None
    try:
        with open(path, "rb") as stored:
            return pickle.load(stored)  # noqa: S301 - written by the project's own processes, in a folder of its own
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None  # not there (or unreadable): parsed here


def _to_store(path: str | None, program: Any) -> None:
    import os
    import pickle

    if path is None:
        return
    partial = f"{path}.{os.getpid()}.{threading.get_ident()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "wb") as stored:
            pickle.dump(program, stored, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)  # whole or not at all: another process may be reading
    except (OSError, RecursionError, TypeError, pickle.PicklingError):
        with contextlib.suppress(OSError):  # not shared: the others parse it themselves
            os.remove(partial)


def _parse_once(original):
    parse_definition = unwrap(original)

    def parse(definition: str) -> Any:
        """moto's parse, once per definition. A parsed program holds no execution state (that lives in each
        execution's Environment, keyed by the components' heap keys), so executions share it; the heap keys,
        which moto draws lazily, are drawn before it is shared. A definition that does not parse is not kept.
        With a program store, the processes of a run share the programs: one parses (0.7 s of CPU for
        RecordingSession), the others load it (6 ms)."""
        with _programs_lock:
            parsed = _programs.get(definition)
            if parsed is None:
                path = _stored(definition)
                program = _from_store(path)
                if program is not None:
                    # the tree, which only moto's static analysers walk, is parsed if one does
                    parsed = (program, MadeWhenUsed(lambda: parse_definition(definition)[1]))
                else:
                    parsed = parse_definition(definition)
                    _draw_heap_keys(parsed[0], set())
                    _to_store(path, parsed[0])
                _programs[definition] = parsed
        return parsed

    return staticmethod(parse)


def _draw_heap_keys(component: Any, seen: set[int]) -> None:
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        component.heap_key  # noqa: B018 - drawn now, once, rather than raced for by two executions
    children = (
        vars(component).values()
        if isinstance(component, Component)
        else (
            component.values()
            if isinstance(component, dict)
            else component
            if isinstance(component, (list, tuple))
            else ()
        )
    )
    for child in children:
        if isinstance(child, (Component, dict, list, tuple)):
            _draw_heap_keys(child, seen)


# --- time ----------------------------------------------------------------------------------------------


def _wait_interval(self, env, wait_seconds):
    """Wait `wait_seconds` (times the time scale) unless the execution stops first."""
    deadline = time.monotonic() + wait_seconds * settings.time_scale
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        env.program_state_event.wait(min(remaining, 0.5))


class _ScaledClock:
    """Stands in for the `time` module inside moto's retrier: retry intervals follow the time scale."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds * settings.time_scale)


def _scaled_seconds(original):
    def _eval_body(self, env) -> None:
        """Task TimeoutSeconds(Path) and HeartbeatSeconds(Path) follow `settings.timeout_scale`: 1 by default,
        because a timeout guards a real actor (a caller, a contact flow); a test of a limit lowers it."""
        original(self, env)
        if settings.timeout_scale != 1.0:
            env.stack.append(env.stack.pop() * settings.timeout_scale)

    return _eval_body


def now() -> datetime.datetime:
    """The engine's clock (`settings.clock`, e.g. the telephony twin's call clock) or the system's, in UTC."""
    moment = settings.clock() if settings.clock else datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC)


def aws_timestamp(moment: datetime.datetime) -> str:
    """Step Functions' format for $$.State.EnteredTime: '2026-11-20T12:30:05.123Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _entered_time(original):
    def _eval_state_input(self, env) -> None:
        """$$.State.EnteredTime in AWS's format, from the engine's clock. moto set it just before calling
        this method, with the system clock and Python's format (microseconds, +00:00)."""
        state = env.states.context_object.context_object_data.get("State")
        if state is not None:
            state["EnteredTime"] = aws_timestamp(now())
        original(self, env)

    return _eval_state_input


# --- Step Functions Local's mock test cases ------------------------------------------------------------


def _eval_mocked_response_throw(env, mocked_response):
    """A mocked Throw may name a States.* error (States.Timeout for a callback that never came)."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

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
    """Responses numbered by every call to the state in the execution (retries and loops included)."""
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


def _error_prefixes(original: dict) -> dict:
    return {**original, **{name.lower(): prefix for name, prefix in ROUTED_SERVICES.items()}}


RECORDS = (
    Patch(
        "lambda-in-process",
        f"{TASK}.lambda_eval_utils:_invoke_lambda_function",
        replace_with(_invoke_lambda_function),
        "local",
        "`lambda:invoke` tasks run the template's handlers in this process (moto would call its Lambda "
        "backend, which needs Docker). A raised exception becomes AWS's FunctionError payload.",
        "local only",
    ),
    Patch(
        "aws-sdk-to-twins",
        f"{SERVICE}.state_task_service_aws_sdk:StateTaskServiceAwsSdk._eval_service_task",
        _aws_sdk_to_twins,
        "local",
        "`aws-sdk:connect:*` and `aws-sdk:chimesdkvoice:*` tasks reach the telephony "
        "twins (moto has no Connect recording or Chime SDK Voice backend); service errors keep AWS's names, and "
        "every SDK result is made JSON (datetimes, streams) as Step Functions returns it.",
        "local only",
    ),
    Patch(
        "aws-sdk-error-prefixes",
        f"{SERVICE}.state_task_service_aws_sdk:_SERVICE_ERROR_NAMES",
        _error_prefixes,
        "local",
        "The twins' errors are named `Connect.*` / `ChimeSdkVoice.*` as on AWS.",
        "local only",
        module_global="moto keeps its error-name prefixes in this module dict, read when a task fails; adding the "
        "two routed services to it is the only hook",
    ),
    Patch(
        "dynamodb-mocked-error-name",
        f"{SERVICE}.state_task_service_dynamodb:StateTaskServiceDynamoDB._from_error",
        _dynamodb_keeps_mocked_error,
        "fix",
        "A mocked Throw on a DynamoDB task keeps its error name in Step "
        "Functions Local; moto replaced it with `DynamoDB.AmazonDynamoDBException`, so a Catch on the mocked "
        "name never matched.",
        NOT_REPORTED,
        uses=(f"{SFN}.asl.component.common.error_name.failure_event:FailureEventException",),
    ),
    Patch(
        "start-execution-name-and-test-case",
        f"{SFN}.models:StepFunctionsParserBackend.start_execution",
        _start_execution,
        "fix",
        "An execution started without a name gets a unique one, as on AWS (moto named "
        "it 'None', so a second unnamed start collided). Also Step Functions Local's `stateMachineArn#TestCase` "
        "(local): the test case is read from the mock config file.",
        NOT_REPORTED,
        uses=("moto.stepfunctions.exceptions:InvalidArn",),
    ),
    Patch(
        "worker-test-case",
        f"{SFN}.backend.execution:Execution._get_start_execution_worker",
        _worker_with_test_case,
        "local",
        "The mock test case chosen at start reaches the execution's worker.",
        "local only",
        uses=(f"{SFN}.backend.execution_worker:ExecutionWorker.__annotations__._mock_test_case",),
    ),
    Patch(
        "execution-acts-in-its-runtime",
        f"{SFN}.backend.execution_worker:ExecutionWorker.__init__",
        _started_in_its_runtime,
        "local",
        "An execution acts in the local runtime it was started in: its tasks act as their role in that runtime's "
        "life (task-acts-as-its-role), so once it has closed their calls fail (authorization.Outlived) instead of "
        "reaching the next runtime's moto, which holds the same names. A runtime stops its executions as it "
        "closes, but one started as it closes was missed, and its tasks' calls acted in the next runtime.",
        "local only",
        uses=(
            f"{SFN}.backend.execution_worker:ExecutionWorker.__annotations__._evaluation_details",
            f"{SFN}.asl.eval.environment:Environment.__annotations__.aws_execution_details",
        ),
    ),
    Patch(
        "finished-threads-let-go",
        f"{SFN}.backend.execution:Execution.start",
        _finished_threads_let_go,
        "local",
        "moto's interpreter keeps every thread it starts in a module list for ever (about 29 per call here), so a "
        "`make serve` left running grew with every call. Each execution's start lets go of those that finished.",
        "not reported upstream yet: a leak in moto, nothing on AWS to compare",
        uses=(f"{SFN}.utils:TMP_THREADS",),
    ),
    Patch(
        "execution-status-while-starting",
        f"{SFN}.backend.execution:Execution.status",
        _running_while_starting,
        "fix",
        "moto adds an execution to its state machine's list before its start sets a status, and reading the status "
        "of one in that moment failed with AttributeError: ListExecutions with a status filter (the local "
        "runtime's closing), a StartExecution of the same name, a task token answered while it starts (the "
        "recordings API's stop answered 502 under load). AWS shows an execution RUNNING from StartExecution on.",
        NOT_REPORTED,
    ),
    Patch(
        "executions-with-environment",
        f"{SFN}.models:StepFunctionsParserBackend._get_executions",
        _executions_with_environment,
        "fix",
        "moto lists an execution as RUNNING before its worker has an "
        "environment, and SendTaskSuccess/Failure/Heartbeat dereference every listed environment: a token "
        "answered while another execution was starting failed with AttributeError (under load, a woken "
        "workflow stayed parked).",
        NOT_REPORTED,
    ),
    Patch(
        "parse-once",
        f"{SFN}.asl.parse.asl_parser:AmazonStateLanguageParser.parse",
        _parse_once,
        "speed",
        "moto parsed the definition (ANTLR, pure Python) at creation and at every execution start: about 1 s of "
        "CPU per RecordingSession start, a third of the stack's time under load. Parsed once, shared.",
        NOT_REPORTED,
        uses=(f"{SFN}.asl.component.eval_component:EvalComponent.heap_key", f"{SFN}.asl.component.component:Component"),
    ),
    Patch(
        "json-path-parsed-once",
        f"{SFN}.asl.utils.json_path:parse",
        lambda original: functools.lru_cache(maxsize=4096)(original),
        "speed",
        "moto built a new JSONPath parser, tables and all, for every path of every state it evaluated.",
        NOT_REPORTED,
    ),
    Patch(
        "wait-scaled",
        f"{SFN}.asl.component.state.wait.wait_function.wait_function:WaitFunction._wait_interval",
        replace_with(_wait_interval),
        "local",
        "Wait states follow `settings.time_scale` (tests, the demo); `make serve` keeps real time.",
        "local only",
    ),
    Patch(
        "retry-scaled",
        f"{SFN}.asl.component.common.retry.retrier_decl:time",
        replace_with(_ScaledClock()),
        "local",
        "Retry intervals follow `settings.time_scale`.",
        "local only",
        module_global="the sleep sits inline in RetrierDecl._eval_body (retry matching, attempts, back-off, "
        "output); replacing that method would copy moto's retry logic, so the module's `time` is replaced by "
        "one whose sleep is scaled and whose other names are the time module's",
    ),
    Patch(
        "timeout-scaled",
        f"{SFN}.asl.component.common.timeouts.timeout:Timeout._eval_body",
        _scaled_seconds,
        "local",
        "Task TimeoutSeconds(Path) follow `settings.timeout_scale` (1 unless a test of a limit lowers it).",
        "local only",
    ),
    Patch(
        "heartbeat-scaled",
        f"{SFN}.asl.component.common.timeouts.heartbeat:Heartbeat._eval_body",
        _scaled_seconds,
        "local",
        "Task HeartbeatSeconds(Path) follow `settings.timeout_scale` too.",
        "local only",
    ),
    Patch(
        "entered-time-format",
        f"{SFN}.asl.component.state.state:CommonStateField._eval_state_input",
        _entered_time,
        "fix",
        "$$.State.EnteredTime is '2026-11-20T12:30:05.123Z' on AWS (milliseconds, Z), so "
        "it sorts with the other timestamps a workflow writes; moto gave Python's isoformat (microseconds, "
        "+00:00). It also follows the engine's clock (local: the telephony twin's call clock).",
        NOT_REPORTED,
    ),
    Patch(
        "mocked-throw-states-error",
        f"{TASK}.mock_eval_utils:_eval_mocked_response_throw",
        replace_with(_eval_mocked_response_throw),
        "fix",
        "Step Functions Local lets a mocked Throw name a "
        "States.* error (States.Timeout for a callback that never came); moto accepted only custom names.",
        NOT_REPORTED,
        uses=(
            f"{SFN}.asl.component.common.error_name.states_error_name:StatesErrorName.from_name",
            f"{SFN}.asl.component.common.error_name.failure_event:FailureEvent",
            f"{SFN}.asl.eval.event.event_detail:EventDetails",
        ),
    ),
    Patch(
        "mocked-response-numbering",
        f"{SFN}.asl.eval.environment:Environment.get_current_mocked_response",
        replace_with(_current_mocked_response),
        "fix",
        "Step Functions Local numbers a state's mocked responses "
        'by every call to that state in the execution, so a state in a loop gets "0", "1", "2"; moto '
        "numbered them by the retry count, which restarts at 0 each time the state is entered again.",
        NOT_REPORTED,
    ),
    Patch(
        "start-execution-parameters",
        f"{SERVICE}.state_task_service_sfn:StateTaskServiceSfn._normalise_parameters",
        _start_execution_normalised,
        "fix",
        "moto passed the ASL's `StateMachineArn`/`Input` to boto3, whose members are camelCase: every "
        "`states:startExecution` task failed in botocore's serializer.",
        NOT_REPORTED,
    ),
    Patch(
        "start-execution-result",
        f"{SERVICE}.state_task_service_sfn:StateTaskServiceSfn._eval_service_task",
        _start_execution_result,
        "fix",
        "...and its result is `ExecutionArn`/`StartDate` (a string) on AWS; moto "
        "left boto3's camelCase and a datetime, which broke the history's JSON.",
        NOT_REPORTED,
    ),
)

DEFERRED = (
    Deferred(
        "batch-package-when-used",
        "moto.batch",
        "The interpreter's Batch integration imports one enum from moto.batch.utils; importing it ran "
        "moto/batch/__init__.py, which imports Batch's models and with them moto.ec2, whose import loads EC2's "
        "service model and Region list: 0.95 s of the interpreter's 1.4 s import, in every process that runs a "
        "workflow (each test worker, `callrec serve`, `callrec demo`). The package's own names (its backends) "
        "still load it, when first read.",
        "not reported upstream yet",
    ),
)
