"""The importable Amazon Connect flow (connect/callrec-inbound.flow.json), checked two ways: its graph
(every transition lands on an action; the card is only ever collected after a confirmed suspension,
and every way out of collecting it resumes), and played through the local call centre by a small
interpreter of its actions against the real contact-flow Lambda and the Connect twin."""

from __future__ import annotations

import json

import pytest

from callrec import demo
from callrec.sim import Fault
from callrec.template import REPO_ROOT

FLOW = json.loads((REPO_ROOT / "connect" / "callrec-inbound.flow.json").read_text(encoding="utf-8"))
ACTIONS = {action["Identifier"]: action for action in FLOW["Actions"]}
OPERATIONS = json.loads((REPO_ROOT / "schemas" / "contact_flow_event.schema.json").read_text())


def _targets(action: dict) -> list[str]:
    transitions = action["Transitions"]
    found = [transitions["NextAction"]] if "NextAction" in transitions else []
    found += [c["NextAction"] for c in transitions.get("Conditions", [])]
    return found + [e["NextAction"] for e in transitions.get("Errors", [])]


def test_every_transition_lands_on_an_action_and_every_action_is_reachable():
    assert FLOW["Version"] == "2019-10-30" and FLOW["StartAction"] in ACTIONS
    seen, todo = set(), [FLOW["StartAction"]]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for target in _targets(ACTIONS[current]):
            assert target in ACTIONS, f"{current} -> {target}"
            todo.append(target)
    assert seen == set(ACTIONS)


def test_the_lambda_is_invoked_synchronously_with_string_maps_within_connects_8_seconds():
    for action in ACTIONS.values():
        if action["Type"] == "InvokeLambdaFunction":
            parameters = action["Parameters"]
            assert parameters["LambdaFunctionARN"] == "${ContactFlowFunctionArn}"
            assert parameters["ResponseValidation"] == {"ResponseType": "STRING_MAP"}
            assert 0 < int(parameters["InvocationTimeLimitSeconds"]) <= 8
            assert parameters["LambdaInvocationAttributes"]["operation"] in (
                "start",
                "consent",
                "suspend",
                "resume",
                "stop",
                "hangup",
            )


def test_the_card_is_collected_only_after_a_confirmed_suspension_and_always_resumed():
    stored = [
        i for i, a in ACTIONS.items() if a["Type"] == "GetParticipantInput" and a["Parameters"]["StoreInput"] == "True"
    ]
    assert len(stored) == 1
    into = [(i, a) for i, a in ACTIONS.items() if stored[0] in _targets(a)]
    assert [a["Type"] for _, a in into] == ["UpdateFlowLoggingBehavior"]  # logging off just before the card
    logging_off_id = into[0][0]
    into = [(i, a) for i, a in ACTIONS.items() if logging_off_id in _targets(a)]
    assert len(into) == 1
    gate_id, gate = into[0]
    assert gate["Type"] == "Compare" and gate["Parameters"]["ComparisonValue"] == "$.External.suspended"
    assert [
        c["Condition"]["Operands"] for c in gate["Transitions"]["Conditions"] if c["NextAction"] == logging_off_id
    ] == [["true"]]
    assert logging_off_id not in [gate["Transitions"]["NextAction"]] + [
        e["NextAction"] for e in gate["Transitions"]["Errors"]
    ]
    before = [a for a in ACTIONS.values() if gate_id in _targets(a)]
    assert [a["Parameters"]["LambdaInvocationAttributes"]["operation"] for a in before] == ["suspend"]
    for target in set(_targets(ACTIONS[stored[0]])):  # logging back on, then the resume, on every path out
        assert ACTIONS[target]["Parameters"] == {"FlowLoggingBehavior": "Enabled"}
        for after in set(_targets(ACTIONS[target])):
            assert ACTIONS[after]["Parameters"]["LambdaInvocationAttributes"]["operation"] == "resume"


def test_the_card_is_stored_encrypted_and_flow_logging_is_off_while_it_is_typed():
    """Connect's "Store customer input" with "Encrypt entry" (the deployer's key id and X.509 certificate), and
    "Set logging behavior: Disabled" around it, so flow logs never hold the card (Amazon Connect Administrator
    Guide: "Encrypt sensitive customer input", "Set logging behavior")."""
    (store,) = [
        a for a in ACTIONS.values() if a["Type"] == "GetParticipantInput" and a["Parameters"]["StoreInput"] == "True"
    ]
    assert store["Parameters"]["InputEncryption"] == {
        "EncryptionKeyId": "${CardEncryptionKeyId}",
        "Key": "${CardEncryptionCertificate}",
    }
    logging = [
        a["Parameters"]["FlowLoggingBehavior"] for a in ACTIONS.values() if a["Type"] == "UpdateFlowLoggingBehavior"
    ]
    assert sorted(logging) == ["Disabled", "Enabled"]


def play(centre, call, digits: dict[str, str]) -> list[str]:
    """Run the flow for one contact: Lambda invocations through the contact-flow function, prompts take
    time on the call clock, the caller presses `digits[action]`, the flow's end disconnects."""
    external: dict[str, str] = {}
    logging = "Enabled"
    path, current = [], FLOW["StartAction"]
    while current:
        action, path = ACTIONS[current], path + [current]
        kind, parameters, transitions = action["Type"], action["Parameters"], action["Transitions"]
        errors = {e["ErrorType"]: e["NextAction"] for e in transitions.get("Errors", [])}
        if kind == "InvokeLambdaFunction":
            attributes = dict(parameters["LambdaInvocationAttributes"])
            answer = centre.contact_flow(call, attributes.pop("operation"), **attributes)
            external = answer
            current = errors["NoMatchingError"] if "error" in answer else transitions["NextAction"]
            if "sessionId" in answer:
                call.session_id = answer["sessionId"]
        elif kind == "Compare":
            value = external.get(parameters["ComparisonValue"].removeprefix("$.External."))
            current = next(
                (c["NextAction"] for c in transitions["Conditions"] if c["Condition"]["Operands"] == [value]),
                errors["NoMatchingCondition"],
            )
        elif kind == "MessageParticipant":
            centre.sim.clock.advance(3.0)
            current = transitions["NextAction"]
        elif kind == "GetParticipantInput":
            pressed = digits.get(current)
            if parameters["StoreInput"] == "True":
                assert logging == "Disabled", "the card would reach the flow logs"
                centre.sim.connect.caller_types(call.contact_id, pressed)
                current = transitions["NextAction"]
            else:
                centre.sim.clock.advance(2.0)
                current = next(
                    (c["NextAction"] for c in transitions["Conditions"] if c["Condition"]["Operands"] == [pressed]),
                    errors["InputTimeLimitExceeded" if pressed is None else "NoMatchingCondition"],
                )
        elif kind == "UpdateFlowLoggingBehavior":
            logging = parameters["FlowLoggingBehavior"]
            current = transitions["NextAction"]
        elif kind == "DisconnectParticipant":
            centre.sim.connect.hang_up(call.contact_id)
            current = None
        else:
            raise AssertionError(f"the interpreter does not know {kind}")
    return path


def test_a_card_payment_through_the_flow_is_silent_in_the_recording_and_verified(centre):
    call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.connect.agent_joins(call.contact_id)
    path = play(centre, call, {"StoreCardNumber": demo.CARD_NUMBER})
    assert "PlayRecordingNotice" in path and "StoreCardNumber" in path and "CannotTakeCard" not in path
    centre.finish(call.session_id)
    centre.verification(call.session_id)
    session = centre.session(call.session_id)
    assert session["status"] == "RECORDED" and session["verification"] == "VERIFIED"
    twin = centre.sim.connect.describe(call.contact_id)
    (typed,) = [(e["at"], e["until"]) for e in twin["Log"] if e["event"] == "CustomerTyped"]
    (window,) = twin["Recording"]["Suspended"]
    assert window[0] <= typed[0] and typed[1] <= window[1]


def test_when_the_suspension_is_refused_the_flow_never_asks_for_the_card(centre):
    call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    centre.sim.connect.agent_joins(call.contact_id)
    centre.sim.faults.inject(Fault("connect", "SuspendContactRecording", "InternalServiceException", times=None))
    path = play(centre, call, {"StoreCardNumber": demo.CARD_NUMBER})
    centre.sim.faults.clear()
    assert "CannotTakeCard" in path and "StoreCardNumber" not in path
    assert "CustomerTyped" not in [e["event"] for e in centre.sim.connect.describe(call.contact_id)["Log"]]


@pytest.mark.parametrize(
    "pressed, answer, status",
    [("1", "accepted", "RECORDED"), ("2", "declined", "NOT_RECORDED"), (None, "no-answer", "NOT_RECORDED")],
)
def test_the_opt_in_answer_is_reported_and_decides(centre, pressed, answer, status):
    call = centre.connect_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS)
    centre.sim.connect.agent_joins(call.contact_id)
    path = play(centre, call, {"AskToOptIn": pressed, "StoreCardNumber": demo.CARD_NUMBER})
    assert "AskToOptIn" in path
    centre.finish(call.session_id)
    session = centre.session(call.session_id)
    assert session["consentAnswer"]["answer"] == answer and session["status"] == status
