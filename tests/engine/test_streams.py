"""The engine's event source mapping for Kinesis (callrec.engine.streams), as the Lambda Developer Guide describes
it: records in order per shard, a batch per invocation, a failed batch retried, a partial batch response read
again from its first failed record, and the stream read as the function's role."""

from __future__ import annotations

import json
import threading
import time

import pytest

from callrec import engine
from callrec.engine import authorization
from callrec.stack import client
from tests.conftest import allow_all_role, make_role
from tests.eventually import eventually


def _stream(name: str = "events", shards: int = 1) -> str:
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def streamed_table(name: str) -> str:
    """A table with a stream of new and old images; the stream's ARN."""
    return client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]


def _put(arn: str, *values: int) -> None:
    for value in values:
        client("kinesis").put_record(StreamARN=arn, Data=json.dumps({"n": value}).encode(), PartitionKey="agent")


def _mapping(handler, arn: str, role: str | None = None, **options) -> engine.StreamMapping:
    function = engine.LambdaFunction("reader", "arn:aws:lambda:us-east-1:123456789012:function:reader", lambda: handler)
    function.role_arn = role or allow_all_role()
    mapping = engine.StreamMapping(function=function, stream_arn=arn, **options)
    mapping.start()
    return mapping


def _values(event: dict) -> list[int]:
    import base64

    return [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"]]


def test_records_arrive_in_order_and_a_partial_failure_is_read_again_from_the_first_failed(runtime):
    arn, seen, failed_once = _stream(), [], set()

    def handler(event, context):
        values = _values(event)
        seen.extend(values)
        for record, value in zip(event["Records"], values, strict=True):
            if value == 3 and value not in failed_once:
                failed_once.add(value)
                return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
        return {"batchItemFailures": []}

    _put(arn, 1, 2, 3, 4, 5)
    mapping = _mapping(handler, arn, report_item_failures=True, starting_position="TRIM_HORIZON")  # one batch
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 5, 10.0, "all five taken")
    assert seen == [1, 2, 3, 4, 5, 3, 4, 5]  # 3 failed: read again from 3, in order; 1 and 2 not again
    assert mapping.dropped == 0


def test_a_batch_that_keeps_failing_is_dropped_after_its_retries(runtime):
    arn, calls = _stream(), []

    def handler(event, context):
        calls.append(_values(event))
        raise RuntimeError("always")

    mapping = _mapping(handler, arn, max_retries=2)
    _put(arn, 1)
    eventually(lambda: mapping.dropped, lambda dropped: dropped == 1, 10.0, "the record dropped")
    assert calls == [[1], [1], [1]]  # the first try and two retries


def _table_put(arn: str, *values: int) -> None:
    for value in values:
        client("dynamodb").put_item(TableName=arn.split("/")[1], Item={"id": {"S": str(value)}})


def _table_values(event: dict) -> list[int]:
    return [int(r["dynamodb"]["Keys"]["id"]["S"]) for r in event["Records"]]


@pytest.mark.parametrize(
    "source",
    [(_stream, _put, _values), (lambda: streamed_table("things"), _table_put, _table_values)],
    ids=["kinesis", "table"],
)
def test_a_batch_still_retried_when_its_mapping_is_disabled_is_read_again_when_it_is_enabled(runtime, source):
    """Lambda checkpoints a shard only past what the function took: disabled while it retries a batch, the mapping
    goes on from that batch when it is enabled again, and never from past it (the records would be lost)."""
    make, put, values = source
    arn, seen, attempts, healthy = make(), [], [], threading.Event()

    def handler(event, context):
        attempts.append(values(event))
        if not healthy.is_set():
            raise RuntimeError("not yet")
        seen.extend(values(event))

    mapping = _mapping(handler, arn)
    put(arn, 1, 2)
    eventually(lambda: len(attempts), lambda tried: tried >= 2, 10.0, "the batch retried")
    mapping.stop()  # disabled while the batch waits for its next retry
    healthy.set()
    mapping.start()
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 2, 10.0, "the batch taken after enabling")
    assert seen == [1, 2] and mapping.dropped == 0


def test_the_stream_is_read_as_the_functions_role(runtime):
    arn = _stream()
    role = make_role("reader-role", [{"Effect": "Allow", "Action": "kinesis:ListShards", "Resource": arn}])
    before = len(authorization.refusals)
    seen = []
    mapping = _mapping(lambda event, context: seen.extend(_values(event)), arn, role=role)
    _put(arn, 1)
    time.sleep(0.2)
    refused = {r.action for r in list(authorization.refusals)[before:]}
    assert "kinesis:DescribeStreamSummary" in refused and seen == [] and mapping.delivered == 0


def test_a_record_that_always_fails_is_isolated_by_bisection_and_the_rest_delivered(runtime):
    arn, seen = _stream(), []

    def handler(event, context):
        values = _values(event)
        if 3 in values:
            raise RuntimeError("a poison record")
        seen.extend(values)

    _put(arn, 1, 2, 3, 4)
    mapping = _mapping(handler, arn, bisect=True, max_retries=3, starting_position="TRIM_HORIZON")
    eventually(
        lambda: (mapping.delivered, mapping.dropped), lambda counts: counts == (3, 1), 10.0, "3 taken, 1 dropped"
    )
    assert seen == [1, 2, 4]  # in order, the poison record alone given up


def test_a_tables_stream_is_read_too(runtime):
    """A DynamoDB table's stream (NEW_AND_OLD_IMAGES): each change reaches the function as Lambda sends it."""
    dynamodb, stream = client("dynamodb"), streamed_table("things")
    seen = []
    mapping = _mapping(lambda event, context: seen.extend(event["Records"]), stream)
    dynamodb.put_item(TableName="things", Item={"id": {"S": "a"}, "n": {"N": "1"}})
    dynamodb.update_item(
        TableName="things",
        Key={"id": {"S": "a"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 2, 10.0, "both changes")
    assert [r["eventName"] for r in seen] == ["INSERT", "MODIFY"]
    assert seen[1]["dynamodb"]["OldImage"]["n"] == {"N": "1"} and seen[1]["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert seen[1]["eventSource"] == "aws:dynamodb" and seen[1]["eventSourceARN"] == stream
    json.dumps(seen)  # a Lambda event is JSON


def _counting_reads(monkeypatch) -> list[int]:
    """Every GetRecords the mappings make from now on: the number of records each read brought."""
    from callrec.engine import streams

    reads: list[int] = []
    read = streams._Kinesis.read

    def counted(client, arn, iterator, limit):
        records, following = read(client, arn, iterator, limit)
        reads.append(len(records))
        return records, following

    monkeypatch.setattr(streams._Kinesis, "read", staticmethod(counted))
    return reads


def test_a_shard_is_read_again_only_when_written_to_or_when_its_last_batch_was_full(runtime, monkeypatch):
    """A read that brought less than a batch, with nothing written since, is not followed by another read at the
    polling pace: the mapping waits for a write (each read is a request, each idle one pure cost)."""
    from callrec.engine import streams

    monkeypatch.setattr(streams, "IDLE_SECONDS", 60.0)  # only a write (or a full batch) may bring the next read
    arn, seen = _stream(), []
    _put(arn, 1, 2, 3, 4, 5)
    reads = _counting_reads(monkeypatch)
    mapping = _mapping(
        lambda event, context: seen.append(_values(event)), arn, batch_size=2, starting_position="TRIM_HORIZON"
    )
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 5, 10.0, "the five, two at a time")
    assert seen == [[1, 2], [3, 4], [5]]  # a full batch is followed by the next read at the polling pace

    time.sleep(10 * mapping._interval())
    assert reads == [2, 2, 1]  # nothing written: no read after the short batch

    _put(arn, 6)  # a write wakes the mapping
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 6, 10.0, "the sixth")
    assert seen[-1] == [6]
    mapping.stop()


def test_a_write_brings_a_read_of_the_shard_it_went_to_only(runtime, monkeypatch):
    """Lambda reads each shard on its own: a record put on one shard of four is one read, not four."""
    from callrec.engine import streams

    monkeypatch.setattr(streams, "IDLE_SECONDS", 60.0)
    arn, seen = _stream(shards=4), []
    reads = _counting_reads(monkeypatch)
    mapping = _mapping(lambda event, context: seen.extend(_values(event)), arn)  # at LATEST: nothing to read yet
    _put(arn, 1)
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 1, 10.0, "the record")
    time.sleep(5 * mapping._interval())
    assert seen == [1] and reads == [1]

    mapping.stop()  # enabled again, where it was: every shard is read once (what came meanwhile is not missed)
    _put(arn, 2)
    mapping.start()
    eventually(lambda: mapping.delivered, lambda delivered: delivered == 2, 10.0, "the record put while stopped")
    time.sleep(5 * mapping._interval())
    assert seen == [1, 2] and sorted(reads[1:]) == [0, 0, 0, 1]
    mapping.stop()
