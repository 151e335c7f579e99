"""One scenario per ledger record of kind `fix`: what AWS does where moto (pinned) does not.

Each scenario runs twice: with the whole ledger (it must pass), and with its one record left out, marked
`xfail(strict=True)`. When a moto upgrade fixes the behaviour, the second run passes and the suite fails
with "XPASS(strict)": delete that record (CONTRIBUTING.md, "Upgrading moto").
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable

import boto3
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from callrec import engine
from callrec.history import fetch_history, states_entered, wait_for_execution
from callrec.mock_config import MockConfig
from callrec.stack import client
from tests.conftest import allow_all_role, make_role, run
from tests.conftest import ledger_without as without_records

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table"

SCENARIOS: dict[str, Callable[[], None]] = {}
# fix records without a deterministic scenario, and why
NO_SCENARIO = {
    "dynamodb-one-request-at-a-time": "a race between threads: the 200-call load test is its evidence",
}


def scenario(record: str):
    def register(function: Callable[[], None]) -> Callable[[], None]:
        SCENARIOS[record] = function
        return function

    return register


def _machine(name: str, states: dict, start: str) -> str:
    definition = {"StartAt": start, "States": states}
    return client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=allow_all_role()
    )["stateMachineArn"]


def _function(name: str, handler) -> None:
    engine.register_function(
        engine.LambdaFunction(
            name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", load_handler=lambda: handler
        )
    )


def _mocked(machine_name: str, case: dict, responses: dict) -> None:
    engine.settings.mock_config = MockConfig(
        {"StateMachines": {machine_name: {"TestCases": {"Case": case}}}, "MockedResponses": responses}
    )


CALLBACK_TASK = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters": {"FunctionName": "keeper", "Payload": {"token.$": "$$.Task.Token"}},
    "End": True,
}


def _without_end(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "End"}


class _Keeper:
    """Stands for a function that hands its task token to someone who answers later."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.arrived = threading.Semaphore(0)

    def __call__(self, event: dict, context: object) -> dict:
        self.tokens.append(event["token"])
        self.arrived.release()
        return {}

    def next_token(self) -> str:
        assert self.arrived.acquire(timeout=10), "the callback task never ran"
        return self.tokens[-1]


def _parked() -> tuple[str, str, _Keeper]:
    """An execution parked on the first of two callback tasks: (execution ARN, its task token, the keeper)."""
    keeper = _Keeper()
    _function("keeper", keeper)
    machine = _machine(
        "Callback", {"Ask": {**_without_end(CALLBACK_TASK), "Next": "Ask Again"}, "Ask Again": CALLBACK_TASK}, "Ask"
    )
    started = client("stepfunctions").start_execution(stateMachineArn=machine, input="{}")
    return started["executionArn"], keeper.next_token(), keeper


@scenario("dynamodb-mocked-error-name")
def _mocked_throw_on_dynamodb_keeps_its_name() -> None:
    machine = _machine(
        "Store",
        {
            "Store": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "t", "Item": {"pk": {"S": "k"}}},
                "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
        "Store",
    )
    _mocked(
        "Store",
        {"Store": "Conflict"},
        {"Conflict": {"0": {"Throw": {"Error": "DynamoDB.ConditionalCheckFailedException", "Cause": "taken"}}}},
    )
    described, events = run(client("stepfunctions"), f"{machine}#Case", {})
    assert states_entered(events)[-1] == "Caught", described


@scenario("start-execution-name-and-test-case")
def _unnamed_executions_get_unique_names() -> None:
    machine = _machine("Nameless", {"Done": {"Type": "Succeed"}}, "Done")
    sfn = client("stepfunctions")
    arns = [sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(2)]
    assert arns[0] != arns[1]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", arn.rsplit(":", 1)[1]) for arn in arns), arns


@scenario("executions-with-environment")
def _token_lookups_skip_executions_still_starting() -> None:
    from types import SimpleNamespace

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    ready = SimpleNamespace(status="RUNNING", exec_worker=SimpleNamespace(env=object()))
    starting = SimpleNamespace(status="RUNNING", exec_worker=SimpleNamespace(env=None))
    unscheduled = SimpleNamespace(status="RUNNING", exec_worker=None)
    ended = SimpleNamespace(status="SUCCEEDED", exec_worker=SimpleNamespace(env=object()))
    backend = SimpleNamespace(state_machines=[SimpleNamespace(executions=[starting, ready, unscheduled, ended])])
    assert StepFunctionsParserBackend._get_executions(backend) == [ready, ended]
    assert StepFunctionsParserBackend._get_executions(backend, "RUNNING") == [ready]  # SendTaskSuccess's lookup


@scenario("execution-status-while-starting")
def _an_execution_listed_before_its_start_is_running() -> None:
    from types import SimpleNamespace

    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    starting = object.__new__(Execution)  # listed by StartExecution before its start() set a status
    starting.exec_status, starting.exec_worker = None, None
    assert starting.status == "RUNNING"  # ListExecutions' status filter reads it
    backend = SimpleNamespace(state_machines=[SimpleNamespace(executions=[starting])])
    assert StepFunctionsParserBackend._get_executions(backend, "RUNNING") == []  # a token answered meanwhile


@scenario("entered-time-format")
def _entered_time_in_aws_format() -> None:
    machine = _machine(
        "Entered", {"Stamp": {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}, "End": True}}, "Stamp"
    )
    described, _ = run(client("stepfunctions"), machine, {})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", json.loads(described["output"])["t"]), described


@scenario("mocked-throw-states-error")
def _mocked_throw_may_name_a_states_error() -> None:
    machine = _machine(
        "Timeout",
        {
            "Ask": {**CALLBACK_TASK, "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Timed Out"}]},
            "Timed Out": {"Type": "Succeed"},
        },
        "Ask",
    )
    _mocked("Timeout", {"Ask": "Never"}, {"Never": {"0": {"Throw": {"Error": "States.Timeout", "Cause": "no answer"}}}})
    described, events = run(client("stepfunctions"), f"{machine}#Case", {})
    assert states_entered(events)[-1] == "Timed Out", described


@scenario("mocked-response-numbering")
def _mocked_responses_numbered_across_a_loop() -> None:
    machine = _machine(
        "Loop",
        {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "f"},
                "ResultSelector": {"n.$": "$.Payload.n"},
                "ResultPath": "$.call",
                "Next": "Count",
            },
            "Count": {
                "Type": "Pass",
                "Parameters": {"call.$": "$.call", "i.$": "States.MathAdd($.i, 1)"},
                "Next": "Again?",
            },
            "Again?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.call.n", "NumericEquals": 3, "Next": "Done"},
                    {"Variable": "$.i", "NumericGreaterThanEquals": 5, "Next": "Runaway"},
                ],
                "Default": "Call",
            },
            "Done": {"Type": "Succeed"},
            "Runaway": {"Type": "Fail", "Error": "Runaway"},
        },
        "Call",
    )
    _mocked(
        "Loop",
        {"Call": "Counting"},
        {"Counting": {str(i): {"Return": {"StatusCode": 200, "Payload": {"n": i + 1}}} for i in range(6)}},
    )
    described, events = run(client("stepfunctions"), f"{machine}#Case", {"i": 0})
    assert described["status"] == "SUCCEEDED" and states_entered(events).count("Call") == 3, described


def _parent_starting_a_child() -> dict:
    child = _machine("Child", {"Done": {"Type": "Succeed"}}, "Done")
    parent = _machine(
        "Parent",
        {
            "Start Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn": child, "Input": {"from": "parent"}},
                "End": True,
            }
        },
        "Start Child",
    )
    described, _ = run(client("stepfunctions"), parent, {})
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


@scenario("start-execution-parameters")
def _start_execution_task_starts_the_child() -> None:
    output = _parent_starting_a_child()
    child = client("stepfunctions").describe_execution(executionArn=output["ExecutionArn"])
    assert json.loads(child["input"]) == {"from": "parent"}


@scenario("start-execution-result")
def _start_execution_task_answers_in_step_functions_names() -> None:
    output = _parent_starting_a_child()
    assert set(output) >= {"ExecutionArn", "StartDate"} and isinstance(output["StartDate"], str), output


@scenario("send-task-failure-cause")
def _send_task_failure_keeps_its_cause() -> None:
    sfn = client("stepfunctions")
    execution, token, _ = _parked()
    sfn.send_task_failure(taskToken=token, error="CallerHungUp", cause="caller hung up during the notice")
    assert wait_for_execution(sfn, execution)["status"] == "FAILED"
    failed = next(e for e in fetch_history(sfn, execution) if e["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"].get("cause") == "caller hung up during the notice"


@scenario("task-token-once")
def _a_task_token_is_used_once() -> None:
    sfn = client("stepfunctions")
    execution, token, keeper = _parked()
    sfn.send_task_success(taskToken=token, output="{}")
    keeper.next_token()  # the execution goes on to its next task; the first one is closed
    with pytest.raises(ClientError, match="TaskTimedOut"):
        sfn.send_task_success(taskToken=token, output="{}")


@scenario("heartbeat-on-closed-task")
def _no_heartbeat_on_a_closed_task() -> None:
    sfn = client("stepfunctions")
    execution, token, keeper = _parked()
    sfn.send_task_success(taskToken=token, output="{}")
    keeper.next_token()  # the execution goes on to its next task; the first one is closed
    with pytest.raises(ClientError, match="TaskTimedOut"):
        sfn.send_task_heartbeat(taskToken=token)


@scenario("heartbeat-without-heartbeat-seconds")
def _heartbeat_on_an_open_task() -> None:
    sfn = client("stepfunctions")
    execution, token, keeper = _parked()
    sfn.send_task_heartbeat(taskToken=token)  # raises InvalidToken in moto alone
    sfn.send_task_success(taskToken=token, output="{}")
    sfn.send_task_success(taskToken=keeper.next_token(), output="{}")
    assert wait_for_execution(sfn, execution)["status"] == "SUCCEEDED"


@scenario("jsonata-evaluated")
def _jsonata_is_evaluated() -> None:
    greet = {"Type": "Pass", "Output": {"g": "{% 'hi ' & $states.input.n %}"}, "End": True}
    definition = {"QueryLanguage": "JSONata", "StartAt": "Greet", "States": {"Greet": greet}}
    machine = client("stepfunctions").create_state_machine(
        name="Jsonata", definition=json.dumps(definition), roleArn=allow_all_role()
    )["stateMachineArn"]
    described, _ = run(client("stepfunctions"), machine, {"n": "O'Brien \\ \""})
    assert json.loads(described.get("output") or "{}") == {"g": "hi O'Brien \\ \""}, described


@scenario("variable-sample-evaluated")
def _variables_are_read_in_jsonpath_states() -> None:
    machine = _machine(
        "Variables",
        {
            "Keep": {"Type": "Pass", "Assign": {"who.$": "$.n"}, "Next": "Read"},
            "Read": {"Type": "Pass", "Parameters": {"who.$": "$who"}, "End": True},
        },
        "Keep",
    )
    described, _ = run(client("stepfunctions"), machine, {"n": 'a "quoted" name'})
    assert json.loads(described.get("output") or "{}") == {"who": 'a "quoted" name'}, described


@scenario("absent-condition-key")
def _statements_conditioned_on_absent_keys_do_not_apply() -> None:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    tls_only = IAMPolicyStatement(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::b/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    service_grant = IAMPolicyStatement(
        {
            "Effect": "Allow",
            "Principal": {"Service": "voiceconnector.chime.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::b/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
    )
    unconditional = IAMPolicyStatement(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "*"}
    )
    assert tls_only.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") == PermissionResult.NEUTRAL
    assert service_grant.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") == PermissionResult.NEUTRAL
    assert unconditional.is_action_permitted("s3:DeleteObject", "arn:aws:s3:::b/k") == PermissionResult.DENIED
    matching = {"aws:SourceAccount": "123456789012"}
    assert (
        service_grant.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k", None, matching)
        == PermissionResult.PERMITTED
    )


@scenario("task-acts-as-its-role")
def _a_task_calls_with_its_state_machines_role() -> None:
    dynamodb = client("dynamodb")
    for table in ("Granted", "Other"):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    grant = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"{TABLE_ARN}/Granted"}
    role = make_role("reader", [grant])
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName.$": "$.table", "Key": {"k": {"S": "a"}}},
        "End": True,
    }
    definition = {"StartAt": "Read", "States": {"Read": read}}
    machine = client("stepfunctions").create_state_machine(
        name="Reader", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]

    granted, _ = run(client("stepfunctions"), machine, {"table": "Granted"})
    other, _ = run(client("stepfunctions"), machine, {"table": "Other"})

    assert granted["status"] == "SUCCEEDED", granted
    assert other["status"] == "FAILED", other
    assert (
        "User: arn:aws:sts::123456789012:assumed-role/reader/execution is not authorized to perform: "
        f"dynamodb:GetItem on resource: {TABLE_ARN}/Other"
    ) in other["cause"]


@scenario("states-all-spares-terminal-errors")
def _a_result_over_the_payload_quota_is_beyond_states_all() -> None:
    _function("big", lambda event, context: {"text": "x" * 300_000})  # over 256 KiB
    fetch = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "big"},
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "End": True,
    }
    machine = _machine("Big", {"Fetch": fetch, "Caught": {"Type": "Succeed"}}, "Fetch")
    described, events = run(client("stepfunctions"), machine, {})

    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded"), described
    assert "Caught" not in states_entered(events)
    assert [e["type"] for e in events].count("TaskScheduled") == 1  # not retried either


@scenario("task-input-quota")
def _a_task_input_over_the_payload_quota_is_not_sent() -> None:
    received = []
    _function("keep", lambda event, context: received.append(event) or {})
    send = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "keep", "Payload": {"a.$": "$.text", "b.$": "$.text"}},  # twice 150 KB
        "End": True,
    }
    machine = _machine("Send", {"Send": send}, "Send")
    described, _ = run(client("stepfunctions"), machine, {"text": "x" * 150_000})

    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded"), described
    assert received == []


def _history_quota_lowered_to(quota: int) -> None:
    engine.settings.history_event_quota = quota  # 25,000 on AWS (and by default): the rule, not the figure, is tried


@scenario("history-event-quota")
def _an_execution_fails_at_the_history_quota_beyond_any_catch() -> None:
    from callrec.engine.quotas import HISTORY_QUOTA

    assert HISTORY_QUOTA == engine.EngineSettings().history_event_quota == 25_000
    _history_quota_lowered_to(40)
    spin = {
        "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Done?"},
        "Done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 100, "Next": "Done"}],
            "Default": "Count",
        },
        "Done": {"Type": "Succeed"},
    }
    machine = _machine(
        "Spin",
        {
            "Try": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Count", "States": spin}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
        "Try",
    )
    arn = client("stepfunctions").start_execution(stateMachineArn=machine, input='{"n": 0}')["executionArn"]

    described = wait_for_execution(client("stepfunctions"), arn)
    events = fetch_history(client("stepfunctions"), arn)

    assert (described["status"], described.get("error")) == ("FAILED", "States.Runtime")
    assert described["cause"] == "The execution reached the maximum number of history events (40)."
    assert [e["id"] for e in events] == list(range(1, 41))
    assert events[-1]["type"] == "ExecutionFailed" and events[-2]["type"] != "ExecutionFailed"
    assert not any(e["type"].startswith("Succeed") for e in events)  # the Catch never ran


@scenario("history-quota-error-kept")
def _the_quota_stays_the_error_when_the_state_it_cut_short_fails() -> None:
    def crash(event: dict, context: object) -> dict:
        raise RuntimeError("the work failed")

    _function("crash", crash)
    _history_quota_lowered_to(4)  # ExecutionStarted, TaskStateEntered, TaskScheduled: TaskStarted would be the 4th
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "crash"}}
    machine = _machine("Crash", {"Work": {**task, "End": True}}, "Work")
    arn = client("stepfunctions").start_execution(stateMachineArn=machine, input="{}")["executionArn"]

    described = wait_for_execution(client("stepfunctions"), arn)

    assert (described["status"], described.get("error")) == ("FAILED", "States.Runtime")
    assert [e["type"] for e in fetch_history(client("stepfunctions"), arn)][-1] == "ExecutionFailed"


@scenario("update-item-streams-one-insert")
def _an_update_that_creates_its_item_is_one_insert_on_the_stream() -> None:
    from tests.engine.test_streams import streamed_table

    dynamodb, stream = client("dynamodb"), streamed_table("streamed")
    dynamodb.update_item(
        TableName="streamed",
        Key={"id": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    streams = boto3.client(
        "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
    )
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [
        ("INSERT", {"id": {"S": "a"}, "n": {"N": "1"}})
    ]


def test_every_fix_record_has_a_scenario_or_says_why_not():
    fixes = {record.name for record in engine.LEDGER.records if record.kind == "fix"}
    assert fixes == set(SCENARIOS) | set(NO_SCENARIO)
    assert not set(SCENARIOS) & set(NO_SCENARIO)


@pytest.mark.parametrize("record", sorted(SCENARIOS))
def test_with_the_ledger_aws_behaviour_holds(record, aws):
    SCENARIOS[record]()


@pytest.fixture
def ledger_without(request, aws):
    """The ledger with the one record named by the test's parameter left out; whole again afterwards."""
    with without_records(request.param):
        yield request.param


@pytest.mark.parametrize(
    "ledger_without",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"moto {moto.__version__} alone still differs from AWS here: if this passes, a moto "
                f"upgrade fixed it - delete ledger record {name!r}",
            ),
        )
        for name in sorted(SCENARIOS)
    ],
    indirect=True,
)
def test_without_its_record_moto_still_differs(ledger_without):
    SCENARIOS[ledger_without]()
