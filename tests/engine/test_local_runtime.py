"""The local runtime closes cleanly whatever its executions are doing, and leaves nothing to the next one."""

from __future__ import annotations

import json
import time

from callrec.runtime import LocalRuntime
from callrec.stack import client
from tests.conftest import allow_all_role, ledger_without
from tests.eventually import eventually


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


def _described() -> dict:
    """What moto holds of a deployed stack, service by service, as its APIs describe it."""
    dynamodb, s3, iam, sfn = client("dynamodb"), client("s3"), client("iam"), client("stepfunctions")
    roles = sorted(role["RoleName"] for role in iam.list_roles()["Roles"])
    return {
        "tables": {
            name: {k: v for k, v in dynamodb.describe_table(TableName=name)["Table"].items() if k != "CreationDateTime"}
            for name in dynamodb.list_tables()["TableNames"]
        },
        "buckets": {
            bucket["Name"]: (
                s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"],
                s3.get_bucket_versioning(Bucket=bucket["Name"])["Status"],
            )
            for bucket in s3.list_buckets()["Buckets"]
        },
        "policies": {
            role: {
                name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
            }
            for role in roles
        },
        "workflows": {
            m["name"]: sfn.describe_state_machine(stateMachineArn=m["stateMachineArn"])["definition"]
            for m in sfn.list_state_machines()["stateMachines"]
        },
        "keys": sorted(key["KeyId"] for key in client("kms").list_keys()["Keys"]),
        "streams": client("kinesis").list_streams()["StreamNames"],
    }


def _calls_made(monkeypatch) -> list[str]:
    import botocore.client

    made: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        made.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return made


def test_a_deployment_into_a_fresh_moto_puts_back_what_the_first_one_created(monkeypatch):
    """The template is deployed once per process and parameters: the next deployment into a fresh moto puts moto's
    state back instead of making every call again (callrec.engine.snapshot), and holds the same resources, as
    their own APIs describe them; its functions and mappings are the engine's again."""
    from callrec import engine

    with LocalRuntime(deploy=False, parameters={"MaxSignalsPerCall": "7"}) as runtime:
        first = runtime.deploy_template()
        created = _described()
    made = _calls_made(monkeypatch)
    with LocalRuntime(deploy=False, parameters={"MaxSignalsPerCall": "7"}) as runtime:
        again = runtime.deploy_template()
        assert not {"CreateTable", "CreateRole", "CreateStateMachine", "CreateBucket"} & set(made)
        assert _described() == created
        assert again.created == first.created and again is not first
        assert {f.name for f in engine.settings.functions.values()} == {
            pid for rtype, pid in again.created.values() if rtype == "AWS::Serverless::Function"
        }
        assert len(engine.settings.pollers) == 3 and all(p._thread.is_alive() for p in engine.settings.pollers)


def test_the_mappings_of_a_deployment_put_back_take_the_iterators_they_opened_and_read_from_there(monkeypatch):
    """The mappings opened their streams before moto's state was kept (as their roles: Lambda's checks); put back,
    each takes the iterators it opened then instead of opening its stream again, and reads what is written from
    there: a record written to each stream reaches its function (AuditSealer seals an audit record, AgentEvents
    reads an agent event, RecordingStateEvents a session's change)."""
    from callrec import engine

    parameters = {"MaxSignalsPerCall": "8"}
    with LocalRuntime(deploy=False, parameters=parameters) as runtime:
        runtime.deploy_template()
    made = _calls_made(monkeypatch)
    with LocalRuntime(deploy=False, parameters=parameters) as runtime:
        deployment = runtime.deploy_template()
        opening = {"DescribeStream", "DescribeStreamSummary", "ListShards", "GetShardIterator"}
        assert not opening & set(made)
        assert len(engine.settings.pollers) == 3 and all(p.iterators for p in engine.settings.pollers)
        delivered = {p.stream_arn: p for p in engine.settings.pollers}
        audit, sessions = deployment.physical("AuditTable"), deployment.physical("SessionsTable")
        client("dynamodb").put_item(
            TableName=audit, Item={"sessionId": {"S": "call-1"}, "at": {"S": "2026-12-02T00:00:00.000Z#1"}}
        )
        client("dynamodb").put_item(TableName=sessions, Item={"sessionId": {"S": "call-1"}, "status": {"S": "PENDING"}})
        agent_events = next(arn for arn in delivered if ":kinesis:" in arn)
        client("kinesis").put_record(StreamARN=agent_events, Data=b"{}", PartitionKey="agent")
        eventually(lambda: sorted(p.delivered for p in delivered.values()), lambda got: min(got) >= 1, 30.0)


def test_what_one_deployment_does_never_reaches_the_next_one():
    """Each deployment gets a copy of the state: an item, an object and a revoked grant stay where they were made."""
    with LocalRuntime() as runtime:
        table, bucket = runtime.deployment.physical("SessionsTable"), runtime.deployment.physical("RecordingBucket")
        client("dynamodb").put_item(TableName=table, Item={"sessionId": {"S": "left-behind"}})
        client("s3").put_object(Bucket=bucket, Key="left-behind.wav", Body=b"RIFF")
        role = client("iam").list_roles()["Roles"][0]["RoleName"]
        for name in client("iam").list_role_policies(RoleName=role)["PolicyNames"]:
            client("iam").delete_role_policy(RoleName=role, PolicyName=name)
    with LocalRuntime() as runtime:
        assert "Item" not in client("dynamodb").get_item(TableName=table, Key={"sessionId": {"S": "left-behind"}})
        assert client("s3").list_objects_v2(Bucket=bucket)["KeyCount"] == 0
        assert client("iam").list_role_policies(RoleName=role)["PolicyNames"]


def test_a_deployment_into_a_moto_that_holds_something_makes_every_call(monkeypatch):
    """Only a fresh moto gets the state put back: anything made before the deployment stays, and the deployment
    makes its calls; `fresh` makes them too."""
    with LocalRuntime():
        pass  # the template deployed once in this process
    made = _calls_made(monkeypatch)
    with LocalRuntime(deploy=False) as runtime:
        role = allow_all_role("made-first")
        runtime.deploy_template()
        assert "CreateTable" in made and "made-first" in role
        assert client("iam").get_role(RoleName="made-first")
    made.clear()
    with LocalRuntime(deploy=False) as runtime:
        runtime.deploy_template(fresh=True)
        assert "CreateTable" in made


def test_a_function_still_running_when_its_runtime_closes_never_reaches_the_next_one():
    """A handler runs on past its runtime (its thread cannot be frozen, as Lambda freezes a sandbox). Found in a
    whole run: a verification's RecordingChecks, still running as its test's runtime closed, queried, signed and
    wrote its attestation into the next test's moto. Its calls now fail at once, and the next runtime sees none."""
    import threading

    from callrec import engine
    from tests.conftest import key_table

    closed, went_on = threading.Event(), []

    def handler(event, context):
        closed.wait(10)
        try:
            client("dynamodb").put_item(TableName="left", Item={"pk": {"S": "from the last runtime"}})
            went_on.append("written")
        except Exception as err:  # noqa: BLE001 - what the handler's call met
            went_on.append(type(err).__name__)

    with LocalRuntime(deploy=False):
        function = engine.LambdaFunction("slow", "arn:aws:lambda:us-east-1:123456789012:function:slow", lambda: handler)
        function.role_arn = allow_all_role()
        function.timeout_seconds = 0  # the invocation answers at once (timed out); its handler runs on
        function.invoke({})
    with LocalRuntime(deploy=False):
        assert allow_all_role() == function.role_arn  # the same role again, as each deployment of the template makes it
        key_table("left")
        closed.set()
        eventually(lambda: went_on, bool, 5.0, "the handler's call, once its runtime closed")
        assert went_on != ["written"], went_on
        assert client("dynamodb").scan(TableName="left")["Count"] == 0


def test_an_execution_its_runtime_did_not_stop_acts_in_that_runtime_and_never_reaches_the_next_one(monkeypatch):
    """A runtime stops its executions as it closes, but one started as it closes is not among those it lists (found
    in a whole run: a verification a RecordingSession started at its end put an attestation into the next test's
    moto). The execution acts in the runtime it was started in: once that has closed, its tasks' calls, and the
    functions they invoke, fail at once (Outlived), and the next runtime sees none of them."""
    from callrec import engine
    from callrec.engine import authorization
    from tests.conftest import key_table

    monkeypatch.setattr(LocalRuntime, "_stop_executions", lambda self: None)  # the close misses it, as in the race
    refused: list[str] = []

    class Outlived(authorization.Outlived):
        def __init__(self, message: str) -> None:
            refused.append(message)
            super().__init__(message)

    monkeypatch.setattr(authorization, "Outlived", Outlived)
    went_on: list[str] = []

    def handler(event, context):
        try:
            client("dynamodb").put_item(TableName="left", Item={"pk": {"S": "from the function"}})
            went_on.append("written")
        except Exception as err:  # noqa: BLE001 - what the handler's call met
            went_on.append(type(err).__name__)
        return {}

    def function() -> engine.LambdaFunction:
        made = engine.LambdaFunction("late", "arn:aws:lambda:us-east-1:123456789012:function:late", lambda: handler)
        made.role_arn = allow_all_role()
        engine.register_function(made)
        return made

    write = {"Resource": "arn:aws:states:::dynamodb:putItem", "Parameters": {"TableName": "left", "Item": {}}}
    write["Parameters"]["Item"] = {"pk": {"S": "from the task"}}
    invoke = {"Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "late"}}
    wait = {"Type": "Wait", "Seconds": 1, "Next": "Call"}  # outlasts the close and the next runtime's start
    with LocalRuntime(deploy=False):
        function()
        sfn = client("stepfunctions")
        for name, call in (("write", write), ("invoke", invoke)):
            definition = {"StartAt": "Wait", "States": {"Wait": wait, "Call": {"Type": "Task", **call, "End": True}}}
            machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=allow_all_role())
            sfn.start_execution(stateMachineArn=machine["stateMachineArn"])
    with LocalRuntime(deploy=False):  # the same names again, as each test's deployment makes them
        function()
        key_table("left")

        def items() -> int:
            return int(client("dynamodb").scan(TableName="left")["Count"])

        eventually(lambda: len(refused) + len(went_on) + items(), lambda n: n >= 2, 10.0, "both tasks' calls")
        time.sleep(0.2)  # whatever else the old executions do now
        assert went_on == [], went_on
        assert sorted(message.split(": ", 1)[1] for message in refused) == ["dynamodb:PutItem", "lambda:Invoke"]
        assert items() == 0


def _threads_moto_keeps_after_three_executions(without: tuple[str, ...]) -> tuple[list, list]:
    """(the threads of this runtime's executions that moto keeps once three executions of a machine with a Parallel
    have ended, those it keeps once a fourth has run), in a runtime with the ledger but the records in `without`.
    Threads kept from earlier runtimes of the process are left out."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from callrec.history import wait_for_execution

    earlier = list(TMP_THREADS)

    def mine() -> list:
        return [thread for thread in list(TMP_THREADS) if not any(thread is old for old in earlier)]

    with LocalRuntime(deploy=False), ledger_without(*without):
        sfn = client("stepfunctions")
        branches = [{"StartAt": n, "States": {n: {"Type": "Pass", "End": True}}} for n in ("A", "B")]
        definition = {
            "StartAt": "Both",
            "States": {"Both": {"Type": "Parallel", "Branches": branches, "End": True}},
        }
        machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=allow_all_role())

        def played() -> None:
            started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])
            assert wait_for_execution(sfn, started["executionArn"])["status"] == "SUCCEEDED"

        for _ in range(3):
            played()
        finished = eventually(mine, lambda kept: kept and not any(t.is_alive() for t in kept), 10)
        played()
        eventually(mine, lambda kept: not any(t.is_alive() for t in kept), 10)
        return finished, mine()


def test_the_threads_of_ended_executions_are_let_go_when_the_next_one_starts():
    """finished-threads-let-go: moto keeps every thread its interpreter starts in one list, and without the record
    the threads of ended executions are still held after the next start (a `make serve` grew with every call)."""
    finished, kept = _threads_moto_keeps_after_three_executions(without=())
    assert len(finished) >= 3  # the last execution's worker and its two branches (each start let the earlier go)
    assert not [thread for thread in kept if any(thread is old for old in finished)]
    finished, kept = _threads_moto_keeps_after_three_executions(without=("finished-threads-let-go",))
    assert len(finished) >= 9  # moto alone: every execution's worker and branches...
    assert all(any(thread is old for old in kept) for thread in finished)  # ...still held after the next start
