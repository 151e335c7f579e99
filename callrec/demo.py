"""`make demo`: real calls through the whole local stack, each with its timeline and final state.

Everything printed is read back from the run: the execution history (timeline, state transitions,
Lambda invocations), the session table and the audit table. Nothing is canned.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from moto import mock_aws

from callrec.history import (
    fetch_history,
    lambda_invocations,
    render_timeline,
    state_transitions,
    wait_for_execution,
)
from callrec.stack import Deployment, LocalStack, client

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}


@dataclass(frozen=True)
class Scenario:
    name: str
    provider: str
    description: str
    requests: tuple[dict, ...]  # started in order; the last one is the call reported


def _connect_call(contact_id: str) -> dict:
    return {"InstanceId": "demo-instance", "ContactId": contact_id, "InitialContactId": contact_id}


_CALLER_CA = {"number": "+14155550100", "role": "caller"}
_AGENT_TX = {"number": "+15125550199", "role": "agent"}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "connect-session-opened",
        "connect",
        "an Amazon Connect contact: the request is valid and the session opens",
        ({"provider": "connect", "call": _connect_call("contact-0001"), "parties": [_CALLER_CA, _AGENT_TX]},),
    ),
    Scenario(
        "chime-session-opened",
        "chime",
        "a Chime SDK SIP media application call: the session opens",
        (
            {
                "provider": "chime",
                "call": {
                    "SipMediaApplicationId": "demo-sma",
                    "TransactionId": "txn-0001",
                    "CallId": "call-0001",
                },
                "parties": [_CALLER_CA],
            },
        ),
    ),
    Scenario(
        "duplicate-start",
        "connect",
        "the same contact started twice: the second execution finds the session already open",
        (
            {"provider": "connect", "call": _connect_call("contact-0002"), "parties": [_CALLER_CA]},
            {"provider": "connect", "call": _connect_call("contact-0002"), "parties": [_CALLER_CA]},
        ),
    ),
    Scenario(
        "invalid-request",
        "connect",
        "a request with no parties: rejected by the workflow's own validation, nothing stored",
        ({"provider": "connect", "call": _connect_call("contact-0003")},),
    ),
)


def _last_state(events: list[dict]) -> str:
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return entered[-1] if entered else ""


def run_scenario(deployment: Deployment, scenario: Scenario) -> dict[str, Any]:
    sfn = client("stepfunctions")
    arn = deployment.state_machine_arn("RecordingSession")
    described: dict = {}
    events: list[dict] = []
    for request in scenario.requests:
        started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(request))
        described = wait_for_execution(sfn, started["executionArn"])
        events = fetch_history(sfn, started["executionArn"])
    output = json.loads(described.get("output") or "{}")
    session_id = output.get("sessionId")
    audit = []
    if session_id:
        audit = client("dynamodb").query(
            TableName=deployment.physical("AuditTable"),
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session_id}},
        )["Items"]
    return {
        "scenario": scenario.name,
        "provider": scenario.provider,
        "description": scenario.description,
        "execution_status": described["status"],
        "final_state": _last_state(events),
        "error": described.get("error"),
        "session_id": session_id,
        "audit_records": [item["event"]["S"] for item in audit],
        "state_transitions": state_transitions(events),
        "lambda_invocations": lambda_invocations(events),
        "timeline": render_timeline(events),
    }


def run(as_json: bool = False, out: TextIO = sys.stdout) -> list[dict[str, Any]]:
    with mock_aws(config=MOTO_CONFIG):
        deployment = LocalStack(parameter_overrides={"LogLevel": "WARNING"}).deploy()
        results = [run_scenario(deployment, scenario) for scenario in SCENARIOS]
    if as_json:
        out.write(json.dumps([{k: v for k, v in r.items() if k != "timeline"} for r in results], indent=2) + "\n")
        return results
    for result in results:
        out.write(f"\n== {result['scenario']} ({result['provider']}): {result['description']}\n")
        out.write(result["timeline"] + "\n")
        out.write(
            f"  final state: {result['final_state']} [{result['execution_status']}"
            + (f", error {result['error']}" if result["error"] else "")
            + f"]  transitions: {result['state_transitions']}  lambda invocations: {result['lambda_invocations']}"
            + f"  audit: {', '.join(result['audit_records']) or '-'}\n"
        )
    return results
