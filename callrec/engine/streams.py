"""Lambda's event source mappings for streams (a Kinesis data stream, a DynamoDB table's stream), run by the
engine: moto keeps the streams, and runs no mapping for an in-process function.

As the Lambda Developer Guide describes stream polling ("Polling and batching streams", "Configuring partial
batch response"): enabling a mapping checks the stream as the function's execution role, so its grants are
checked (a refusal is logged and retried; the mapping reads nothing meanwhile); each shard is read in order from
the starting position, as that role; a batch of up to `BatchSize` records is one synchronous invocation; a
function error retries the same batch, up to `MaximumRetryAttempts`, halved each time with
`BisectBatchOnFunctionError`; with `ReportBatchItemFailures` the function names its failed records and the
shard is read again from the first of them. Records past their retries are dropped (with no on-failure
destination, as Lambda does) and counted. A mapping disabled while it retries a batch goes on from that batch when
it is enabled again: a shard's checkpoint moves only past what the function took. A shard is polled about once a
second, scaled by the engine's time scale, at most every 250 ms, while it brings full batches. Otherwise (nothing
new, or less than a batch) a shard is read again once a write to it wakes its mapping (ledger records
`stream-writes-wake-mappings`, `kinesis-writes-wake-mappings`: only the shards written to are read), or after
IDLE_SECONDS (every shard); a read that failed is tried again within a second.
"""

from __future__ import annotations

import base64
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callrec.engine.ledger import Patch
from callrec.engine.runtime import LambdaFunction, settings

log = logging.getLogger("callrec.engine.streams")
POLL_SECONDS = 1.0
MIN_POLL_SECONDS = 0.25
IDLE_SECONDS = 5.0  # a mapping that read all there was waits this long at most, unless a write to its stream wakes it
RETRY_SECONDS = 1.0  # a mapping whose read failed (refused, throttled) tries again within this, or when woken


@functools.cache
def stream_client(service: str, region: str, endpoint_url: str | None) -> Any:
    """One client per stream service, Region and endpoint for the process (thread-safe; making one costs botocore
    20-30 ms, and every deployment starts its mappings)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # botocore sends DynamoDB Streams to <account>.streams-ddb.<region>, a host moto 5.2.5 does not route
        config=Config(account_id_endpoint_mode="disabled"),
    )


class _Kinesis:
    """A Kinesis data stream: its records as the Lambda event's `kinesis` records."""

    service = "kinesis"

    @staticmethod
    def shards(client: Any, arn: str) -> list[str]:
        client.describe_stream_summary(StreamARN=arn)
        client.describe_stream(StreamARN=arn, Limit=1)
        return [shard["ShardId"] for shard in client.list_shards(StreamARN=arn)["Shards"]]

    @staticmethod
    def iterator(client: Any, arn: str, shard_id: str, position: str, sequence: str | None = None) -> str:
        at = {"StartingSequenceNumber": sequence} if sequence else {}
        return str(
            client.get_shard_iterator(StreamARN=arn, ShardId=shard_id, ShardIteratorType=position, **at)[
                "ShardIterator"
            ]
        )

    @staticmethod
    def read(client: Any, arn: str, iterator: str, limit: int) -> tuple[list[dict], str]:
        answer = client.get_records(StreamARN=arn, ShardIterator=iterator, Limit=limit)
        return answer["Records"], str(answer["NextShardIterator"])

    @staticmethod
    def sequence(record: dict) -> str:
        return str(record["SequenceNumber"])

    @staticmethod
    def event_record(mapping: StreamMapping, shard_id: str, record: dict) -> dict:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": record["SequenceNumber"],
                "data": base64.b64encode(record["Data"]).decode("ascii"),
                "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{record['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": mapping.function.role_arn or "",
            "awsRegion": mapping.region,
            "eventSourceARN": mapping.stream_arn,
        }


class _DynamoDBStream:
    """A DynamoDB table's stream: its records are already in the Lambda event's shape (dates as epoch seconds)."""

    service = "dynamodbstreams"

    @staticmethod
    def shards(client: Any, arn: str) -> list[str]:
        return [shard["ShardId"] for shard in client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]]

    @staticmethod
    def iterator(client: Any, arn: str, shard_id: str, position: str, sequence: str | None = None) -> str:
        at = {"SequenceNumber": sequence} if sequence else {}
        return str(
            client.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType=position, **at)[
                "ShardIterator"
            ]
        )

    @staticmethod
    def read(client: Any, arn: str, iterator: str, limit: int) -> tuple[list[dict], str]:
        answer = client.get_records(ShardIterator=iterator, Limit=limit)
        return answer["Records"], str(answer.get("NextShardIterator") or iterator)

    @staticmethod
    def sequence(record: dict) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    @staticmethod
    def event_record(mapping: StreamMapping, shard_id: str, record: dict) -> dict:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        return {**record, "dynamodb": dynamodb, "eventVersion": "1.1", "eventSourceARN": mapping.stream_arn}


SOURCES = {":kinesis:": _Kinesis, ":dynamodb:": _DynamoDBStream}


@dataclass
class StreamMapping:
    function: LambdaFunction
    stream_arn: str  # a Kinesis stream's, or a DynamoDB table's stream's
    batch_size: int = 100
    starting_position: str = "LATEST"
    report_item_failures: bool = False
    max_retries: int = -1  # -1: until the record expires, as Lambda's default
    bisect: bool = False
    endpoint_url: str | None = None
    region: str = "us-east-1"
    dropped: int = 0  # records given up after their retries
    delivered: int = 0  # records the function took
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _client: Any = field(default=None, repr=False)
    _iterators: dict[str, str] | None = field(default=None, repr=False)  # where each shard was read to (once opened)
    _wake: threading.Event = field(default_factory=threading.Event, repr=False)  # set by a write to the stream
    _written: set[str] = field(default_factory=set, repr=False)  # the shards written to since the last read
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _life: int | None = field(default=None, repr=False)  # the engine's life it was enabled in (a runtime's)

    @property
    def source(self) -> type[_Kinesis] | type[_DynamoDBStream]:
        found = [source for marker, source in SOURCES.items() if marker in self.stream_arn]
        if not found:
            raise ValueError(f"not a stream the local engine maps: {self.stream_arn}")
        return found[0]

    def start(self) -> None:
        """Check the stream and open its shards now, as the function's role (Lambda checks the role's permissions
        when a mapping is enabled), then poll in the background."""
        self.open()()

    def open(self, iterators: dict[str, str] | None = None) -> Callable[[], None]:
        """`start`'s first half: check the stream and open its shards; what starts the polling. `iterators`: the
        ones the same mapping took at its first opening in a moto this one's state was copied from, whole
        (callrec.engine.snapshot: a deployment put back), taken as they are: the same role checked on the same
        stream, in the same state, opened the same (a first opening of each mapping of template.yaml's was 3% of
        a test run's CPU, made again for every deployment)."""
        from callrec.engine import authorization

        self._stop.clear()
        self._life = authorization.life_now()
        if self not in settings.pollers:  # before its iterators are taken: a write after them wakes it
            settings.pollers.append(self)
        self._client = stream_client(self.source.service, self.region, self.endpoint_url)
        first = self._iterators is None
        if first and iterators is not None:
            self._iterators, opened = dict(iterators), True
        else:
            opened = self._open()
        # A first opening at LATEST has nothing to read but what is written from then on, which wakes it; any other
        # (from the first record, or enabled again where it was) reads every shard first.
        again = set() if first and opened and self.starting_position == "LATEST" else None

        def poll() -> None:
            self._thread = threading.Thread(
                target=self._run, args=(opened, again), daemon=True, name=f"esm-{self.function.name}"
            )
            self._thread.start()

        return poll

    @property
    def iterators(self) -> dict[str, str] | None:
        """Where each shard was opened (a copy), None until the mapping could open the stream."""
        return None if self._iterators is None else dict(self._iterators)

    def wake(self, shard_id: str) -> None:
        """A write went to this shard: read it at the next turn, and end the wait for one."""
        with self._lock:
            self._written.add(shard_id)
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def restart(self) -> None:
        """Disable and enable the mapping again: it checks the role again and goes on from where it was."""
        self.stop()
        self.start()

    def _interval(self) -> float:
        """About once a second, scaled; never more often than every 250 ms, the pace at which Lambda polls a table's
        stream (four times a second; a Kinesis shard once: Lambda Developer Guide). Each poll is a request to moto
        and each batch an invocation: a burst of writes gathered into fewer batches means fewer audit seals
        (measured on the suite: 50 -> 100 ms took its CPU 344 -> 325 s; 100 -> 250 ms its requests 55,464 ->
        50,749, and its workers' CPU 231 -> 216 s in one pair of runs, within this machine's noise)."""
        return min(POLL_SECONDS, max(MIN_POLL_SECONDS, POLL_SECONDS * settings.time_scale))

    def _acting(self) -> Any:
        from callrec.engine import authorization

        return authorization.acting_as(self.function.role_arn, f"{self.function.name}-event-source-mapping", self._life)

    def _open(self) -> bool:
        """Check the stream as the role and take a shard iterator per shard from the starting position (kept only the
        first time). False if the role may not read the stream."""
        from botocore.exceptions import ClientError

        source, client, arn = self.source, self._client, self.stream_arn
        with self._acting():
            try:
                # every enabling takes iterators, as the role (Lambda checks GetShardIterator then); enabled again,
                # the mapping goes on from where it was
                fresh = {
                    shard: source.iterator(client, arn, shard, self.starting_position)
                    for shard in source.shards(client, arn)
                }
                if self._iterators is None:
                    self._iterators = fresh
            except ClientError as err:
                log.warning("the mapping of %s cannot read %s: %s", self.function.name, arn, err)
                return False
            except Exception:  # noqa: BLE001 - a mapping never dies silently: logged, tried again
                log.exception("the mapping of %s failed opening %s", self.function.name, arn)
                return False
        return True

    def _run(self, opened: bool, again: set[str] | None) -> None:
        """`again`: the shards to read besides those written to; None: every shard."""
        from botocore.exceptions import ClientError

        while not self._stop.is_set():
            if not opened:
                opened, again = self._open(), None  # opened now, every shard is read at the next turn
                self._stop.wait(self._interval())
                continue
            with self._lock:  # a write from here on wakes the next wait
                written, self._written = self._written, set()
                self._wake.clear()
            iterators = self._iterators or {}
            full, failed = set(), set()
            with self._acting():
                for shard_id in [s for s in iterators if again is None or s in again or s in written]:
                    try:
                        iterators[shard_id], taken = self._poll(shard_id, iterators[shard_id])
                        if taken >= self.batch_size:
                            full.add(shard_id)
                    except ClientError as err:  # refused or throttled: the same records are read again
                        failed.add(shard_id)
                        log.warning("the mapping of %s could not read %s: %s", self.function.name, shard_id, err)
                    except Exception:  # noqa: BLE001 - a mapping never dies silently: logged, read again
                        failed.add(shard_id)
                        log.exception("the mapping of %s failed reading %s", self.function.name, shard_id)
            if full:  # more may be waiting there: read on at the polling pace
                again = full | failed
            else:  # all there was is read, or a read failed: wait for a write (a read then would find nothing)
                woken = self._wake.wait(RETRY_SECONDS if failed else IDLE_SECONDS)
                again = failed if woken or failed else None  # nothing written for a while: every shard once
            self._stop.wait(self._interval())

    def _poll(self, shard_id: str, iterator: str) -> tuple[str, int]:
        """Read and deliver one batch of the shard: (the next iterator, how many records were read)."""
        records, following = self.source.read(self._client, self.stream_arn, iterator, self.batch_size)
        left = self._deliver(shard_id, records) if records else None
        if left:  # disabled meanwhile: the shard's checkpoint stays at the first record not taken, as Lambda's does
            following = self.source.iterator(
                self._client, self.stream_arn, shard_id, "AT_SEQUENCE_NUMBER", self.source.sequence(left)
            )
        return following, len(records)

    def _deliver(self, shard_id: str, records: list[dict]) -> dict | None:
        """Invoke until the records are taken, retrying what failed in order (a function error with bisection
        splits what is left in two halves, each retried on its own); what exhausts its retries is dropped. The first
        record not taken if the mapping was disabled before it was (read again when it is enabled)."""
        pending: list[tuple[list[dict], int]] = [(records, 0)]  # (batch, retries it had)
        while pending and not self._stop.is_set():
            batch, retries = pending.pop(0)
            answer = self.function.invoke(
                {"Records": [self.source.event_record(self, shard_id, record) for record in batch]}
            )
            failed = self._failed_from(answer, batch)
            if failed is None:
                self.delivered += len(batch)
                continue
            self.delivered += failed
            rest = batch[failed:]
            if 0 <= self.max_retries <= retries:
                self.dropped += len(rest)
                log.warning("%d records of %s dropped after %d retries", len(rest), shard_id, retries)
                continue
            if self.bisect and "FunctionError" in answer and len(rest) > 1:
                half = len(rest) // 2
                pending[0:0] = [(rest[:half], retries + 1), (rest[half:], retries + 1)]
            else:
                pending.insert(0, (rest, retries + 1))
            self._stop.wait(self._interval())
        return pending[0][0][0] if pending else None

    def _failed_from(self, answer: dict, batch: list[dict]) -> int | None:
        """None if the whole batch succeeded; else how many records (from the front) succeeded."""
        if "FunctionError" in answer:
            return 0
        if not self.report_item_failures:
            return None
        failures = (answer.get("Payload") or {}).get("batchItemFailures") or []
        sequence = [self.source.sequence(record) for record in batch]
        failed = [sequence.index(f["itemIdentifier"]) for f in failures if f.get("itemIdentifier") in sequence]
        if len(failed) != len(failures):
            return 0  # an identifier that is not in the batch fails the whole batch, as Lambda treats it
        return min(failed) if failed else None


def written(stream_arn: str, shard_id: str) -> None:
    """A shard of a stream was written to (a Kinesis stream's ARN, or a table's: its stream's ARNs begin with it):
    its mappings read it now rather than at their next idle poll."""
    for mapping in list(settings.pollers):
        if mapping.stream_arn == stream_arn or mapping.stream_arn.startswith(f"{stream_arn}/stream/"):
            mapping.wake(shard_id)


def _wakes_mappings(written_to: Any) -> Any:
    """`written_to(self, result)`: the stream's ARN and the shard's id a write went to."""

    def make(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            written(*written_to(self, result))
            return result

        return write

    return make


RECORDS = (
    Patch(
        "stream-writes-wake-mappings",
        "moto.dynamodb.models.table:StreamShard.add",
        _wakes_mappings(lambda shard, _: (shard.table.table_arn, shard.id)),
        "local",
        "A change on a table's stream wakes the engine's event source mappings, so they read that shard at once and "
        "otherwise wait: polling every 50 ms, the idle mappings of every test stack took a sixth of the suite's CPU.",
        "local to the engine's mappings (moto runs no mapping for an in-process function)",
    ),
    Patch(
        "kinesis-writes-wake-mappings",
        "moto.kinesis.models:Stream.put_record",
        _wakes_mappings(lambda stream, result: (stream.arn, result[1])),  # (sequence number, shard id)
        "local",
        "A record put on a Kinesis stream (PutRecord and PutRecords both come here) wakes the engine's event source "
        "mappings, as a table's stream change does; they read the shard it went to (an on-demand stream has four).",
        "local to the engine's mappings (moto runs no mapping for an in-process function)",
    ),
)
