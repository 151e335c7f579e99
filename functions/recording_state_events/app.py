"""RecordingStateChanged: every change of a call's recording state (OFF, ON, SUSPENDED, STOPPED, and why:
callrec_shared.recording_state) is an EventBridge event on the verdict bus. It is read from the sessions table's
stream (new and old images), so nothing can change the state without its event and the workflow spends no state
transition on it.

A batch's changes go to the bus ten at a time (PutEvents' most entries per call); if the bus does not take one,
the function names that change as the batch's failure, so Lambda reads the stream again from it, in order (the
changes after it may then be sent twice: a consumer keys on sessionId and since). A record that is not a session
is logged without its values and skipped, so it never blocks the stream.

The event: source `callrec.sessions`, detail-type `RecordingStateChanged`, detail `{sessionId, provider,
recordingState, previous}` (`previous` is null for a new session). Never a sensitive value: the state, its
category, its time, and the session's own outcome words.

The verdict, the moment VerifyRecording saves it on the session (`verifiedAt` appears), is an event too: source
`callrec.recordings`, detail-type `RecordingVerified`, `RecordingAbsent` (no recording was made) or
`RecordingVerificationFailed`, detail `{sessionId, verification, reason, executionArn, recording, attestation}`.
So the workflow spends no state transition on it either, and a bus that is down delays the verdict's event
instead of losing it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from callrec_shared import recording_state, sessions
from callrec_shared.aws import client

logger = Logger(service="callrec")
SOURCE, DETAIL_TYPE = "callrec.sessions", "RecordingStateChanged"
VERDICT_SOURCE = "callrec.recordings"
VERDICT_DETAIL_TYPES = {"VERIFIED": "RecordingVerified", "ABSENT": "RecordingAbsent"}  # any other: failed
PUT_EVENTS_MOST = 10  # entries per PutEvents call (EventBridge quota)


def _session(image: dict[str, Any] | None) -> dict[str, Any] | None:
    return sessions.from_dynamodb(image) if image else None


def _event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "EventBusName": os.environ["VERDICT_BUS_NAME"],
    }


def state_change(before_item: dict[str, Any] | None, after_item: dict[str, Any]) -> dict[str, Any] | None:
    """The RecordingStateChanged event, or None if the recording state did not change."""
    before = recording_state.of(before_item) if before_item else None
    after = recording_state.of(after_item)
    if not recording_state.changed(before, after):
        return None
    detail = {
        "sessionId": after_item["sessionId"],
        "provider": after_item.get("provider"),
        "recordingState": after,
        "previous": before and {key: before[key] for key in ("state", "reason") if key in before},
    }
    return _event(SOURCE, DETAIL_TYPE, detail)


def verdict(before_item: dict[str, Any] | None, after_item: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict's event when this change saved it (the session's `verifiedAt` appeared), else None."""
    if "verifiedAt" not in after_item or (before_item and "verifiedAt" in before_item):
        return None
    status = after_item["verification"]
    return _event(
        VERDICT_SOURCE,
        VERDICT_DETAIL_TYPES.get(status, "RecordingVerificationFailed"),
        {
            "sessionId": after_item["sessionId"],
            "verification": status,
            "reason": after_item.get("verificationReason", ""),
            "executionArn": after_item.get("verificationExecutionArn", ""),
            "recording": after_item.get("verifiedObject", ""),
            "attestation": after_item.get("attestation", ""),
        },
    )


def entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The events for one stream record: its recording state's change and its verdict, each if there is one."""
    images = record["dynamodb"]
    after_item = _session(images.get("NewImage"))
    if after_item is None:
        return []  # a session removed: not a recording state
    before_item = _session(images.get("OldImage"))
    return [event for event in (state_change(before_item, after_item), verdict(before_item, after_item)) if event]


def _changes(records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(sequence number, event) for each event the records make, in order."""
    found = []
    for record in records:
        try:
            events = entries(record)
        except Exception:  # noqa: BLE001 - one strange record must not block the stream
            logger.exception("not a session record; skipped", extra={"eventName": record.get("eventName")})
            continue
        found.extend((record["dynamodb"]["SequenceNumber"], event) for event in events)
    return found


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    changes = _changes(event["Records"])
    for start in range(0, len(changes), PUT_EVENTS_MOST):
        chunk = changes[start : start + PUT_EVENTS_MOST]
        try:
            answer = client("events").put_events(Entries=[change for _, change in chunk])
        except ClientError:
            logger.exception("the bus did not take the changes; Lambda reads them again")
            return {"batchItemFailures": [{"itemIdentifier": chunk[0][0]}]}
        refused = [
            sequence for (sequence, _), result in zip(chunk, answer["Entries"], strict=True) if "ErrorCode" in result
        ]
        if refused:
            logger.warning("the bus refused a change; Lambda reads it again", extra={"refused": len(refused)})
            return {"batchItemFailures": [{"itemIdentifier": refused[0]}]}
    return {"batchItemFailures": []}
