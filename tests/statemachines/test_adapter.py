"""The embedded engine itself: a real ASL with every feature the project relies on, run by moto + adapter."""

from __future__ import annotations

import datetime
import json
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from callrec import engine
from callrec.history import fetch_history, states_entered
from callrec.mock_config import MockConfig
from callrec.stack import client
from tests.conftest import allow_all_role, key_table, run

HERE = Path(__file__).resolve().parent
DEFINITION = (HERE / "adapter_features.asl.json").read_text()
MOCK_CONFIG = HERE / "adapter_features.mock.json"
NAME = "AdapterFeatures"


class TransientError(Exception):
    """Raised by the flaky test function; matched by name in the machine's Retry and Catch."""


class Flaky:
    def __init__(self, failures: int):
        self.failures = failures
        self.attempts = 0

    def __call__(self, event, context):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransientError(f"attempt {self.attempts} failed")
        return {"attempts": self.attempts}


class TokenKeeper:
    """Stands for a function that hands the task token to someone who answers later."""

    def __init__(self):
        self.tokens: list[str] = []
        self.arrived = threading.Event()

    def __call__(self, event, context):
        self.tokens.append(event["token"])
        self.arrived.set()
        return {}


class RecordingConnect:
    """A minimal Connect fake: records calls, fails with the given errors first."""

    def __init__(self, errors: list[str] | None = None, answer: dict | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.errors = list(errors or [])
        self.answer = answer or {}

    def call(self, action, parameters):
        self.calls.append((action, parameters))
        if self.errors:
            code = self.errors.pop(0)
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 429, "RequestId": "r-1"},
                },
                action,
            )
        return dict(self.answer)


def _function(name: str, handler) -> engine.LambdaFunction:
    return engine.LambdaFunction(
        name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", load_handler=lambda: handler
    )


@pytest.fixture
def machine(aws, sfn):
    key_table("features")
    engine.register_function(_function("doubler", lambda event, context: {"n": event["n"] * 2}))
    return sfn.create_state_machine(name=NAME, definition=DEFINITION, roleArn=allow_all_role())["stateMachineArn"]


class CountingDict(dict):
    """The parsed-program cache, counting the programs stored in it (one per parse)."""

    def __init__(self, stored: list):
        super().__init__()
        self.stored = stored

    def __setitem__(self, key, value):
        self.stored.append(key)
        super().__setitem__(key, value)


def _task_failures(events):
    return [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]


def test_map_parallel_wait_dynamodb_and_lambda_retry(machine, sfn):
    flaky = Flaky(failures=2)
    engine.register_function(_function("flaky", flaky))

    described, events = run(sfn, machine, {"route": "default", "key": "k1"})

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["doubled"] == [2, 4, 6]
    assert output["flaky"] == {"attempts": 3}
    entered = states_entered(events)
    for state in ("Seed", "Route?", "Double Each", "Fan Out", "Pause", "Store Item", "Flaky Step", "Done"):
        assert state in entered
    assert [f["error"] for f in _task_failures(events)] == ["TransientError", "TransientError"]
    item = client("dynamodb").get_item(TableName="features", Key={"pk": {"S": "k1"}})["Item"]
    assert item["total"] == {"N": "12"}


def test_lambda_exception_becomes_task_error_named_after_its_class(machine, sfn):
    engine.register_function(_function("flaky", Flaky(failures=99)))

    described, events = run(sfn, machine, {"route": "default", "key": "k2"})

    assert described["status"] == "FAILED"
    assert described["error"] == "GaveUp"
    assert described["cause"] == "TransientError"
    failures = _task_failures(events)
    assert len(failures) == 4  # the first attempt and three retries
    cause = json.loads(failures[-1]["cause"])
    assert cause["errorType"] == "TransientError"
    assert cause["errorMessage"] == "attempt 4 failed"
    assert not any("callrec/engine/" in frame for frame in cause["stackTrace"])  # handler frames only


def test_unknown_function_fails_like_lambda_does(machine, sfn):
    described, events = run(sfn, machine, {"route": "default", "key": "k3"})
    assert described["status"] == "FAILED"
    assert _task_failures(events)[0]["error"] == "Lambda.ResourceNotFoundException"


def _wait_for_token(keeper: TokenKeeper) -> str:
    assert keeper.arrived.wait(10), "the waitForTaskToken task never invoked its function"
    return keeper.tokens[-1]


def test_wait_for_task_token_completed_with_send_task_success(machine, sfn):
    keeper = TokenKeeper()
    engine.register_function(_function("token-keeper", keeper))
    started = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"route": "callback", "key": "k4"}))
    token = _wait_for_token(keeper)
    assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"

    sfn.send_task_success(taskToken=token, output=json.dumps({"consent": "accepted"}))

    from callrec.history import wait_for_execution

    described = wait_for_execution(sfn, started["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["callback"] == {"consent": "accepted"}


def test_wait_for_task_token_failed_with_send_task_failure(machine, sfn):
    keeper = TokenKeeper()
    engine.register_function(_function("token-keeper", keeper))
    started = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"route": "callback", "key": "k5"}))
    token = _wait_for_token(keeper)

    sfn.send_task_failure(taskToken=token, error="CallerHungUp", cause="caller hung up during the notice")

    from callrec.history import wait_for_execution

    described = wait_for_execution(sfn, started["executionArn"])
    assert described["status"] == "FAILED"
    assert described["cause"] == "CallerHungUp"
    failed = [e for e in fetch_history(sfn, started["executionArn"]) if e["type"] == "TaskFailed"][0]
    assert failed["taskFailedEventDetails"]["cause"] == "caller hung up during the notice"  # the cause survives


def test_aws_sdk_connect_task_goes_to_the_registered_fake(machine, sfn):
    fake = RecordingConnect()
    engine.register_service("connect", fake)

    described, _ = run(sfn, machine, {"route": "connect", "key": "contact-1"})

    assert described["status"] == "SUCCEEDED"
    assert fake.calls == [
        (
            "StartContactRecording",
            {
                "InstanceId": "instance-1",
                "ContactId": "contact-1",
                "InitialContactId": "contact-1",
                "VoiceRecordingConfiguration": {"VoiceRecordingTrack": "ALL"},
            },
        )
    ]


def test_service_errors_carry_aws_names_and_are_retried(machine, sfn):
    fake = RecordingConnect(errors=["ThrottlingException", "ThrottlingException"])
    engine.register_service("connect", fake)

    described, events = run(sfn, machine, {"route": "connect", "key": "contact-2"})

    assert described["status"] == "SUCCEEDED"
    assert [f["error"] for f in _task_failures(events)] == ["Connect.ThrottlingException"] * 2
    assert len(fake.calls) == 3


def test_unregistered_service_fails_the_task_with_a_clear_cause(machine, sfn):
    described, events = run(sfn, machine, {"route": "connect", "key": "contact-3"})

    assert described["status"] == "FAILED"
    failure = _task_failures(events)[0]
    assert failure["error"] == "States.Runtime"
    assert "aws-sdk:connect:startContactRecording has no service fake registered" in failure["cause"]


def test_sdk_results_are_json_safe(machine, sfn):
    when = datetime.datetime(2026, 11, 20, 12, 30, 5, 123000, tzinfo=datetime.UTC)
    engine.register_service("connect", RecordingConnect(answer={"StartedAt": when, "Blob": b"abc"}))

    described, _ = run(sfn, machine, {"route": "connect", "key": "contact-4"})

    assert json.loads(described["output"])["recording"] == {"StartedAt": "2026-11-20T12:30:05.123Z", "Blob": "abc"}


def test_unnamed_executions_get_unique_names(machine, sfn):
    engine.register_service("connect", RecordingConnect())
    first = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"route": "connect", "key": "a"}))
    second = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"route": "connect", "key": "a"}))
    names = [sfn.describe_execution(executionArn=s["executionArn"])["name"] for s in (first, second)]
    assert names[0] != names[1]
    assert all(len(name) == 36 and first["executionArn"].endswith(names[0]) for name in names[:1])
    assert "None" not in first["executionArn"]


def test_named_start_is_idempotent_for_the_same_input_while_running(machine, sfn):
    """As on AWS: the same name and input as a running execution answers that execution; once it has closed,
    or with another input, the name is taken (ExecutionAlreadyExists)."""
    keeper = TokenKeeper()  # holds the execution open until the test answers its callback
    engine.register_function(_function("token-keeper", keeper))
    payload = json.dumps({"route": "callback", "key": "b"})
    first = sfn.start_execution(stateMachineArn=machine, name="call-b", input=payload)
    again = sfn.start_execution(stateMachineArn=machine, name="call-b", input=payload)
    assert first["executionArn"] == again["executionArn"]
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        sfn.start_execution(stateMachineArn=machine, name="call-b", input=json.dumps({"route": "callback", "key": "c"}))
    sfn.send_task_success(taskToken=_wait_for_token(keeper), output="{}")
    from callrec.history import wait_for_execution

    assert wait_for_execution(sfn, first["executionArn"])["status"] == "SUCCEEDED"
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        sfn.start_execution(stateMachineArn=machine, name="call-b", input=payload)


def test_wait_and_retry_follow_the_time_scale(machine, sfn):
    """60 s of Wait and 30 s + 60 s of retry back-off, scaled by 0.001, finish in well under a second."""
    engine.register_function(_function("flaky", Flaky(failures=2)))
    started = time.monotonic()
    described, _ = run(sfn, machine, {"route": "default", "key": "k6"})
    assert described["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 150  # unscaled, this run would take 150 s; scaled, it can't


# --- Step Functions Local's MockConfigFile -----------------------------------------------------------

EXPECTED_CASES = {
    # test case: (status, last state, failed-task errors in order)
    "FlakyRecoversOnThirdAttempt": ("SUCCEEDED", "Done", ["TransientError", "TransientError"]),
    "FlakyExhaustsRetries": ("FAILED", "Gave Up", ["TransientError"] * 4),
    "StoreAndRecordingMocked": ("SUCCEEDED", "Done", []),
    "ConnectMocked": ("SUCCEEDED", "Done", []),
}
CASE_INPUT = {"ConnectMocked": {"route": "connect", "key": "c"}}


def test_every_mock_test_case_has_a_test():
    assert set(MockConfig.from_file(MOCK_CONFIG).test_cases()[NAME]) == set(EXPECTED_CASES)


@pytest.mark.parametrize("case", sorted(EXPECTED_CASES))
def test_mock_config_test_case(case, machine, sfn, monkeypatch):
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(MOCK_CONFIG))
    # the real flaky function would succeed at once: only the mocked responses can produce these paths
    engine.register_function(_function("flaky", Flaky(failures=0)))
    if case == "StoreAndRecordingMocked":
        client("dynamodb").delete_table(TableName="features")  # proves the DynamoDB task is not really called

    described, events = run(sfn, f"{machine}#{case}", CASE_INPUT.get(case, {"route": "default", "key": case}))

    status, last_state, errors = EXPECTED_CASES[case]
    assert described["status"] == status
    assert states_entered(events)[-1] == last_state
    assert [f["error"] for f in _task_failures(events)] == errors


def test_unknown_test_case_is_refused_with_a_clear_error(machine, sfn, monkeypatch):
    monkeypatch.setenv("SFN_MOCK_CONFIG", str(MOCK_CONFIG))
    with pytest.raises(ClientError) as raised:
        sfn.start_execution(stateMachineArn=f"{machine}#NoSuchCase", input="{}")
    assert "has no test case 'NoSuchCase'" in str(raised.value)


def test_test_case_without_mock_config_file_is_refused(machine, sfn, monkeypatch):
    monkeypatch.delenv("SFN_MOCK_CONFIG", raising=False)
    with pytest.raises(ClientError) as raised:
        sfn.start_execution(stateMachineArn=f"{machine}#ConnectMocked", input="{}")
    assert "SFN_MOCK_CONFIG" in str(raised.value)


def test_a_definition_is_parsed_once_and_its_program_shared_by_executions(machine, sfn, monkeypatch):
    """moto parsed the ASL (ANTLR, pure Python) at creation and every start; the adapter parses it once.
    Executions share the parsed program, whose retry counters live in each execution's own heap."""
    from callrec.engine import interpreter

    parses = []
    monkeypatch.setattr(interpreter, "_programs", CountingDict(parses))
    machine = sfn.create_state_machine(name="Again", definition=DEFINITION, roleArn=allow_all_role())["stateMachineArn"]
    flaky = Flaky(failures=2)
    engine.register_function(_function("flaky", flaky))
    first = run(sfn, machine, {"route": "default", "key": "k1"})
    flaky.attempts = 0
    second = run(sfn, machine, {"route": "default", "key": "k2"})
    assert len(parses) == 1
    for described, events in (first, second):  # both retried from their own first attempt, then succeeded
        assert described["status"] == "SUCCEEDED"
        assert len([e for e in _task_failures(events) if e["error"] == "TransientError"]) == 2


def test_a_program_parsed_by_one_process_is_loaded_by_the_others(machine, sfn, monkeypatch, tmp_path):
    """With a program store (the test session's workers share one), the first process to parse a definition
    stores its program; another process loads it instead of parsing (0.7 s of CPU for RecordingSession), runs
    it as its own, and parses the tree only if something walks it."""
    from callrec.engine import interpreter
    from callrec.engine.lazy import MadeWhenUsed

    monkeypatch.setenv(interpreter.PROGRAM_STORE, str(tmp_path))
    monkeypatch.setattr(interpreter, "_programs", {})
    stored = sfn.create_state_machine(name="Stored", definition=DEFINITION, roleArn=allow_all_role())["stateMachineArn"]
    assert len(list(tmp_path.glob("*.pickle"))) == 1
    assert not isinstance(interpreter._programs[DEFINITION][1], MadeWhenUsed)  # parsed here

    monkeypatch.setattr(interpreter, "_programs", {})  # another process: nothing parsed in it yet
    flaky = Flaky(failures=2)
    engine.register_function(_function("flaky", flaky))
    described, events = run(sfn, stored, {"route": "default", "key": "k1"})
    tree = interpreter._programs[DEFINITION][1]
    assert isinstance(tree, MadeWhenUsed) and not tree.made  # loaded, not parsed
    assert described["status"] == "SUCCEEDED"
    assert len([e for e in _task_failures(events) if e["error"] == "TransientError"]) == 2
    assert tree.getChildCount() > 0 and tree.made  # walked: parsed then


def test_a_program_stored_by_another_moto_python_or_engine_is_parsed_again(machine, sfn, monkeypatch, tmp_path):
    """The Makefile's store is kept across runs (in .venv): a program stored under another moto, Python or engine
    source is not loaded but parsed again, and the store's folder is made when it is missing."""
    import sys

    from moto import __version__

    from callrec.engine import interpreter
    from callrec.engine.lazy import MadeWhenUsed

    assert __version__ in interpreter._parser_version() and sys.version in interpreter._parser_version()
    store = tmp_path / "programs"
    monkeypatch.setenv(interpreter.PROGRAM_STORE, str(store))
    monkeypatch.setattr(interpreter, "_programs", {})
    monkeypatch.setattr(interpreter, "_parser_version", lambda: "an earlier engine")
    sfn.create_state_machine(name="Earlier", definition=DEFINITION, roleArn=allow_all_role())
    assert len(list(store.glob("*.pickle"))) == 1

    monkeypatch.setattr(interpreter, "_programs", {})  # a later run, after the engine changed
    monkeypatch.setattr(interpreter, "_parser_version", lambda: "this engine")
    sfn.create_state_machine(name="Later", definition=DEFINITION, roleArn=allow_all_role())
    assert not isinstance(interpreter._programs[DEFINITION][1], MadeWhenUsed)  # parsed here, not loaded
    assert len(list(store.glob("*.pickle"))) == 2


def test_a_failed_transaction_leaves_every_item_as_it_was(aws):
    """All or nothing, as on AWS, with the rollback the adapter keeps per item (moto copied whole tables)."""
    dynamodb = client("dynamodb")
    key_table("t")
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "old"}, "n": {"N": "1"}, "s": {"S": "text"}})

    def items() -> dict:
        return {i["pk"]["S"]: i for i in dynamodb.scan(TableName="t")["Items"]}

    kept = items()
    new = {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}}}}
    bump = {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "old"}},
            "UpdateExpression": "SET n = :two",
            "ExpressionAttributeValues": {":two": {"N": "2"}},
        }
    }
    refused = {
        "ConditionCheck": {
            "TableName": "t",
            "Key": {"pk": {"S": "absent"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=[new, bump, refused])
    assert items() == kept
    # a write that fails while being applied (ADD to a string) after others were applied
    broken = {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "other"}},
            "UpdateExpression": "SET s = :s ADD n :one",
            "ExpressionAttributeValues": {":s": {"S": "x"}, ":one": {"S": "1"}},
        }
    }
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[new, bump, broken])
    assert items() == kept
    dynamodb.transact_write_items(TransactItems=[new, bump])
    assert set(items()) == {"old", "new"} and items()["old"]["n"] == {"N": "2"}


def test_a_function_past_its_timeout_fails_with_sandbox_timedout(machine, sfn):
    """The function's Timeout holds, as on AWS (locally every handler ran as long as it liked)."""
    slow = engine.LambdaFunction(
        name="flaky",
        arn="arn:aws:lambda:us-east-1:123456789012:function:flaky",
        load_handler=lambda: lambda event, context: time.sleep(1.5) or {"late": True},
        timeout_seconds=1,
    )
    answer = slow.invoke({})
    assert answer["FunctionError"] == "Unhandled" and answer["Payload"]["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in answer["Payload"]["errorMessage"]
    engine.register_function(slow)
    described, events = run(sfn, machine, {"route": "default", "key": "slow"})
    assert "Sandbox.Timedout" in [f["error"] for f in _task_failures(events)]
