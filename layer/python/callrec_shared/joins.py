"""Consent when someone joins: a transfer or conference to a number brings a new party into a call being recorded.

The consent policy is judged again for the new party (its number and any jurisdiction hint, as at the start);
the call's rule is the strictest over every party, so the new party changes it only if theirs is stricter
(`consent.MODES`: none < notice < opt-in). If it is:

- the recording is suspended first (a window with the reason `consent`, confirmed by the provider), so nothing
  of the new party is recorded before they have heard the notice or opted in; if the suspension cannot be
  confirmed, recording is stopped for the rest of the call (the safe side);
- the flow plays the notice or asks for the opt-in and reports the answer: heard (notice) or accepted (opt-in)
  ends the window's `consent` reason, so recording resumes (unless another party is still asked, or a card
  number or a hold holds the window); declined or no answer stops recording for the rest of the call.

Each party's evidence is kept on the session (`joinedParties`: a `partyId`, its jurisdiction and how it was found,
its rule, whether it made the call's rule stricter, its answer and when) and in the audit (`PARTY_JOINED`,
`PARTY_CONSENT_ANSWERED`). No phone number is kept, as for the parties at the start: the join answers a
`partyId`, and the consent answer names the party by it.
"""

from __future__ import annotations

import uuid
from typing import Any

from callrec_shared import consent, sessions
from callrec_shared.aws import client, settings

CONSENT_REASON = "consent"
GIVEN = {"notice": ("heard",), "opt-in": ("accepted",)}  # the answers that let a stricter rule's recording go on
ALREADY_ASKED = "consent from a joining party is already awaited"  # the workflow's answer (its "Already Suspended")


class NotRecording(Exception):
    """A party joined a call that is not being recorded now: there is nothing to suspend."""


class UnknownParty(Exception):
    """A consent answer for a party that was not asked."""


def _effective_mode(view: dict[str, Any]) -> str:
    """The call's rule now: the strictest of the start's decision and every party that joined since."""
    modes = [view.get("consent", {}).get("decision", "none")]
    modes += [party["decision"] for party in view.get("joinedParties") or []]
    return max(modes, key=consent.MODES.index)


def _save_party(session_id: str, party: dict[str, Any]) -> None:
    client("dynamodb").update_item(
        TableName=settings().sessions_table,
        Key={"sessionId": {"S": session_id}},
        UpdateExpression="SET joinedParties = list_append(if_not_exists(joinedParties, :none), :party)",
        ExpressionAttributeValues={
            ":none": {"L": []},
            ":party": {"L": [{"M": {key: {"S": str(value)} for key, value in party.items()}}]},
        },
    )


def _consent_window(session_id: str, kind: str, actor: str, contact_id: str | None) -> dict[str, Any]:
    """Suspend or resume for a joining party's consent, waiting (bounded) for the provider's confirmation."""
    return sessions.signal(
        session_id,
        kind,
        actor,
        wait_seconds=settings().confirmation_deadline_seconds,
        contact_id=contact_id,
        reason=CONSENT_REASON,
    )


def join(session_id: str, party: dict[str, Any], actor: str, contact_id: str | None = None) -> dict[str, Any]:
    """A party joins the call: its rule, and what the flow must play to it (`consent`: none, notice, opt-in)."""
    view = sessions.require(session_id)
    if view.get("status") in sessions.TERMINAL:
        raise sessions.SessionEnded(f"session {session_id} has ended ({view['status']})")
    if view.get("status") != "RECORDING":
        raise NotRecording(f"session {session_id} is not being recorded now ({view.get('status')})")
    decided = consent.decide([{**party, "role": "joined"}])
    judged = decided.parties[0]
    before = _effective_mode(view)
    stricter = consent.MODES.index(decided.decision) > consent.MODES.index(before)
    evidence = {
        "partyId": str(uuid.uuid4()),
        "jurisdiction": judged.jurisdiction,
        "source": judged.source,
        "rule": judged.rule,
        "decision": decided.decision,
        "stricter": str(stricter).lower(),
        "joinedAt": sessions.now(),
        "by": actor,
    }
    answer: dict[str, Any] = {
        "sessionId": session_id,
        "partyId": evidence["partyId"],
        "consent": "none",
        "decision": decided.decision,
    }
    if stricter:
        outcome = _consent_window(session_id, "suspend", actor, contact_id)
        held = sessions.in_effect(outcome) or outcome.get("reason") == ALREADY_ASKED  # another party is being asked
        answer.update(consent=decided.decision, promptVersion=decided.promptVersion, suspended=held)
        if held:
            evidence["awaiting"] = "true"
        else:  # the new party would be recorded without their consent: stop recording for the rest of the call
            sessions.end(session_id, "stop", actor, contact_id=contact_id)
            answer["recordingStopped"] = True
            evidence["recordingStopped"] = "the suspension was not confirmed"
    _save_party(session_id, evidence)
    sessions.audit(
        session_id,
        "PARTY_JOINED",
        actor,
        jurisdiction=judged.jurisdiction,
        rule=judged.rule,
        decision=decided.decision,
        stricter=evidence["stricter"],
        **({"recordingStopped": "true"} if answer.get("recordingStopped") else {}),
    )
    return answer


def answer(session_id: str, party_id: str, given: str, actor: str, contact_id: str | None = None) -> dict[str, Any]:
    """What a joined party answered (heard, accepted, declined, no-answer): recording resumes or stops."""
    view = sessions.require(session_id)
    parties = view.get("joinedParties") or []
    waiting = [i for i, p in enumerate(parties) if p.get("partyId") == party_id and p.get("awaiting") == "true"]
    if not waiting:
        raise UnknownParty("no joined party with that partyId is waiting for its consent answer")
    index = waiting[-1]
    party = parties[index]
    agreed = given in GIVEN.get(party["decision"], ())
    client("dynamodb").update_item(
        TableName=settings().sessions_table,
        Key={"sessionId": {"S": session_id}},
        UpdateExpression=f"SET joinedParties[{index}].answer = :answer, joinedParties[{index}].answeredAt = :at "
        f"REMOVE joinedParties[{index}].awaiting",
        ExpressionAttributeValues={":answer": {"S": given}, ":at": {"S": sessions.now()}},
    )
    sessions.audit(session_id, "PARTY_CONSENT_ANSWERED", actor, answer=given, decision=party["decision"])
    result: dict[str, Any] = {"sessionId": session_id, "answered": given}
    if not agreed:  # declined, or no answer to a stricter rule: not recorded any more
        sessions.end(session_id, "stop", actor, contact_id=contact_id)
        return {**result, "recording": "stopped"}
    others = [p for i, p in enumerate(parties) if i != index and p.get("awaiting") == "true"]
    if others:
        return {**result, "recording": "suspended", "reason": "another joined party has not answered yet"}
    outcome = _consent_window(session_id, "resume", actor, contact_id)
    return {
        **result,
        "recording": "resumed" if sessions.in_effect(outcome) else "suspended",
        **({"reason": outcome["reason"]} if "reason" in outcome else {}),
    }
