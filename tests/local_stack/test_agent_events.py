"""The AgentEvents entry point (pause on hold) on what Kinesis can hand it: the same record twice (Kinesis delivers
at least once), records that are not agent events, another instance's agents, a contact this deployment does not
record, and a record that cannot be queued now (the store throttled), which is reported for a retry from it."""

from __future__ import annotations

import base64
import json

from botocore.exceptions import ClientError

from callrec import demo
from callrec_shared import sessions


def _batch(*payloads: bytes) -> dict:
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "agent",
                    "sequenceNumber": f"{index:056d}",
                    "data": base64.b64encode(payload).decode(),
                    "approximateArrivalTimestamp": 1.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{index:056d}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/callrec-AgentEventStream",
            }
            for index, payload in enumerate(payloads, start=1)
        ]
    }


def _held(centre, call) -> dict:
    """The agent event Connect writes when the agent puts the customer on hold (kept from the stream)."""
    captured: list[dict] = []
    centre.sim.connect.agent_events = lambda event, key: captured.append(event)
    centre.sim.connect.hold(call.contact_id)
    return captured[0]


def _invoke(centre, event: dict) -> dict:
    answer = centre.function("AgentEvents").invoke(event)
    assert "FunctionError" not in answer, answer
    return answer["Payload"]


def test_a_record_delivered_twice_queues_one_signal(centre):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    record = json.dumps(_held(centre, call)).encode()
    assert _invoke(centre, _batch(record, record)) == {"batchItemFailures": []}
    assert [(s["kind"], s["by"], s["windowReason"]) for s in centre.signals(call.session_id)] == [
        ("suspend", "agent-events", "hold")
    ]


def test_what_is_not_a_hold_of_a_recorded_call_is_skipped_without_its_values(centre, caplog):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    event = _held(centre, call)
    other_instance = {**event, "InstanceARN": event["InstanceARN"].rsplit("/", 1)[0] + "/other-instance"}
    unrecorded = json.loads(json.dumps(event))
    unrecorded["CurrentAgentSnapshot"]["Contacts"][0]["ContactId"] = "a-contact-nobody-records"
    bad = {**event, "EventType": "4111111111111111"}
    payloads = [b"not json", json.dumps(bad).encode(), json.dumps(other_instance).encode()]
    answer = _invoke(centre, _batch(*payloads, json.dumps(unrecorded).encode()))
    assert answer == {"batchItemFailures": []}
    assert centre.signals(call.session_id) == []
    skipped = [r for r in caplog.records if r.getMessage() == "not an agent event; skipped"]
    assert [getattr(r, "field", None) for r in skipped] == ["(payload)", "EventType"]  # the field, not the value
    assert "4111111111111111" not in caplog.text + "".join(str(r.__dict__) for r in caplog.records)


def test_a_record_that_cannot_be_queued_now_is_reported_for_a_retry(centre, monkeypatch):
    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    record = json.dumps(_held(centre, call)).encode()
    request = sessions.request

    def throttled(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "x")

    monkeypatch.setattr(sessions, "request", throttled)
    heartbeat = json.dumps({**json.loads(record), "EventType": "HEART_BEAT"}).encode()
    answer = _invoke(centre, _batch(heartbeat, record))  # (a batch whose every record fails is a function error)
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"{2:056d}"}]}
    monkeypatch.setattr(sessions, "request", request)
    assert _invoke(centre, _batch(record)) == {"batchItemFailures": []}  # Lambda's retry of it
    assert [s["kind"] for s in centre.signals(call.session_id)] == ["suspend"]
