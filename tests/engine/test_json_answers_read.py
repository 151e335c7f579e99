"""The ledger record `json-answers-read-as-loaded` (callrec/engine/parsing.py) reads a JSON answer by `json.loads`
alone where botocore's walk against the output shape would change nothing: compared with botocore's own reading on
every JSON answer of played calls, and on answers the walk does change."""

from __future__ import annotations

import base64
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
    loaded: list[str] = []
    walked: list[str] = []

    def compared(self, raw_body, shape):
        ours = read(self, raw_body, shape)
        assert _same(ours, _botocore_s(self, raw_body, shape)), shape.name
        tokens = parsing._plain(shape) if shape is not None and raw_body else None
        fast = tokens is not None and not any(token in raw_body for token in tokens)
        (loaded if fast else walked).append(shape.name)
        return ours

    monkeypatch.setattr(JSONParser, "_handle_json_body", compared)
    centre = LocalCallCentre(deployment)
    centre.finish(demo.connect_payment(centre).session_id)
    centre.finish(demo.chime_opt_in("1")(centre).session_id)
    for output in ("GetItemOutput", "QueryOutput", "PutItemOutput", "TransactWriteItemsOutput", "UpdateItemOutput"):
        assert output in loaded, output
    for output in ("GetRecordsOutput", "GetExecutionHistoryOutput", "DescribeExecutionOutput"):  # timestamps
        assert output in walked and output not in loaded, output
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
    """A blob, a null, a member outside the shape, a timestamp: botocore's walk reads them (the record's own
    reading would differ), so the answer is botocore's."""
    import botocore.session
    from botocore.parsers import JSONParser

    session = botocore.session.get_session()
    dynamodb = session.get_service_model("dynamodb")
    get_item = dynamodb.operation_model("GetItem").output_shape
    describe_table = dynamodb.operation_model("DescribeTable").output_shape
    parser = JSONParser()
    blob = base64.b64encode(b"\x00audio").decode()
    cases = [
        (get_item, {"Item": {"b": {"B": blob}}}),
        (get_item, {"Item": {"s": {"S": "x"}}, "ConsumedCapacity": None}),
        (get_item, {"Item": {"s": {"S": "x"}}, "Unmodelled": 1}),
        (describe_table, {"Table": {"TableName": "t", "CreationDateTime": 1764615600.123}}),
    ]
    for shape, answer in cases:
        raw_body = json.dumps(answer).encode()
        assert _same(parser._handle_json_body(raw_body, shape), _botocore_s(parser, raw_body, shape))
        assert parser._handle_json_body(raw_body, shape) != answer
    assert parsing._plain(describe_table) is None
