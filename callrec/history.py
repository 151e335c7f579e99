"""Read an execution the way an operator would: wait for it, fetch its history, print its timeline.

The figures printed by the demo and the benchmarks (state transitions, Lambda invocations) are counted
here from the real execution history, never written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callrec.waiting import eventually

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def wait_for_execution(sfn, execution_arn: str, timeout: float = 30.0) -> dict:
    """Wait until the execution ends; return `describe_execution`'s answer (StillWaiting at the deadline)."""
    return eventually(
        lambda: sfn.describe_execution(executionArn=execution_arn),
        lambda described: described["status"] in TERMINAL,
        timeout,
        f"{execution_arn} to end",
        show=lambda described: described["status"],
    )


def fetch_history(sfn, execution_arn: str) -> list[dict]:
    events: list[dict] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**request)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        request["nextToken"] = page["nextToken"]


def _details(event: dict) -> dict:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


@dataclass(frozen=True)
class TimelineEntry:
    offset_ms: int
    event_type: str
    state: str
    detail: str


SCHEDULED = {"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"}  # one per attempt of a task


def state_transitions(events: list[dict]) -> int:
    """Billed state transitions: every state entered, and every retry (Standard workflows are priced per state
    transition, retries included). A task scheduled again within one entry of its state is a retry."""
    billed = attempts = 0
    for event in events:
        if event["type"].endswith("StateEntered"):
            billed, attempts = billed + 1, 0
        elif event["type"] in SCHEDULED:
            attempts += 1
            billed += attempts > 1
    return billed


def states_entered(events: list[dict]) -> list[str]:
    """The states the execution entered, in order (a state entered again appears again)."""
    return [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]


def lambda_invocations(events: list[dict]) -> int:
    return sum(
        1
        for event in events
        if event["type"] == "LambdaFunctionScheduled"
        or (event["type"] == "TaskScheduled" and _details(event).get("resourceType") == "lambda")
    )


def timeline(events: list[dict]) -> list[TimelineEntry]:
    """One entry per state entered, per task outcome, and per execution outcome."""
    if not events:
        return []
    start: datetime = events[0]["timestamp"]
    entries = []
    for event in events:
        kind = event["type"]
        details = _details(event)
        if kind.endswith("StateEntered"):
            detail = ""
        elif kind in {"TaskScheduled"}:
            detail = f"{details.get('resourceType')}:{details.get('resource')}"
        elif kind.endswith("Failed") or kind.endswith("TimedOut") or kind.endswith("Aborted"):
            detail = details.get("error", "")
        elif kind in {"ExecutionSucceeded", "TaskSucceeded", "WaitStateExited", "ExecutionStarted"}:
            detail = ""
        else:
            continue
        entries.append(
            TimelineEntry(
                offset_ms=int((event["timestamp"] - start).total_seconds() * 1000),
                event_type=kind,
                state=details.get("name", ""),
                detail=detail,
            )
        )
    return entries


def render_timeline(events: list[dict]) -> str:
    return "\n".join(
        f"  +{entry.offset_ms:>6} ms  {entry.event_type:<28} {entry.state:<24} {entry.detail}".rstrip()
        for entry in timeline(events)
    )
