"""Lambda's event source mapping for a Kinesis data stream, run by the engine (moto keeps the stream; it runs no
mappings for in-process functions).

As the Lambda Developer Guide describes Kinesis polling ("Polling and batching streams", "Configuring partial
batch response"): each shard is read in order from the mapping's starting position, as the function's execution
role (so its Kinesis grants are checked); a batch of up to `BatchSize` records is one synchronous invocation; a
function error retries the same batch, up to `MaximumRetryAttempts`, halved each time with
`BisectBatchOnFunctionError`; with `ReportBatchItemFailures` the function names its failed records and the
shard is read again from the first of them. Records past their retries are dropped (with no on-failure
destination, as Lambda does) and counted. A shard is polled about once a second, scaled by the engine's time
scale (tests run it every few milliseconds).
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from callrec.engine.runtime import LambdaFunction, settings

log = logging.getLogger("callrec.engine.streams")
POLL_SECONDS = 1.0
MIN_POLL_SECONDS = 0.05


@dataclass
class KinesisMapping:
    function: LambdaFunction
    stream_arn: str
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
    _kinesis: Any = field(default=None, repr=False)

    def start(self) -> None:
        """Check the stream and open its shards now, as the function's role (Lambda checks the role's Kinesis
        permissions when a mapping is enabled), then poll in the background. A refusal is logged and retried."""
        import boto3

        self._stop.clear()
        self._kinesis = boto3.client(
            "kinesis",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iterators = self._open()
        self._thread = threading.Thread(
            target=self._run, args=(iterators,), daemon=True, name=f"esm-{self.function.name}"
        )
        self._thread.start()
        if self not in settings.pollers:
            settings.pollers.append(self)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def restart(self) -> None:
        """Disable and enable the mapping again: it checks the role again and reads from its starting position."""
        self.stop()
        self.start()

    def _interval(self) -> float:
        """About once a second, scaled; never more often than every 50 ms (each poll is a request to moto: at
        10 ms, every deployed test stack's idle pollers took a measurable share of the suite's CPU)."""
        return min(POLL_SECONDS, max(MIN_POLL_SECONDS, POLL_SECONDS * settings.time_scale))

    def _acting(self) -> Any:
        from callrec.engine import authorization

        return authorization.acting_as(self.function.role_arn, f"{self.function.name}-event-source-mapping")

    def _open(self) -> dict[str, str] | None:
        """A shard iterator per shard from the starting position; None if the role may not read the stream."""
        from botocore.exceptions import ClientError

        kinesis = self._kinesis
        with self._acting():
            try:
                kinesis.describe_stream_summary(StreamARN=self.stream_arn)
                kinesis.describe_stream(StreamARN=self.stream_arn, Limit=1)
                return {
                    shard["ShardId"]: kinesis.get_shard_iterator(
                        StreamARN=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=self.starting_position
                    )["ShardIterator"]
                    for shard in kinesis.list_shards(StreamARN=self.stream_arn)["Shards"]
                }
            except ClientError as err:
                log.warning("the mapping of %s cannot read %s: %s", self.function.name, self.stream_arn, err)
                return None

    def _run(self, iterators: dict[str, str] | None) -> None:
        from botocore.exceptions import ClientError

        while not self._stop.is_set():
            if iterators is None:
                iterators = self._open()
            else:
                with self._acting():
                    for shard_id, iterator in list(iterators.items()):
                        try:
                            iterators[shard_id] = self._poll(self._kinesis, shard_id, iterator)
                        except ClientError as err:  # refused or throttled: the same records are read again
                            log.warning("the mapping of %s could not read %s: %s", self.function.name, shard_id, err)
            self._stop.wait(self._interval())

    def _poll(self, kinesis: Any, shard_id: str, iterator: str) -> str:
        answer = kinesis.get_records(StreamARN=self.stream_arn, ShardIterator=iterator, Limit=self.batch_size)
        records = answer["Records"]
        if records:
            self._deliver(shard_id, records)
        return str(answer["NextShardIterator"])

    def _deliver(self, shard_id: str, records: list[dict]) -> None:
        """Invoke until the batch is taken, retrying what failed in order; what exhausts its retries is dropped."""
        retries, batch = 0, records
        while batch and not self._stop.is_set():
            answer = self.function.invoke(self._event(shard_id, batch))
            failed = self._failed_from(answer, batch)
            if failed is None:
                self.delivered += len(batch)
                return
            self.delivered += failed
            retries += 1
            if 0 <= self.max_retries < retries:
                self.dropped += len(batch) - failed
                log.warning("%d records of %s dropped after %d retries", len(batch) - failed, shard_id, retries - 1)
                return
            batch = batch[failed:]
            if self.bisect and "FunctionError" in answer and len(batch) > 1:
                batch = batch[: len(batch) // 2]  # the rest is read again with the next poll of the shard
            self._stop.wait(self._interval())

    def _failed_from(self, answer: dict, batch: list[dict]) -> int | None:
        """None if the whole batch succeeded; else how many records (from the front) succeeded."""
        if "FunctionError" in answer:
            return 0
        if not self.report_item_failures:
            return None
        failures = (answer.get("Payload") or {}).get("batchItemFailures") or []
        sequence = [record["SequenceNumber"] for record in batch]
        failed = [sequence.index(f["itemIdentifier"]) for f in failures if f.get("itemIdentifier") in sequence]
        if len(failed) != len(failures):
            return 0  # an identifier that is not in the batch fails the whole batch, as Lambda treats it
        return min(failed) if failed else None

    def _event(self, shard_id: str, batch: list[dict]) -> dict:
        return {
            "Records": [
                {
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
                    "invokeIdentityArn": self.function.role_arn or "",
                    "awsRegion": self.region,
                    "eventSourceARN": self.stream_arn,
                }
                for record in batch
            ]
        }
