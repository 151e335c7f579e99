"""The ledger record `json-answers-read-as-loaded` (callrec/engine/parsing.py) reads a JSON answer by `json.loads`,
with its timestamps read and its structures built in the shape's order, where botocore's walk against the output
shape would change nothing else: compared with botocore's own reading on every JSON answer of played calls, and on
answers the walk does change."""

from __future__ import annotations

import base64
import datetime
import json
import threading
from typing import Any

import pytest

from callrec import demo
from callrec.engine import parsing
from callrec.stack import client


def _botocore_s(parser: Any, raw_body: bytes, shape: Any) -> Any:
    """botocore's own reading (JSONParser._handle_json_body): json.loads, then the walk against the shape."""
    return parser._parse_shape(shape, parser._parse_body_as_json(raw_body))


def _same(ours: Any, theirs: Any) -> bool:
    """Equal, and in the same order at every level (a dict's keys included)."""
    return ours == theirs and json.dumps(ours, default=repr) == json.dumps(theirs, default=repr)


def test_every_json_answer_of_played_calls_is_read_as_botocore_reads_it(deployment, monkeypatch):
    """Calls of both providers and their verification: each JSON answer botocore reads is read both ways."""
    from botocore.parsers import JSONParser

    from callrec.callcentre import LocalCallCentre

    read = JSONParser._handle_json_body
    loaded: list[str] = []  # the answers the record read without the walk

    def compared(self, raw_body, shape):
        ours = read(self, raw_body, shape)
        assert _same(ours, _botocore_s(self, raw_body, shape)), shape.name
        if parsing.reading_for(raw_body, shape) is not None:
            loaded.append(shape.name)
        return ours

    monkeypatch.setattr(JSONParser, "_handle_json_body", compared)
    centre = LocalCallCentre(deployment)
    centre.finish(demo.connect_payment(centre).session_id)
    centre.finish(demo.chime_opt_in("1")(centre).session_id)
    for output in ("GetItemOutput", "QueryOutput", "PutItemOutput", "TransactWriteItemsOutput", "UpdateItemOutput"):
        assert output in loaded, output
    for output in ("GetRecordsOutput", "GetExecutionHistoryOutput", "DescribeExecutionOutput"):  # timestamps
        assert output in loaded, output
    assert len(loaded) > 50


TABLE = "answers"


@pytest.fixture
def table(aws):
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


@pytest.mark.parametrize(
    "item",
    [
        {"pk": {"S": "plain"}, "n": {"N": "1.50"}, "flag": {"BOOL": False}, "none": {"NULL": True}},
        {"pk": {"S": "nested"}, "m": {"M": {"l": {"L": [{"S": "a"}, {"NS": ["1", "2"]}, {"M": {}}]}}}},
        {"pk": {"S": "binary"}, "b": {"B": b"\x00\xffaudio"}, "bs": {"BS": [b"x", b"y"]}},
        {"pk": {"S": "looks binary"}, "text": {"S": '"B" and null and "BS"'}},
        {"pk": {"S": "\u00e9t\u00e9 \u4e2d"}, "sk": {"SS": ["\u2028", "\\", '"']}},
    ],
    ids=["plain", "nested", "binary", "binary-names-in-text", "unicode"],
)
def test_an_item_is_read_as_botocore_reads_it(table, monkeypatch, item):
    """Blobs (B, BS) are decoded by botocore's walk: an answer holding one, or their names in any text, is read by
    it; the rest by json.loads, the same."""
    from botocore.parsers import JSONParser

    read = JSONParser._handle_json_body
    answers: list[bool] = []
    test = threading.get_ident()

    def compared(self, raw_body, shape):
        ours = read(self, raw_body, shape)
        if threading.get_ident() == test:  # not a thread an earlier test of this worker left reading (a poller)
            answers.append(_same(ours, _botocore_s(self, raw_body, shape)))  # as read (ResponseMetadata comes after)
        return ours

    table.put_item(TableName=TABLE, Item=item)
    monkeypatch.setattr(JSONParser, "_handle_json_body", compared)
    got = table.get_item(TableName=TABLE, Key={"pk": item["pk"]}, ReturnConsumedCapacity="TOTAL")
    queried = table.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": item["pk"]},
        ReturnConsumedCapacity="INDEXES",
    )
    assert got["Item"] == item and queried["Items"] == [item]
    assert answers == [True, True]


def test_what_the_walk_changes_is_left_to_it():
    """A blob, a null, a member outside the shape: botocore's walk reads them (the record's own reading would
    differ), so the answer is botocore's."""
    import botocore.session
    from botocore.parsers import JSONParser

    dynamodb = botocore.session.get_session().get_service_model("dynamodb")
    get_item = dynamodb.operation_model("GetItem").output_shape
    parser = JSONParser()
    blob = base64.b64encode(b"\x00audio").decode()
    cases = [
        {"Item": {"b": {"B": blob}}},
        {"Item": {"s": {"S": "x"}}, "ConsumedCapacity": None},
        {"Item": {"s": {"S": "x"}}, "Unmodelled": 1},
    ]
    for answer in cases:
        raw_body = json.dumps(answer).encode()
        assert _same(parser._handle_json_body(raw_body, get_item), _botocore_s(parser, raw_body, get_item))
        assert parser._handle_json_body(raw_body, get_item) != answer


def test_timestamps_are_read_and_structures_built_in_the_shape_s_order_as_the_walk_does():
    """A stream's records, an execution's history, a table's description, each sent with its members out of the
    shape's order and one the shape does not know: read as botocore's walk reads them, in order at every level
    (each timestamp a datetime)."""
    import botocore.session
    from botocore.parsers import JSONParser

    session = botocore.session.get_session()
    get_records = session.get_service_model("dynamodbstreams").operation_model("GetRecords").output_shape
    history = session.get_service_model("stepfunctions").operation_model("GetExecutionHistory").output_shape
    describe_table = session.get_service_model("dynamodb").operation_model("DescribeTable").output_shape
    image = {"sessionId": {"S": "call-1"}, "windows": {"L": [{"M": {"at": {"N": "1764615600"}}}]}}
    record = {
        "eventName": "MODIFY",
        "dynamodb": {
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": image,
            "ApproximateCreationDateTime": 1764615600.5,
            "Unmodelled": True,
            "Keys": {"sessionId": {"S": "call-1"}},
        },
        "userIdentity": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
        "eventID": "1",
    }
    event = {
        "type": "TaskStarted",
        "taskStartedEventDetails": {"resourceType": "lambda", "resource": "invoke"},
        "id": 2,
        "timestamp": 1764615601.25,
        "previousEventId": 1,
    }
    cases = [
        (get_records, {"NextShardIterator": "it", "Records": [record, record | {"eventID": "2"}]}),
        (get_records, {"Records": []}),
        (history, {"events": [event, event | {"id": 3, "timestamp": "2025-12-01T19:00:00Z"}]}),
        (describe_table, {"Table": {"TableName": "t", "CreationDateTime": 1764615600.123}}),
    ]
    parser = JSONParser()
    for shape, answer in cases:
        raw_body = json.dumps(answer).encode()
        assert _same(parser._handle_json_body(raw_body, shape), _botocore_s(parser, raw_body, shape)), shape.name
    read = parser._handle_json_body(json.dumps(cases[0][1]).encode(), get_records)["Records"][0]
    assert list(read) == ["eventID", "eventName", "dynamodb", "userIdentity"]
    assert list(read["dynamodb"]) == ["ApproximateCreationDateTime", "Keys", "NewImage", "StreamViewType"]
    assert isinstance(read["dynamodb"]["ApproximateCreationDateTime"], datetime.datetime)
    assert list(read["userIdentity"]) == ["PrincipalId", "Type"]


def _shape(shapes: dict[str, Any]) -> Any:
    """The output shape `Output` of a made-up JSON service."""
    from botocore.model import ShapeResolver

    return ShapeResolver(shapes).get_shape_by_name("Output")


STRING = {"type": "string"}
TREE = {  # a recursive shape with a timestamp in it: a node's At, at any depth
    "Output": {"type": "structure", "members": {"Tree": {"shape": "Node"}}},
    "Node": {"type": "structure", "members": {"At": {"shape": "T"}, "Children": {"shape": "Nodes"}}},
    "Nodes": {"type": "list", "member": {"shape": "Node"}},
    "T": {"type": "timestamp"},
}


@pytest.mark.parametrize(
    "shapes",
    [
        {
            "Output": {"type": "structure", "members": {"Doc": {"shape": "Doc"}}},
            "Doc": {"type": "structure", "members": {}, "document": True},
        },
        {
            "Output": {"type": "structure", "members": {"U": {"shape": "U"}}},
            "U": {"type": "structure", "union": True, "members": {"A": {"shape": "S"}, "B": {"shape": "S"}}},
            "S": STRING,
        },
        {"Output": {"type": "structure", "members": {"Name": {"shape": "S", "locationName": "name"}}}, "S": STRING},
        TREE,
    ],
    ids=["document", "tagged-union", "renamed-member", "timestamp-under-a-recursion"],
)
def test_a_shape_only_the_walk_reads_as_botocore_does_is_left_to_it(shapes):
    """A document, a tagged union, a renamed member, a timestamp at any depth of a recursive shape: nothing but
    botocore's walk reads them, whatever the body."""
    assert parsing._reading(_shape(shapes)) is None


def test_a_timestamp_deep_in_a_recursive_shape_is_read_by_the_walk():
    from botocore.parsers import JSONParser

    shape, parser = _shape(TREE), JSONParser()
    raw_body = json.dumps({"Tree": {"At": 1, "Children": [{"At": 2, "Children": [{"At": 3}]}]}}).encode()
    read = parser._handle_json_body(raw_body, shape)
    assert _same(read, _botocore_s(parser, raw_body, shape))
    assert isinstance(read["Tree"]["Children"][0]["Children"][0]["At"], datetime.datetime)
