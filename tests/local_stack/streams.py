"""What a stream's event source mapping has yet to take: a test waits for that to be nothing, not for a delivery
count to move (a record written before the test, delivered after its count was taken, would move it first)."""

from __future__ import annotations

from callrec.engine.streams import StreamMapping, stream_client

PAGE = 1000  # GetRecords' largest Limit on a DynamoDB stream (a Kinesis one allows 10,000)


def unread(mapping: StreamMapping) -> int:
    """The records of the mapping's stream it has neither taken nor dropped, read as the tests' own principal (the
    mapping's function may have lost its grants). The mapping counts from its first opening at LATEST, before
    the deployment's first write."""
    source, arn = mapping.source, mapping.stream_arn
    reader = stream_client(source.service, mapping.region, mapping.endpoint_url)  # the one the mapping reads with
    written = 0
    for shard_id in source.shards(reader, arn):
        iterator = source.iterator(reader, arn, shard_id, "TRIM_HORIZON")
        while True:
            records, iterator = source.read(reader, arn, iterator, PAGE)
            if not records:
                break
            written += len(records)
    return written - mapping.delivered - mapping.dropped
