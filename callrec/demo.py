"""`make demo`: real calls through the whole local stack, each with its timeline and final state.

Every call is played through the telephony twin and the project's own entry points (the contact-flow
Lambda, the SMA Lambda); everything printed is read back from the run: the execution history (states,
transitions, Lambda invocations), the session and audit tables, the twin's record and the recording
object in S3. Nothing is canned.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from callrec.callcentre import Call, LocalCallCentre
from callrec.history import lambda_invocations, render_timeline, state_transitions, states_entered
from callrec.runtime import LocalRuntime

DEMO_TIME_SCALE = 0.001  # Wait/Retry seconds in the demo pass a thousand times faster

TEXAS_CALLER, CALIFORNIA_CALLER = "+15125550100", "+14155550123"
CENTRE_TOLL_FREE, CENTRE_TEXAS = "+18005550199", "+15125550199"


def connect_notice(centre: LocalCallCentre) -> Call:
    """A Connect contact from Texas to a Texas centre: one-party, so a notice; the flow plays it."""
    call = centre.connect_call(TEXAS_CALLER, CENTRE_TOLL_FREE)
    centre.sim.connect.agent_joins(call.contact_id)
    answer = centre.contact_flow(call, "start", centreJurisdiction="US-TX")
    call.session_id = answer["sessionId"]
    centre.flow_plays_consent(call)
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.sim.clock.advance(45.0)  # customer and agent talk
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def connect_before_agent(centre: LocalCallCentre) -> Call:
    """Recording is started while the customer is still in the IVR: it begins when the agent joins."""
    call = centre.connect_call(TEXAS_CALLER, CENTRE_TEXAS)
    call.session_id = centre.contact_flow(call, "start")["sessionId"]
    centre.flow_plays_consent(call)
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
        centre.chime_hang_up(call, after=30.0)
        return call

    play.__doc__ = f"A Chime call from California (all-party): the SMA asks for opt-in and the caller presses {answer}."
    return play


CARD_NUMBER = "4111111111111111"  # a test card number: the simulated caller types it, nothing may keep it
# The payment IVR's prompt before the card number and its thanks after it. The card entry lies well inside the
# window, as on a real line: the recording's placement on the session's timeline is uncertain by the stack's
# latency, and verification checks only what surely lies in the window.
IVR_PROMPT_SECONDS = 1.5


def _take_card(centre: LocalCallCentre, call: Call, key: str) -> None:
    """The contact flow's payment step: suspend (confirmed), the card keyed in, resume."""
    if centre.contact_flow(call, "suspend", idempotencyKey=f"{key}-suspend")["suspended"] == "true":
        centre.sim.clock.advance(IVR_PROMPT_SECONDS)  # "please key in your card number"
        centre.sim.connect.caller_types(call.contact_id, CARD_NUMBER)  # only once suspension is confirmed
        centre.sim.clock.advance(IVR_PROMPT_SECONDS)  # "thank you, that card is accepted"
    centre.contact_flow(call, "resume", idempotencyKey=f"{key}-resume")


def connect_payment(centre: LocalCallCentre) -> Call:
    """A Connect payment: consent, recording, the flow suspends (confirmed), the customer types the card
    number, the flow resumes (confirmed), the call goes on and ends. The digits land in a silent span."""
    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    centre.sim.clock.advance(20.0)
    _take_card(centre, call, "pay-1")
    centre.sim.clock.advance(15.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def connect_payment_after_transfer(centre: LocalCallCentre) -> Call:
    """The customer is transferred to the payments team (a new ContactId on the same InitialContactId), whose flow
    suspends recording on the contact it runs for: the card is silent in the chain's one recording."""
    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    centre.sim.clock.advance(10.0)
    call.contact_id = centre.sim.connect.transfer(call.contact_id)  # the payments queue's flow runs from here
    centre.sim.clock.advance(5.0)
    _take_card(centre, call, "pay-2")
    centre.sim.clock.advance(10.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


CALIFORNIA_PARTY = "+14155550188"


def connect_conference_to_california(centre: LocalCallCentre) -> Call:
    """A notice-only Texas call: the agent conferences in a California number (all-party consent). The rule becomes
    opt-in, so recording is suspended (confirmed) while the new party is asked; they accept, and recording resumes."""
    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    centre.sim.clock.advance(10.0)
    joined = centre.contact_flow(call, "join", partyNumber=CALIFORNIA_PARTY)
    if joined.get("suspended") == "true":
        centre.sim.clock.advance(6.0)  # the opt-in prompt, played to the new party
        centre.contact_flow(call, "joinConsent", partyId=joined["partyId"], answer="accepted")
    centre.sim.clock.advance(10.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def chime_outbound(centre: LocalCallCentre) -> Call:
    """The SIP media application calls a Californian customer (CreateSipMediaApplicationCall): once they answer,
    they are asked to opt in (all-party consent), accept, and the call is recorded."""
    call = centre.chime_outbound_call(CALIFORNIA_CALLER, CENTRE_TEXAS, answers=["1"])
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.chime_hang_up(call, after=20.0)
    return call


def chime_bridged_to_california(centre: LocalCallCentre) -> Call:
    """A notice-only Texas call on the SIP media application: the agent desktop asks it to bridge a California
    number (CallAndBridge). All-party consent there, so the recording is paused first, the Californian is bridged
    into the paused call and asked on their own leg (LEG-B); they accept and the recording resumes, each party on
    their own channel."""
    call = centre.chime_call(TEXAS_CALLER, CENTRE_TEXAS, answers=[])
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.chime.talk(call.transaction_id, 10.0)
    centre.chime_bridge(call, CALIFORNIA_PARTY, keys=["1"])
    centre.wait_for_party_answer(call.session_id)
    centre.wait_for_window_closed(call.session_id)  # the recording resumed (ON alone: also before the pause)
    centre.chime_hang_up(call, after=15.0)
    return call


def connect_on_hold(centre: LocalCallCentre) -> Call:
    """Pause on hold: the agent puts the customer on hold for 20 s and goes on talking (to a colleague), which
    Connect would record. Connect's agent event stream tells the stack, which suspends the recording until the
    customer is back; the hold is silent in the recording."""
    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    centre.sim.clock.advance(15.0)
    centre.sim.connect.hold(call.contact_id)
    centre.wait_for_recording(call.session_id, "SUSPENDED")
    centre.sim.clock.advance(20.0)
    centre.sim.connect.resume_from_hold(call.contact_id)
    centre.wait_for_recording(call.session_id, "ON")
    centre.sim.clock.advance(10.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def connect_card_not_paused(centre: LocalCallCentre) -> Call:
    """The most common PCI failure: the customer types the card number and nobody asked for a window, so it
    is recorded. VerifyRecording's scan hears the run of key presses: FAILED dtmf-outside-windows, with the
    times and channel in the report (never the digits)."""
    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    centre.sim.clock.advance(15.0)
    centre.sim.connect.caller_types(call.contact_id, CARD_NUMBER)
    centre.sim.clock.advance(10.0)
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    return call


def chime_payment(centre: LocalCallCentre) -> Call:
    """A Chime payment: the caller opts in, the payment system asks for a window through the API, the
    SMA pauses recording (confirmed), the caller keys in the card number, the window closes."""
    from callrec_shared import sessions

    call = centre.chime_call(CALIFORNIA_CALLER, CENTRE_TEXAS, answers=["1"])
    centre.wait_for_status(call.session_id, "RECORDING")
    centre.sim.chime.talk(call.transaction_id, 20.0)
    centre.sim.chime.wait_idle(call.transaction_id)
    deadline = float(centre.deployment.resolver.parameters["ConfirmationDeadlineSeconds"])
    if sessions.signal(call.session_id, "suspend", actor="api", wait_seconds=deadline)["status"] == sessions.APPLIED:
        centre.sim.chime.talk(call.transaction_id, IVR_PROMPT_SECONDS)  # "please key in your card number"
        centre.sim.chime.press(call.transaction_id, CARD_NUMBER)
        centre.sim.chime.talk(call.transaction_id, IVR_PROMPT_SECONDS)  # "thank you, that card is accepted"
        centre.sim.chime.wait_idle(call.transaction_id)
    sessions.signal(call.session_id, "resume", actor="api", wait_seconds=deadline)
    centre.chime_hang_up(call, after=15.0)
    return call


def connect_suspend_refused(centre: LocalCallCentre) -> Call:
    """Connect refuses the suspension (fault switch): the flow is told suspended=false and takes its
    safe path (no card number while recording); the call ends normally."""
    from callrec.sim import Fault

    call = centre.connect_call_recording(TEXAS_CALLER, CENTRE_TEXAS)
    centre.sim.clock.advance(10.0)
    centre.sim.faults.inject(
        Fault("connect", "SuspendContactRecording", "InternalServiceException", key=call.contact_id, times=None)
    )
    answer = centre.contact_flow(call, "suspend")
    if answer["suspended"] == "true":  # never with this fault: the flow would take the card only here
        centre.sim.connect.caller_types(call.contact_id, CARD_NUMBER)
    centre.sim.clock.advance(10.0)  # the flow's safe path: "we cannot take your card on this line"
    centre.sim.connect.hang_up(call.contact_id)
    centre.contact_flow(call, "hangup")
    centre.sim.faults.clear()
    return call


def chime_no_access(centre: LocalCallCentre) -> Call:
    """A deployment whose recording bucket does not grant the Chime service principal: the caller opts
    in, StartCallRecording fails with NoAccessToDestination, and the session records the failure."""
    previous = centre.recording_bucket_policy(None)
    try:
        return chime_opt_in("1")(centre)
    finally:
        centre.recording_bucket_policy(previous)


def delivery_fault(
    error: str, service: str, play: Callable[[LocalCallCentre], Call], doc: str
) -> Callable[[LocalCallCentre], Call]:
    """`play`, with the simulator's fault switch on the landing of the next recording (DeliverRecording)."""
    from callrec.sim import Fault
    from callrec.sim.core import DELIVER

    def faulty(centre: LocalCallCentre) -> Call:
        centre.sim.faults.inject(Fault(service, DELIVER, error))
        try:
            return play(centre)
        finally:
            centre.sim.faults.clear()

    faulty.__doc__ = doc
    return faulty


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
    Scenario("connect-payment", "connect", connect_payment),
    Scenario("chime-payment", "chime", chime_payment),
    Scenario("connect-payment-after-transfer", "connect", connect_payment_after_transfer),
    Scenario("connect-on-hold", "connect", connect_on_hold),
    Scenario("chime-outbound", "chime", chime_outbound),
    Scenario("connect-conference-to-california", "connect", connect_conference_to_california),
    Scenario("chime-bridged-to-california", "chime", chime_bridged_to_california),
    Scenario("connect-suspend-refused", "connect", connect_suspend_refused),
    Scenario("connect-card-not-paused", "connect", connect_card_not_paused),
    Scenario(
        "connect-recording-never-lands",
        "connect",
        delivery_fault(
            "NeverLands",
            "connect",
            connect_notice,
            "A Connect call recorded as usual, but the recording never lands in S3 (fault switch): VerifyRecording "
            "waits, backing off, up to its limit, then reports it missing and raises the alert.",
        ),
    ),
    Scenario(
        "chime-corrupted-header",
        "chime",
        delivery_fault(
            "CorruptHeader",
            "chimesdkvoice",
            chime_opt_in("1"),
            "A Chime call whose recording lands with its RIFF/fmt header zeroed (fault switch): the wav-header check fails.",
        ),
    ),
    Scenario(
        "connect-payment-leak",
        "connect",
        delivery_fault(
            "LeakIntoWindow",
            "connect",
            connect_payment,
            "A Connect payment whose recording comes back with the suspended span not silenced (fault switch): the "
            "card's DTMF is in the window, and the window check catches it.",
        ),
    ),
)


def _last_state(events: list[dict]) -> str:
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    return entered[-1] if entered else ""


def _typed_in_recording(twin: dict, call: Call) -> list[tuple[float, float]]:
    """When the caller pressed keys, in seconds into the recording (the twin's own record)."""
    recording = twin.get("Recording") or {}
    if recording.get("StartedAt") is None:
        return []
    spans = (
        [(e["at"], e["until"]) for e in twin["Log"] if e["event"] == "CustomerTyped"]
        if call.contact_id
        else [tuple(span) for span in twin.get("Typed", [])]
    )
    start = recording["StartedAt"]
    return [(a - start, b - start) for a, b in spans if b > start]


def report(centre: LocalCallCentre, scenario: Scenario, call: Call) -> dict[str, Any]:
    described, events = centre.finish(call.session_id)
    centre.sim.delivery.wait()
    verified = centre.verification(call.session_id)
    session = centre.session(call.session_id) or {}
    audit = [f"{a['actor']}:{a['event']}" for a in centre.audit(call.session_id)]
    location = session.get("recordingLocation")
    twin = (
        centre.sim.connect.describe(call.contact_id)
        if call.contact_id
        else centre.sim.chime.describe(call.transaction_id)
    )
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
        "consent": {
            k: session.get("consent", {}).get(k) for k in ("decision", "reason", "policyVersion", "promptVersion")
        },
        "consent_answer": session.get("consentAnswer"),
        "recording_location": location if landed else None,
        "recording_bytes": landed["ContentLength"] if landed else 0,
        "state_transitions": state_transitions(events),
        "lambda_invocations": lambda_invocations(events),
        "entry_point_invocations": len(call.entry_point_answers) or len(twin.get("Invocations", [])),
        "audit": audit,
        "windows": session.get("windows", []),
        "signals": [f"{s['kind']}:{s['status']}" for s in centre.signals(call.session_id)],
        "provider_record": [e["event"] for e in twin["Log"]]
        if call.contact_id
        else [f"{a['Type']}:{a['Outcome']}" for a in twin["Executed"]],
        "timeline": render_timeline(events),
        "verification": session.get("verification"),
        "verification_reason": session.get("verificationReason"),
        "verification_failed": [c["name"] for c in session.get("verificationChecks") or [] if not c["ok"]],
        "verify_execution_status": verified[0]["status"] if verified else None,
        "verify_final_state": _last_state(verified[1]) if verified else None,
        "verify_state_transitions": state_transitions(verified[1]) if verified else 0,
        "verify_lambda_invocations": lambda_invocations(verified[1]) if verified else 0,
        "verify_states": states_entered(verified[1]) if verified else [],
        "page": _page(scenario, call, session, twin, location if landed else None, audit),
    }


def _page(scenario: Scenario, call: Call, session: dict, twin: dict, location: str | None, audit: list[str]) -> str:
    from callrec import report as report_module
    from callrec.stack import client

    body = None
    if location:
        bucket, _, key = location.partition("/")
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()  # the whole object: the picture needs it
    summary = {
        "scenario": scenario.name,
        "provider": scenario.provider,
        "description": (scenario.play.__doc__ or "").strip(),
        "session_id": call.session_id,
        "session_status": session.get("status"),
        "outcome_reason": session.get("outcomeReason"),
        "recording_location": location,
        "audit": audit,
    }
    return report_module.call_page(summary, session, body, _typed_in_recording(twin, call))


REPORTS = Path(".callrec") / "reports"


def run(as_json: bool = False, out: TextIO = sys.stdout, reports: Path | None = REPORTS) -> list[dict[str, Any]]:
    """Play every scenario through a fresh local stack, then write what happened (`render`)."""
    with LocalRuntime(time_scale=DEMO_TIME_SCALE) as runtime:
        centre = LocalCallCentre(runtime.deployment)
        results = [report(centre, scenario, scenario.play(centre)) for scenario in SCENARIOS]
    return render(results, as_json=as_json, out=out, reports=reports)


def render(
    results: list[dict[str, Any]], as_json: bool = False, out: TextIO = sys.stdout, reports: Path | None = REPORTS
) -> list[dict[str, Any]]:
    """The played calls as timelines (or one JSON object per call), with a report page per call in `reports`."""
    from callrec import report as report_module

    index = report_module.write(reports, {r["scenario"]: r["page"] for r in results}) if reports else None
    if as_json:
        out.write(
            json.dumps([{k: v for k, v in r.items() if k not in ("timeline", "page")} for r in results], indent=2)
            + "\n"
        )
        return results
    for result in results:
        out.write(f"\n== {result['scenario']} ({result['provider']})\n   {result['description']}\n")
        out.write(
            f"   consent: {result['consent']['decision']} ({result['consent']['reason']}); "
            f"answer: {(result['consent_answer'] or {}).get('answer', '-')}\n"
        )
        out.write(result["timeline"] + "\n")
        out.write("   audit: " + ", ".join(result["audit"]) + "\n")
        if result["signals"]:
            out.write("   signals: " + ", ".join(result["signals"]) + "\n")
        for window in result["windows"]:
            out.write(
                f"   window ({', '.join(window.get('reasons') or ['pci'])}): suspended {window.get('suspendConfirmedAt')} "
                f"by {window.get('suspendedBy')}, "
                f"resumed {window.get('resumeConfirmedAt', '(never)')} by {window.get('resumedBy', '-')}\n"
            )
        out.write(f"   {result['provider']} was asked: " + ", ".join(result["provider_record"]) + "\n")
        out.write(
            f"   final state: {result['final_state']} [{result['execution_status']}; session {result['session_status']}: "
            f"{result['outcome_reason']}]\n"
            f"   recording: {result['recording_location'] or 'none'}"
            + (f" ({result['recording_bytes']} bytes)" if result["recording_bytes"] else "")
            + f"\n   state transitions: {result['state_transitions']}, Lambda invocations by the workflow: "
            f"{result['lambda_invocations']}\n"
        )
        if result["verify_execution_status"]:
            out.write(
                f"   verification: {result['verification']} - {result['verification_reason']} "
                f"[VerifyRecording {result['verify_final_state']}, {result['verify_state_transitions']} transitions, "
                f"{result['verify_lambda_invocations']} Lambda invocation(s)]\n"
            )
    if index:
        out.write(f"\nReports (timeline, waveform, checks per call): {index.resolve()}\n")
    return results
