"""`make demo`: real calls through the whole local stack, each with its timeline and final state.

Every call is played through the telephony twin and the project's own entry points (the contact-flow
Lambda, the SMA Lambda); everything printed is read back from the run: the execution history (states,
transitions, Lambda invocations), the session and audit tables, the twin's record and the recording
object in S3. Nothing is canned.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, TextIO

from moto import mock_aws

from callrec import engine
from callrec.callcentre import Call, LocalCallCentre
from callrec.history import lambda_invocations, render_timeline, state_transitions

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
DEMO_TIME_SCALE = 0.001  # Wait/Retry seconds in the demo pass a thousand times faster

TEXAS_CALLER, CALIFORNIA_CALLER = "+15125550100", "+14155550123"
CENTRE_TOLL_FREE, CENTRE_TEXAS = "+18005550199", "+15125550199"


def connect_notice(centre: LocalCallCentre) -> Call:
    """A Connect contact from Texas to a Texas centre: one-party, so a notice; the flow plays it."""
    call = centre.connect_call(TEXAS_CALLER, CENTRE_TOLL_FREE)
    centre.sim.connect.agent_joins(call.contact_id)
    answer = centre.contact_flow(call, "start", centreJurisdiction="US-TX")
    call.session_id = answer["sessionId"]
    centre.sim.clock.advance(4.0)  # the flow plays the notice
    centre.contact_flow(call, "consent", answer="heard")
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.sim.clock.advance(45.0)  # customer and agent talk
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def connect_before_agent(centre: LocalCallCentre) -> Call:
    """Recording is started while the customer is still in the IVR: it begins when the agent joins."""
    call = centre.connect_call(TEXAS_CALLER, CENTRE_TEXAS)
    call.session_id = centre.contact_flow(call, "start")["sessionId"]
    centre.sim.clock.advance(4.0)
    centre.contact_flow(call, "consent", answer="heard")
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.sim.clock.advance(20.0)  # still queued for an agent: nothing is recorded yet
    centre.sim.connect.agent_joins(call.contact_id)
    centre.sim.clock.advance(30.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def chime_opt_in(answer: str) -> Callable[[LocalCallCentre], Call]:
    def play(centre: LocalCallCentre) -> Call:
        call = centre.chime_call(CALIFORNIA_CALLER, CENTRE_TEXAS, answers=[answer])
        centre.wait_for_status(call.session_id, "RECORDING", "NOT_RECORDED", "FAILED")
        centre.sim.chime.talk(call.transaction_id, 30.0)
        centre.sim.chime.hang_up(call.transaction_id)
        centre.sim.chime.wait_idle(call.transaction_id)
        return call

    play.__doc__ = (
        f"A Chime call from California (all-party): the SMA asks for opt-in and the caller presses {answer}."
    )
    return play


def chime_no_access(centre: LocalCallCentre) -> Call:
    """A deployment whose recording bucket does not grant the Chime service principal: the caller opts
    in, StartCallRecording fails with NoAccessToDestination, and the session records the failure."""
    previous = centre.recording_bucket_policy(None)
    try:
        return chime_opt_in("1")(centre)
    finally:
        centre.recording_bucket_policy(previous)


@dataclass(frozen=True)
class Scenario:
    name: str
    provider: str
    play: Callable[[LocalCallCentre], Call]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("connect-notice", "connect", connect_notice),
    Scenario("chime-opt-in-accepted", "chime", chime_opt_in("1")),
    Scenario("chime-opt-in-declined", "chime", chime_opt_in("2")),
    Scenario("chime-no-access-to-destination", "chime", chime_no_access),
    Scenario("connect-started-before-agent", "connect", connect_before_agent),
)


def _last_state(events: list[dict]) -> str:
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return entered[-1] if entered else ""


def report(centre: LocalCallCentre, scenario: Scenario, call: Call) -> dict[str, Any]:
    described, events = centre.finish(call.session_id)
    centre.sim.delivery.wait()
    session = centre.session(call.session_id) or {}
    location = session.get("recordingLocation")
    twin = centre.sim.connect.describe(call.contact_id) if call.contact_id else centre.sim.chime.describe(call.transaction_id)
    if call.provider == "connect":  # Connect names the object only when it delivers it
        location = (twin["Recordings"] or [{}])[0].get("Location")
    landed = centre.recording_object(location) if location else None
    return {
        "scenario": scenario.name,
        "provider": scenario.provider,
        "description": (scenario.play.__doc__ or "").strip(),
        "session_id": call.session_id,
        "execution_status": described["status"],
        "final_state": _last_state(events),
        "session_status": session.get("status"),
        "outcome_reason": session.get("outcomeReason"),
        "consent": {k: session.get("consent", {}).get(k) for k in ("decision", "reason", "policyVersion", "promptVersion")},
        "consent_answer": session.get("consentAnswer"),
        "recording_location": location if landed else None,
        "recording_bytes": landed["ContentLength"] if landed else 0,
        "state_transitions": state_transitions(events),
        "lambda_invocations": lambda_invocations(events),
        "entry_point_invocations": len(call.entry_point_answers) or len(twin.get("Invocations", [])),
        "audit": [f"{a['actor']}:{a['event']}" for a in centre.audit(call.session_id)],
        "provider_record": [e["event"] for e in twin["Log"]] if call.contact_id
        else [f"{a['Type']}:{a['Outcome']}" for a in twin["Executed"]],
        "timeline": render_timeline(events),
    }


def run(as_json: bool = False, out: TextIO = sys.stdout) -> list[dict[str, Any]]:
    engine.install()
    engine.settings.time_scale = DEMO_TIME_SCALE
    with mock_aws(config=MOTO_CONFIG):
        centre = LocalCallCentre()
        results = [report(centre, scenario, scenario.play(centre)) for scenario in SCENARIOS]
    if as_json:
        out.write(json.dumps([{k: v for k, v in r.items() if k != "timeline"} for r in results], indent=2) + "\n")
        return results
    for result in results:
        out.write(f"\n== {result['scenario']} ({result['provider']})\n   {result['description']}\n")
        out.write(f"   consent: {result['consent']['decision']} ({result['consent']['reason']}); "
                  f"answer: {(result['consent_answer'] or {}).get('answer', '-')}\n")
        out.write(result["timeline"] + "\n")
        out.write("   audit: " + ", ".join(result["audit"]) + "\n")
        out.write(f"   {result['provider']} was asked: " + ", ".join(result["provider_record"]) + "\n")
        out.write(
            f"   final state: {result['final_state']} [{result['execution_status']}; session {result['session_status']}: "
            f"{result['outcome_reason']}]\n"
            f"   recording: {result['recording_location'] or 'none'}"
            + (f" ({result['recording_bytes']} bytes)" if result["recording_bytes"] else "")
            + f"\n   state transitions: {result['state_transitions']}, Lambda invocations by the workflow: "
            f"{result['lambda_invocations']}\n"
        )
    return results
