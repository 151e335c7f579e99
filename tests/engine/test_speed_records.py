"""Ledger records of kind `speed` change how fast moto answers, never what: each answer is compared with the
one moto gives without the record."""

from __future__ import annotations

import datetime
import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies

from callrec import engine
from callrec.stack import client
from tests.conftest import allow_all_role, key_table, ledger_without, run

AWKWARD = 'quote " backslash \\ unicode \u00e9\u4e2d\U0001f600 newline \n'
ITEM = {
    "pk": {"S": "call-1"},
    "sk": {"S": AWKWARD},
    "n": {"N": "12.50"},
    "b": {"B": b"\x00\x01binary\xff"},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "ss": {"SS": ["a", AWKWARD]},
    "ns": {"NS": ["1", "2.5"]},
    "null": {"NULL": True},
    "bool": {"BOOL": False},
    "list": {"L": [{"S": "x"}, {"N": "3"}, {"B": b"\x03"}, {"M": {"deep": {"BOOL": True}}}]},
    "map": {"M": {"s": {"S": AWKWARD}, "b": {"B": b"\x04"}, "l": {"L": [{"NULL": True}]}}},
}

PLAIN = {key: value for key, value in ITEM.items() if key not in ("b", "bs", "list", "map")} | {
    "pk": {"S": "call-3"},
    "list": {"L": [{"S": "x"}, {"M": {"deep": {"SS": [AWKWARD]}}}]},
}
ONE_BINARY = {"pk": {"S": "call-4"}, "sk": {"S": "b"}, "b": {"B": b"\x00\xff"}}


def _exchange() -> list[Any]:
    """Every data-plane operation the record serves, on items with every attribute type; the answers."""
    ddb = client("dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": ITEM["pk"], "sk": ITEM["sk"]}
    answers = [
        ddb.put_item(TableName="t", Item=PLAIN),
        ddb.get_item(TableName="t", Key={"pk": PLAIN["pk"], "sk": PLAIN["sk"]}),
        ddb.put_item(TableName="t", Item=ONE_BINARY),
        ddb.get_item(TableName="t", Key={"pk": ONE_BINARY["pk"], "sk": ONE_BINARY["sk"]}),
        ddb.put_item(TableName="t", Item=ITEM, ReturnConsumedCapacity="TOTAL"),
        ddb.put_item(TableName="t", Item={**ITEM, "n": {"N": "7"}}, ReturnValues="ALL_OLD"),
        ddb.get_item(TableName="t", Key=key, ConsistentRead=True),
        ddb.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"S": "none"}}),
        ddb.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET #n = #n + :one, extra = :e",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":e": {"M": {"b": {"B": b"\x05"}}}},
            ReturnValues="ALL_NEW",
        ),
        ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ITEM["pk"]},
            Limit=1,
            ReturnConsumedCapacity="TOTAL",
        ),
        ddb.scan(TableName="t"),
        ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": "call-2"}, "sk": {"S": "a"}}}}]
        ),
        ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": key}}]),
        ddb.delete_item(TableName="t", Key=key, ReturnValues="ALL_OLD"),
    ]
    for answer in answers:
        answer.pop("ResponseMetadata")
    try:
        ddb.put_item(TableName="t", Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
        ddb.put_item(TableName="t", Item=ITEM, ConditionExpression="attribute_not_exists(pk)")
    except ddb.exceptions.ConditionalCheckFailedException as error:
        answers.append(error.response["Error"])
    return answers


@pytest.fixture
def served_by_moto(aws, monkeypatch) -> list[str]:
    """The actions of the test's own requests whose answers moto's own serializer writes, in order (the records
    answer the others). Another thread's are left out: an execution an earlier test's runtime left running can
    still call (found in a clean-clone run: a verification's PutObject counted here)."""
    from moto.core.responses import BaseResponse

    served: list[str] = []
    serialized, test = BaseResponse.serialized, threading.get_ident()

    def counted(self: Any, result: Any) -> Any:
        if threading.get_ident() == test:
            served.append(self._get_action())
        return serialized(self, result)

    monkeypatch.setattr(BaseResponse, "serialized", counted)
    return served


def test_dynamodb_data_plane_answers_are_moto_s_own(served_by_moto):
    with_record = _exchange()
    assert with_record[1]["Item"] == PLAIN
    assert with_record[3]["Item"] == ONE_BINARY
    assert with_record[6]["Item"] == ITEM | {"n": {"N": "7"}}  # every type, the awkward strings, the binaries
    # the record answered every other request; moto's serializer, the control plane and each answer holding a
    # binary set or a binary inside a list or map (JSON cannot hold them as moto keeps them)
    assert served_by_moto == ["CreateTable", "GetItem", "PutItem", "GetItem", "UpdateItem", "Query", "Scan"] + [
        "TransactGetItems",
        "DeleteItem",
    ]
    assert with_record[-1]["Code"] == "ConditionalCheckFailedException"
    client("dynamodb").delete_table(TableName="t")
    with ledger_without("dynamodb-answers-as-json"):
        assert _exchange() == with_record


def test_execution_answers_are_moto_s_own(served_by_moto):
    sfn = client("stepfunctions")
    definition = {
        "StartAt": "Move",
        "States": {
            "Move": {"Type": "Pass", "Result": {"text": AWKWARD}, "Next": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Fail"},
            "Fail": {"Type": "Fail", "Error": "Failed", "Cause": AWKWARD},
        },
    }
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=allow_all_role())
    described, events = run(sfn, machine["stateMachineArn"], {"in": AWKWARD})
    arn = described["executionArn"]
    served_by_moto.clear()  # what set the execution up
    with_record = [sfn.describe_execution(executionArn=arn), sfn.get_execution_history(executionArn=arn)]
    assert served_by_moto == []  # the record answered both
    assert [event["type"] for event in with_record[1]["events"]][-1] == "ExecutionFailed"
    with ledger_without("execution-answers-as-json"):
        moto_alone = [sfn.describe_execution(executionArn=arn), sfn.get_execution_history(executionArn=arn)]
    assert served_by_moto == ["DescribeExecution", "GetExecutionHistory"]
    for answer in (*with_record, *moto_alone):
        answer.pop("ResponseMetadata")
    assert with_record == moto_alone  # timestamps (parsed by botocore) included


@hypothesis.given(
    moment=strategies.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(9999, 12, 31))
)
def test_history_timestamps_convert_as_moto_s_serializer_reads_them(moment):
    """A history timestamp in moto's form converts to the number moto's serializer gives for the same text
    (which it reads with dateutil); so does any other text, which goes to that serializer itself."""
    from moto.core.serialize import TimestampSerializer
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    from callrec.engine.answers import epoch_seconds

    by_moto = TimestampSerializer(TimestampSerializer.TIMESTAMP_FORMAT_UNIX)
    for text in (iso_8601_datetime_with_milliseconds(moment), moment.isoformat(), f"{moment.isoformat()}+02:00"):
        converted = epoch_seconds(text)
        assert converted == by_moto._convert_timestamp_to_str(text, TimestampSerializer.TIMESTAMP_FORMAT_UNIX)
        assert type(converted) is type(by_moto._convert_timestamp_to_str(text, "unixtimestamp"))


def test_action_names_are_kept_per_class_and_found_again_when_it_gains_or_loses_a_method(aws):
    from moto.core import responses, utils

    class Handler(responses.BaseResponse):
        def first_action(self):
            return None

    names = responses.method_names_from_class
    assert names is not utils.method_names_from_class  # the record is in force
    assert names(Handler) == utils.method_names_from_class(Handler) and "first_action" in names(Handler)
    Handler.second_action = lambda self: None
    assert "second_action" in names(Handler)
    del Handler.second_action
    assert names(Handler) == utils.method_names_from_class(Handler) and "second_action" not in names(Handler)


def test_the_user_agent_is_botocore_s_own_per_client_settings_and_request_features(aws):
    import boto3
    from botocore.config import Config
    from botocore.context import start_as_current_context
    from botocore.useragent import register_feature_id

    clients = [boto3.client("sts", region_name="us-east-1", config=Config(user_agent_appid=a)) for a in ("one", "two")]

    def agents() -> list[str]:
        seen = []
        for sts in clients:
            for feature in (None, "WAITER", None):
                with start_as_current_context():
                    if feature:
                        register_feature_id(feature)
                    seen += [sts._user_agent_creator.to_string(), sts._user_agent_creator.to_string()]
        return seen

    kept = agents()
    with ledger_without("user-agent-built-once"):
        built = agents()
    assert kept == built
    assert "app/one" in kept[0] and "app/two" in kept[6] and kept[2] != kept[0] == kept[4]


def _streamed(name: str, items: list[dict]):
    """A table with a stream, `items` put and the last one deleted; reads its stream from the start."""
    import boto3
    from botocore.config import Config

    ddb = client("dynamodb")  # the streams endpoint takes no account id in its name (as the engine's mapping)
    streams = boto3.client(
        "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
    )
    arn = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    for item in items:
        ddb.put_item(TableName=name, Item=item)
    ddb.delete_item(TableName=name, Key={"pk": items[-1]["pk"], "sk": items[-1]["sk"]})
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def records() -> list[dict]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    return records


@pytest.mark.parametrize(("items", "by_moto"), [([PLAIN, {**PLAIN, "n": {"N": "8"}}], False), ([PLAIN, ITEM], True)])
def test_stream_records_are_moto_s_own(served_by_moto, items, by_moto):
    records = _streamed("s", items)
    served_by_moto.clear()
    kept = records()
    assert [r["eventName"] for r in kept] == ["INSERT", "MODIFY" if not by_moto else "INSERT", "REMOVE"]
    assert kept[1]["dynamodb"]["NewImage"] == items[1]  # every type, the awkward strings, the binaries
    # the record answers; moto's serializer only where a binary sits inside a list or map
    assert ("GetRecords" in served_by_moto) == by_moto
    with ledger_without("stream-answers-as-json"):
        assert records() == kept


def test_the_batch_package_is_loaded_when_its_backend_is_used_not_when_the_interpreter_is(tmp_path):
    """(batch-package-when-used) Checking the ledger imports the whole interpreter, yet neither Batch's models nor
    moto.ec2 (whose import loads EC2's service model); Batch still answers, its package loaded then. In a process
    of its own: this one may have imported them already."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "from callrec import engine\n"
        "engine.install()\n"
        "from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import "
        "state_task_service_batch\n"
        "print(sorted(m for m in ('moto.batch.models', 'moto.ec2') if m in sys.modules))\n"
        "import boto3\n"
        "from moto import mock_aws\n"
        "with mock_aws():\n"
        "    batch = boto3.client('batch', region_name='us-east-1')\n"
        "    print(batch.describe_compute_environments()['computeEnvironments'])\n"
        "print(sorted(m for m in ('moto.batch.models', 'moto.ec2') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]", "['moto.batch.models', 'moto.ec2']"]


def test_a_request_moto_answers_has_botocore_s_headers_and_a_placeholder_signature(aws, monkeypatch):
    """(placeholder-signature-for-moto) Every header as botocore writes it, the Authorization header's credential
    scope and signed headers included; only the signature differs, and only where moto answers in-process:
    execute-api (the local API checks signatures), a local endpoint and AWS itself get botocore's own."""
    import datetime

    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from moto.core.models import botocore_stubber

    from callrec.engine.clients import PLACEHOLDER_SIGNATURE

    monkeypatch.setattr(auth, "get_current_datetime", lambda: datetime.datetime(2026, 12, 1, 12, 0, 0))
    credentials = Credentials("AKIDEXAMPLE", "secret")
    requests = [
        (auth.SigV4Auth, "dynamodb", "https://dynamodb.us-east-1.amazonaws.com/"),
        (auth.S3SigV4Auth, "s3", "https://bucket.s3.amazonaws.com/key"),
        (auth.SigV4Auth, "execute-api", "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/recordings"),
        (auth.SigV4Auth, "dynamodb", "http://127.0.0.1:8083/"),
    ]

    def signed(signer: Any, service: str, url: str) -> dict[str, str]:
        request = AWSRequest("POST", url, data=b'{"a": 1}', headers={"Content-Type": "application/x-amz-json-1.0"})
        signer(credentials, service, "us-east-1").add_auth(request)
        return dict(request.headers)

    ours = [signed(*request) for request in requests]
    engine.uninstall()
    try:
        botocore_s = [signed(*request) for request in requests]
    finally:
        engine.install()

    def signature(headers: dict[str, str]) -> str:
        return headers["Authorization"].rpartition("Signature=")[2]

    def unsigned(headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Authorization": headers["Authorization"].rpartition("Signature=")[0]}

    assert [unsigned(h) for h in ours] == [unsigned(h) for h in botocore_s]
    assert [signature(h) for h in ours] == [PLACEHOLDER_SIGNATURE] * 2 + [signature(h) for h in botocore_s[2:]]
    assert len(set(map(signature, botocore_s))) == 4 and PLACEHOLDER_SIGNATURE not in map(signature, botocore_s)
    monkeypatch.setattr(botocore_stubber, "enabled", False)  # no mock: AWS itself
    assert signed(*requests[0]) == botocore_s[0]


def _expressions_exchange() -> list[Any]:
    """Conditions and update expressions, each text used again with other names and values, true and false,
    valid and not, in single requests and a transaction; the answers and errors, in order."""
    from botocore.exceptions import ClientError

    ddb = client("dynamodb")
    key_table("e")
    set_text = "SET #a = :a, #n = if_not_exists(#n, :zero) + :one REMOVE #gone"
    condition = "attribute_not_exists(#a) OR (#a <> :a AND size(#a) < :size)"
    requests: list[tuple[str, dict]] = []
    for round_, (name, value) in enumerate([("status", "OPEN"), ("status", "SHUT"), ("phase", "OPEN")] * 2):
        values = {":a": {"S": value}, ":zero": {"N": "0"}, ":one": {"N": str(round_)}, ":size": {"N": "5"}}
        names = {"#a": name, "#n": "count", "#gone": "old"}
        key = {"pk": {"S": f"k{round_ % 2}"}}
        requests += [
            (
                "update_item",
                dict(
                    Key=key,
                    UpdateExpression=set_text,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                ),
            ),
            (
                "put_item",
                dict(
                    Item={**key, "n": {"N": str(round_)}},
                    ConditionExpression="attribute_exists(pk) AND n < :one",
                    ExpressionAttributeValues={":one": {"N": "2"}},
                ),
            ),
            (
                "update_item",
                dict(
                    Key=key,
                    UpdateExpression="SET #a = :a :b",
                    ExpressionAttributeNames={"#a": name},
                    ExpressionAttributeValues={":a": {"S": value}, ":b": {"S": "x"}},
                ),
            ),
            (
                "update_item",
                dict(
                    Key=key,
                    UpdateExpression="ADD #n :one",
                    ConditionExpression="#n BETWEEN :lo AND :hi",
                    ExpressionAttributeNames={"#n": "count"},
                    ExpressionAttributeValues={":one": {"N": "1"}, ":lo": {"N": "0"}, ":hi": {"N": "3"}},
                ),
            ),
        ]
        requests.append(
            (
                "transact_write_items",
                dict(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": "e",
                                "Key": {"pk": {"S": "t"}},
                                "UpdateExpression": set_text,
                                "ConditionExpression": condition,
                                "ExpressionAttributeNames": names,
                                "ExpressionAttributeValues": values,
                            }
                        },
                    ]
                ),
            )
        )
    # what each of the validator's passes refuses, and what it resolves (nested paths, functions, list indexes)
    for text, values in [
        ("SET #a = :a, #a = :b", {":a": {"S": "x"}, ":b": {"S": "y"}}),  # overlapping paths
        ("SET #a = :a SET #n = :b", {":a": {"S": "x"}, ":b": {"N": "1"}}),  # two SET clauses
        ("SET pk = :a", {":a": {"S": "x"}}),  # the key
        ("SET #a = :missing, #n = :a", {":a": {"N": "1"}}),  # a value not given
        ("SET #n = #n + :a", {":a": {"S": "x"}}),  # a string added
        ("SET #a.#n = :a", {":a": {"S": "x"}}),  # a path through a string
        ("SET #a = :a, #n = :b", {":a": {"S": ""}, ":b": {"N": "1"}}),  # an empty string (allowed off the key)
        ("SET #l = list_append(if_not_exists(#l, :none), :b)", {":none": {"L": []}, ":b": {"L": [{"N": "1"}]}}),
        ("SET #l[0] = :a, #m = :b REMOVE #gone", {":a": {"S": "x"}, ":b": {"M": {"x": {"S": "y"}}}}),
        ("SET #m.#n = :b ADD #s :a", {":b": {"N": "1"}, ":a": {"SS": ["p", "q"]}}),
        ("SET #m.#n = #m.#n + :b DELETE #s :c", {":b": {"N": "2"}, ":c": {"SS": ["q"]}}),
        ("REMOVE #l[0], #m.#n", {}),
    ]:
        used = {name for name in ("#a", "#n", "#l", "#m", "#s", "#gone") if name in text}
        names = {"#a": "status", "#n": "count", "#l": "list", "#m": "map", "#s": "set", "#gone": "old"}
        extra = {"ExpressionAttributeValues": values} if values else {}
        requests.append(
            (
                "update_item",
                dict(
                    Key={"pk": {"S": "k0"}},
                    UpdateExpression=text,
                    ExpressionAttributeNames={name: names[name] for name in used},
                    ReturnValues="ALL_NEW",
                    **extra,
                ),
            )
        )
    answers: list[Any] = []
    for operation, params in requests:
        if operation != "transact_write_items":
            params = {"TableName": "e", **params}
        try:
            answer = getattr(ddb, operation)(**params)
            answer.pop("ResponseMetadata")
            answers.append(answer)
        except ClientError as err:
            answers.append((err.response["Error"]["Code"], err.response["Error"]["Message"]))
    answers.append(sorted(map(str, ddb.scan(TableName="e")["Items"])))
    ddb.delete_table(TableName="e")
    return answers


@pytest.mark.parametrize(
    "record", ["condition-lexed-once", "update-expression-parsed-once", "update-expression-traversed-by-type"]
)
def test_expressions_parsed_once_answer_as_moto_does(aws, record):
    with_record = _expressions_exchange()
    outcomes = [a[0] if isinstance(a, tuple) else "ok" for a in with_record[:-1]]
    assert {"ok", "ConditionalCheckFailedException", "ValidationException"} <= set(outcomes)
    assert "TransactionCanceledException" in outcomes
    with ledger_without(record):
        assert _expressions_exchange() == with_record


def test_a_kept_update_tree_is_copied_whole_for_each_request_and_never_changed(aws):
    """update-expression-parsed-once: the validator resolves a copy made from the kept tree's pickle, a tree of its
    own (no node shared), and the kept tree reads the same after requests that resolved it against items."""
    import copy
    import pickle

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    text = "SET #a = :a, #l = list_append(if_not_exists(#l, :empty), :item) REMOVE gone ADD #n :one"
    kept = UpdateExpressionParser.make(text)
    before = _shape(kept)
    copied = copy.deepcopy(kept)
    assert _shape(copied) == before and len(_nodes(copied)) > 10  # the same tree
    assert not {id(node) for node in _nodes(copied)} & {id(node) for node in _nodes(kept)}
    assert _shape(pickle.loads(pickle.dumps(kept))) == before  # the kept tree still pickles
    ddb = client("dynamodb")
    key_table("u")
    for value in ("first", "second"):
        ddb.update_item(
            TableName="u",
            Key={"pk": {"S": "k"}},
            UpdateExpression=text,
            ExpressionAttributeNames={"#a": "a", "#l": "l", "#n": "n"},
            ExpressionAttributeValues={
                ":a": {"S": value},
                ":empty": {"L": []},
                ":item": {"L": [{"S": value}]},
                ":one": {"N": "1"},
            },
        )
    assert UpdateExpressionParser.make(text) is kept and _shape(kept) == before
    item = ddb.get_item(TableName="u", Key={"pk": {"S": "k"}})["Item"]
    assert item == {
        "pk": {"S": "k"},
        "a": {"S": "second"},
        "l": {"L": [{"S": "first"}, {"S": "second"}]},
        "n": {"N": "2"},
    }


def _nodes(node: Any) -> list[Any]:
    children = [child for child in getattr(node, "children", None) or [] if hasattr(child, "children")]
    return [node, *(found for child in children for found in _nodes(child))]


def _shape(node: Any) -> Any:
    """A tree as data: each node's class, its own values and its children's shapes (the parent links left out)."""
    if not hasattr(node, "children"):
        return repr(node)
    own = {
        name: repr(value) for name, value in vars(node).items() if name not in ("parent", "children", "__deepcopy__")
    }
    return (type(node).__name__, own, [_shape(child) for child in node.children or []])


JSON_VALUES = strategies.recursive(
    strategies.none() | strategies.booleans() | strategies.integers() | strategies.floats() | strategies.text(),
    lambda inner: strategies.lists(inner) | strategies.dictionaries(strategies.text(), inner),
    max_leaves=30,
)


@hypothesis.given(value=JSON_VALUES)
def test_a_json_copy_equals_the_value_and_shares_no_dict_or_list_with_it(value):
    from callrec.engine.copies import json_copy

    copied = json_copy(value)
    assert json.dumps(copied) == json.dumps(value)
    assert not {id(part) for part in _containers(copied)} & {id(part) for part in _containers(value)}


def _containers(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(part for item in value.values() for part in _containers(item))]
    if isinstance(value, list):
        return [value, *(part for item in value for part in _containers(item))]
    return []


def test_what_is_not_json_inside_a_value_is_deep_copied_with_its_type():
    from callrec.engine.copies import json_copy

    class Sequence(list):  # as jsonata-python's own sequences are
        pass

    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    value = {"seq": Sequence([{"a": [1]}]), "pair": ({"x": 1}, 2), "at": moment}
    copied = json_copy(value)
    assert type(copied["seq"]) is Sequence and copied == value
    assert copied["seq"] is not value["seq"] and copied["seq"][0] is not value["seq"][0]
    assert copied["pair"][0] is not value["pair"][0]


# Every kind of state that reads and writes `$states`: JSONPath (Parameters, ResultPath into the input, a Map's
# iterations with and without an ItemSelector, a Parallel's branches, Choice, OutputPath) and JSONata (Assign,
# Output, a Map). A state that writes its result into its input (ResultPath) must write into a copy: a branch or
# an iteration that wrote into the data it was given would show in the other branch and in the input of the
# states after it.
STATE_DATA_DEFINITIONS = {
    "jsonpath": {
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "Parameters": {"call.$": "$.call", "again.$": "$.call", "items.$": "$.items", "text": AWKWARD},
                "ResultPath": "$.shaped",
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.shaped.items",
                "MaxConcurrency": 1,
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "call.$": "$.shaped.call"},
                "ItemProcessor": {
                    "StartAt": "Mark",
                    "States": {"Mark": {"Type": "Pass", "Result": {"seen": True}, "ResultPath": "$.mark", "End": True}},
                },
                "ResultPath": "$.each",
                "Next": "Mark People",
            },
            "Mark People": {
                "Type": "Map",
                "ItemsPath": "$.people",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "Mark",
                    "States": {"Mark": {"Type": "Pass", "Result": {"seen": True}, "ResultPath": "$.mark", "End": True}},
                },
                "ResultPath": "$.marked",
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "InputPath": "$.call",
                "Branches": [
                    {
                        "StartAt": name,
                        "States": {name: {"Type": "Pass", "Result": name, "ResultPath": "$.branch", "End": True}},
                    }
                    for name in ("A", "B")
                ],
                "ResultPath": "$.both",
                "Next": "Which",
            },
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.shaped.call.n", "NumericGreaterThan": 1, "Next": "Trim"}],
                "Default": "Trim",
            },
            "Trim": {
                "Type": "Pass",
                "Parameters": {"each.$": "$.each", "people.$": "$.people", "marked.$": "$.marked", "both.$": "$.both"},
                "ResultPath": "$.trimmed",
                "OutputPath": "$.trimmed",
                "End": True,
            },
        },
    },
    "jsonata": {
        "QueryLanguage": "JSONata",
        "StartAt": "Keep",
        "States": {
            "Keep": {
                "Type": "Pass",
                "Assign": {"kept": "{% $states.input.call %}"},
                "Output": "{% $merge([$states.input, {'twice': [$states.input.call, $states.input.call]}]) %}",
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.items %}",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "Wrap",
                    "States": {"Wrap": {"Type": "Pass", "Output": "{% {'item': $states.input} %}", "End": True}},
                },
                "Output": "{% {'each': $states.result, 'kept': $kept, 'twice': $states.input.twice} %}",
                "End": True,
            },
        },
    },
}


@pytest.mark.parametrize("language", sorted(STATE_DATA_DEFINITIONS))
def test_executions_read_and_pass_state_data_as_moto_does(aws, language):
    """state-data-read-as-json-copies and state-input-kept-as-json-copy: the same output and the same history
    (every state's input and output) with the records and without them."""
    sfn = client("stepfunctions")
    definition = json.dumps(STATE_DATA_DEFINITIONS[language])
    payload = {
        "call": {"n": 2, "nested": {"list": [1, 2.5, None, True, AWKWARD]}},
        "items": [{"i": 1}, [2], "3"],
        "people": [{"p": 1}, {"p": 2}],
    }

    def played(name: str) -> tuple[Any, list[Any]]:
        machine = sfn.create_state_machine(name=name, definition=definition, roleArn=allow_all_role())
        described, events = run(sfn, machine["stateMachineArn"], payload)
        assert described["status"] == "SUCCEEDED", events[-1]
        return json.loads(described["output"]), _every_event(events)

    with_records = played("with")
    with ledger_without("state-data-read-as-json-copies", "state-input-kept-as-json-copy"):
        assert played("without") == with_records
    call, items, people = payload["call"], payload["items"], payload["people"]
    assert with_records[0] == (
        {"each": [{"item": item} for item in items], "kept": call, "twice": [call, call]}
        if language == "jsonata"
        else {
            "each": [{"item": item, "call": call, "mark": {"seen": True}} for item in items],
            "people": people,
            "marked": [{**person, "mark": {"seen": True}} for person in people],
            "both": [{**call, "branch": "A"}, {**call, "branch": "B"}],
        }
    )
    assert len(with_records[1]) > 10


def _every_event(events: list[dict]) -> list[str]:
    """The history as the events it holds, whatever their order: a Parallel's branches run at once, and interleave
    their events (and so their ids) differently from one run to the next."""
    placed = ("timestamp", "id", "previousEventId")
    return sorted(json.dumps({k: v for k, v in event.items() if k not in placed}, sort_keys=True) for event in events)


def test_s3_urls_are_reloaded_when_the_custom_endpoints_change_and_only_then(aws, monkeypatch):
    """moto reloads moto.s3.urls to see a change of MOTO_S3_CUSTOM_ENDPOINTS: with the record, S3 requests made
    with the variable unchanged reload nothing, and a change is seen at the next request, as without it."""
    import importlib

    from moto.s3 import models as s3_models

    reloads: list[str] = []

    def counted(module):
        reloads.append(module.__name__)
        return importlib.reload(module)

    monkeypatch.setattr(s3_models, "reload", counted)
    s3 = client("s3")
    custom = "https://s3.recordings.example:4443"

    def exchange() -> list[str]:
        s3.create_bucket(Bucket="recordings-speed")
        s3.put_object(Bucket="recordings-speed", Key="k", Body=b"audio")
        assert s3.get_object(Bucket="recordings-speed", Key="k")["Body"].read() == b"audio"
        s3.delete_object(Bucket="recordings-speed", Key="k")
        s3.delete_bucket(Bucket="recordings-speed")
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", custom)
        s3.list_buckets()
        bases = list(s3_models.s3_backends["123456789012"]["aws"]._url_module.url_bases)
        monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS")
        s3.list_buckets()
        return bases

    s3.list_buckets()  # the record's first reload
    reloads.clear()
    assert custom in exchange()
    assert reloads == ["moto.s3.urls", "moto.s3.urls"]  # the variable set, then unset: nothing else
    reloads.clear()
    with ledger_without("s3-urls-reloaded-when-endpoints-change"):
        assert custom in exchange()
    assert len(reloads) > 7  # moto alone: every request, and the read above
    assert custom not in s3_models.s3_backends["123456789012"]["aws"]._url_module.url_bases


def test_answers_are_finished_as_moto_finishes_them(aws, monkeypatch):
    """request-id-written-where-the-body-has-one: every body, with the record and without it, gives the same headers
    and the same body (request ids numbered from 0 each time), the XML bodies that carry a <RequestId> included."""
    from moto.core import responses

    bodies = [
        "<PublishResponse><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></PublishResponse>",
        "<Error><RequestId></RequestId>\n<RequestId>two</RequestId></Error>",
        '{"Items": [{"pk": {"S": "<RequestId>in a value</RequestId>"}}]}',
        '{"Items": [], "Count": 0}',
        "",
        b"<RequestId>bytes</RequestId>",
        None,
        {"a": "mapping"},
    ]
    statuses = [{"status": 200}, {"status": "400"}, {}, {"x-amzn-requestid": "given"}]

    def finished() -> list:
        numbered = itertools.count()

        def made(headerdict=None):  # moto's gen_amzn_requestid_long, numbered
            request_id = str(next(numbered))
            if isinstance(headerdict, dict):
                headerdict["x-amzn-requestid"] = request_id
            return request_id

        monkeypatch.setattr(responses, "gen_amzn_requestid_long", made)
        return [responses.BaseResponse._enrich_response(dict(h), body) for body in bodies for h in statuses]

    ours = finished()
    with ledger_without("request-id-written-where-the-body-has-one"):
        theirs = finished()
    assert ours == theirs
    assert ours[0][1].count("<RequestId>0</RequestId>") == 1 and ours[0][0]["x-amzn-requestid"] == "0"
