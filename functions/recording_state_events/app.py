"""RecordingStateChanged: every change of a call's recording state (OFF, ON, SUSPENDED, STOPPED, and why:
callrec_shared.recording_state) is an EventBridge event on the verdict bus. It is read from the sessions table's
stream (new and old images), so nothing can change the state without its event and the workflow spends no state
transition on it; a change the bus did not take is reported as a batch item failure and read again, in order.

The event: source `callrec.sessions`, detail-type `RecordingStateChanged`, detail `{sessionId, provider,
recordingState, previous}` (`previous` is null for a new session). Never a sensitive value: the state, its
category, its time, and the session's own outcome words.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeDeserializer

from callrec_shared import recording_state
from callrec_shared.aws import client

logger = Logger(service="callrec")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
SOURCE, DETAIL_TYPE = "callrec.sessions", "RecordingStateChanged"
_deserializer = TypeDeserializer()


def _session(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if not image:
        return None
    return {key: _deserializer.deserialize(value) for key, value in image.items()}


def record_handler(record: DynamoDBRecord) -> None:
    images = record.raw_event["dynamodb"]
    after_item = _session(images.get("NewImage"))
    if after_item is None:
        return  # a session removed: not a recording state
    before_item = _session(images.get("OldImage"))
    before = recording_state.of(before_item) if before_item else None
    after = recording_state.of(after_item)
    if not recording_state.changed(before, after):
        return
    detail = {
        "sessionId": after_item["sessionId"],
        "provider": after_item.get("provider"),
        "recordingState": after,
        "previous": before and {key: before[key] for key in ("state", "reason") if key in before},
    }
    answer = client("events").put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(detail),
                "EventBusName": os.environ["VERDICT_BUS_NAME"],
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"the bus did not take the event: {answer['Entries'][0].get('ErrorCode')}")
    logger.info("recording state changed", extra={"state": after["state"], "reason": after["reason"]})


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
