"""Pause on hold: reads Amazon Connect's agent event stream (Kinesis) and asks the customer's recording session
for a window with the reason `hold` when the agent puts the customer on hold, and for its end when the agent
takes them off hold (callrec_shared.holds). The window follows the signal queue's rules: a hold joins a window
already open for a card number and never resumes over it.

Records are processed with Powertools' batch utility and report partial failures, so a record that could not be
queued (the store throttled) is retried from where it failed, in order; a record that is not a valid agent
event, or a contact this deployment does not record, is logged without its values and skipped.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from callrec_shared import holds, sessions
from callrec_shared.identity import session_id_for
from callrec_shared.validation import InvalidRequest, configured_call_sources, validate

logger = Logger(service="callrec")
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
ACTOR = "agent-events"


def apply(change: holds.HoldChange) -> str:
    """Queue the hold's window signal for the contact's session; what became of it."""
    session_id = session_id_for(
        {
            "provider": "connect",
            "call": {"InstanceId": change.instance_id, "InitialContactId": change.initial_contact_id},
        }
    )
    try:
        outcome = sessions.request(
            session_id,
            change.kind,
            actor=ACTOR,
            key=change.idempotency_key,
            contact_id=change.contact_id,
            reason="hold",
        )
    except sessions.SessionNotFound:
        return "no session"  # a contact this deployment does not record
    except sessions.SessionEnded:
        return "session ended"
    return "repeat" if outcome["duplicate"] else "queued"


def record_handler(record: KinesisStreamRecord) -> None:
    try:
        event = validate(json.loads(record.kinesis.data_as_text()), "agent_event")
    except (InvalidRequest, ValueError) as err:
        field = err.field if isinstance(err, InvalidRequest) else "(payload)"
        logger.warning(
            "not an agent event; skipped", extra={"field": field, "sequence": record.kinesis.sequence_number}
        )
        return
    configured = configured_call_sources()["connect"]
    for change in holds.changes(event):
        if configured and change.instance_id != configured:
            logger.warning("an agent event of another Connect instance; skipped")
            continue
        try:
            outcome = apply(change)
        except Exception:
            logger.exception("could not queue the hold's signal; Lambda reads the record again")
            raise
        logger.info("hold", extra={"kind": change.kind, "outcome": outcome})


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
