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

A Chime bridged leg (CallAndBridge) is a join the SIP media application's own Lambda makes (`bridging`). That
Lambda cannot wait for the provider's confirmation of a suspension, because the pause comes back through it (the
SMA invokes it one event at a time). So when the new party's rule is stricter it does not bridge yet: it queues the
`consent` suspension and bridges once the pause for it is confirmed (or at once when a window was already open and
takes the reason). It then plays the notice or asks for the opt-in on LEG-B, and its answer is reported without
waiting (`answer_queued`); a bridge that is never answered ends the party's `consent` reason
(`not_connected`).

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
PROMPT_EVIDENCE = ("key", "versionId", "etag", "unavailable")  # kept as promptKey, promptVersionId, ...
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


def _queued_consent_window(session_id: str, kind: str, actor: str, wait_seconds: float = 0.0) -> dict[str, Any]:
    """The same, for the SIP media application's own Lambda: queued, and never withdrawn at a deadline."""
    return sessions.request(session_id, kind, actor, reason=CONSENT_REASON, wait_seconds=wait_seconds)


def _judged(view: dict[str, Any], party: dict[str, Any], actor: str) -> tuple[consent.Decision, dict[str, Any]]:
    """The joining party's decision, and its evidence (`stricter`: whether it makes the call's rule stricter)."""
    decided = consent.decide([{**party, "role": "joined"}])
    judged = decided.parties[0]
    stricter = consent.MODES.index(decided.decision) > consent.MODES.index(_effective_mode(view))
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
    if stricter:  # the prompt the party is to hear, as the prompt bucket holds it (its version id and ETag)
        played = consent.prompt_object(decided.promptKey)
        evidence.update(
            promptVersion=decided.promptVersion,
            **{f"prompt{name[0].upper()}{name[1:]}": played[name] for name in PROMPT_EVIDENCE if name in played},
        )
    return decided, evidence


def _recorded_join(session_id: str, evidence: dict[str, Any], actor: str) -> None:
    _save_party(session_id, evidence)
    sessions.audit(
        session_id,
        "PARTY_JOINED",
        actor,
        jurisdiction=evidence["jurisdiction"],
        rule=evidence["rule"],
        decision=evidence["decision"],
        stricter=evidence["stricter"],
        **{key: value for key, value in evidence.items() if key.startswith("prompt")},
        **({"recordingStopped": "true"} if "recordingStopped" in evidence else {}),
    )


def _recording_view(session_id: str) -> dict[str, Any]:
    view = sessions.require(session_id)
    if view.get("status") in sessions.TERMINAL:
        raise sessions.SessionEnded(f"session {session_id} has ended ({view['status']})")
    if view.get("status") != "RECORDING":
        raise NotRecording(f"session {session_id} is not being recorded now ({view.get('status')})")
    return view


def join(session_id: str, party: dict[str, Any], actor: str, contact_id: str | None = None) -> dict[str, Any]:
    """A party joins the call: its rule, and what the flow must play to it (`consent`: none, notice, opt-in)."""
    view = _recording_view(session_id)
    decided, evidence = _judged(view, party, actor)
    answer: dict[str, Any] = {
        "sessionId": session_id,
        "partyId": evidence["partyId"],
        "consent": "none",
        "decision": decided.decision,
    }
    if evidence["stricter"] == "true":
        not_held = "the suspension was not confirmed"
        try:
            outcome = _consent_window(session_id, "suspend", actor, contact_id)
        except sessions.SignalLimitReached:  # no window can open any more: as if the suspension was not confirmed
            outcome, not_held = {"status": "rejected"}, "the call has had its MaxSignalsPerCall: no window can open"
        held = sessions.in_effect(outcome) or outcome.get("reason") == ALREADY_ASKED  # another party is being asked
        answer.update(consent=decided.decision, promptVersion=decided.promptVersion, suspended=held)
        if held:
            evidence["awaiting"] = "true"
        else:  # the new party would be recorded without their consent: stop recording for the rest of the call
            sessions.end(session_id, "stop", actor, contact_id=contact_id)
            answer["recordingStopped"] = True
            evidence["recordingStopped"] = not_held
    _recorded_join(session_id, evidence, actor)
    return answer


def bridging(session_id: str, party: dict[str, Any], actor: str) -> dict[str, Any]:
    """The SIP media application is asked to bridge a party to a call being recorded: when it may bridge.

    Returns {partyId, decision, consent (none, notice or opt-in: what to play the party once bridged), bridge}:
    `now` (the party's rule is not stricter, or a window already open has taken the `consent` reason),
    `after-pause` (the `consent` suspension is queued: bridge once the SMA has paused the recording for it), or
    `refused` (the suspension was rejected, or could not be queued because the session is ending or has had its
    MaxSignalsPerCall: not bridged, the party's evidence says so)."""
    view = _recording_view(session_id)
    decided, evidence = _judged(view, party, actor)
    answer: dict[str, Any] = {
        "partyId": evidence["partyId"],
        "decision": decided.decision,
        "consent": "none",
        "bridge": "now",
    }
    if evidence["stricter"] == "true":
        answer["consent"] = decided.decision
        evidence["awaiting"] = "true"
    _recorded_join(session_id, evidence, actor)  # the party's evidence first: the suspension is for them
    if evidence["stricter"] != "true":
        return answer
    try:
        if view.get("suspendedFor"):  # paused already: the workflow adds the reason without asking the SMA
            outcome = _queued_consent_window(
                session_id, "suspend", actor, wait_seconds=settings().confirmation_deadline_seconds
            )
        else:
            outcome = _queued_consent_window(session_id, "suspend", actor)
    except sessions.SessionEnded:  # ending meanwhile, or out of signals (no window can open): not bridged
        _answered(session_id, evidence["partyId"], "not-connected", "PARTY_NOT_CONNECTED", actor)
        return {**answer, "bridge": "refused"}
    if outcome["status"] in sessions.PENDING:  # to be paused for them (or not taken in time): bridge after the pause
        answer["bridge"] = "after-pause"
    elif not sessions.in_effect(outcome):  # rejected: the recording is not held for the party
        _answered(session_id, evidence["partyId"], "not-connected", "PARTY_NOT_CONNECTED", actor)
        answer["bridge"] = "refused"
    return answer


def _answered(session_id: str, party_id: str, given: str, event: str, actor: str) -> tuple[dict[str, Any], bool]:
    """Keep a waiting party's answer (no longer awaited): (the party, whether another party is still awaited)."""
    view = sessions.require(session_id)
    parties = view.get("joinedParties") or []
    waiting = [i for i, p in enumerate(parties) if p.get("partyId") == party_id and p.get("awaiting") == "true"]
    if not waiting:
        raise UnknownParty("no joined party with that partyId is waiting for its consent answer")
    index = waiting[-1]
    party = parties[index]
    client("dynamodb").update_item(
        TableName=settings().sessions_table,
        Key={"sessionId": {"S": session_id}},
        UpdateExpression=f"SET joinedParties[{index}].answer = :answer, joinedParties[{index}].answeredAt = :at "
        f"REMOVE joinedParties[{index}].awaiting",
        ExpressionAttributeValues={":answer": {"S": given}, ":at": {"S": sessions.now()}},
    )
    sessions.audit(session_id, event, actor, answer=given, decision=party["decision"])
    return party, any(i != index and p.get("awaiting") == "true" for i, p in enumerate(parties))


def _settled(
    session_id: str, party: dict[str, Any], others: bool, given: str, actor: str, contact_id: str | None
) -> dict[str, Any] | None:
    """What an answer settles before any resumption: a decline (or no answer) stops recording for the rest of the
    call; another party still awaited keeps the window. None: the recording may resume."""
    result: dict[str, Any] = {"sessionId": session_id, "answered": given}
    if given not in GIVEN.get(party["decision"], ()):  # declined, or no answer to a stricter rule: not recorded
        sessions.end(session_id, "stop", actor, contact_id=contact_id)
        return {**result, "recording": "stopped"}
    if others:
        return {**result, "recording": "suspended", "reason": "another joined party has not answered yet"}
    return None


def answer(session_id: str, party_id: str, given: str, actor: str, contact_id: str | None = None) -> dict[str, Any]:
    """What a joined party answered (heard, accepted, declined, no-answer): recording resumes or stops."""
    party, others = _answered(session_id, party_id, given, "PARTY_CONSENT_ANSWERED", actor)
    settled = _settled(session_id, party, others, given, actor, contact_id)
    if settled is not None:
        return settled
    outcome = _consent_window(session_id, "resume", actor, contact_id)
    return {
        "sessionId": session_id,
        "answered": given,
        "recording": "resumed" if sessions.in_effect(outcome) else "suspended",
        **({"reason": outcome["reason"]} if "reason" in outcome else {}),
    }


def answer_queued(session_id: str, party_id: str, given: str, actor: str) -> dict[str, Any]:
    """The same for the SIP media application's own Lambda (a bridged party's answer): the resumption is queued,
    not waited for (its pause and resume come back through that Lambda)."""
    party, others = _answered(session_id, party_id, given, "PARTY_CONSENT_ANSWERED", actor)
    settled = _settled(session_id, party, others, given, actor, None)
    if settled is not None:
        return settled
    _queued_consent_window(session_id, "resume", actor)
    return {"sessionId": session_id, "answered": given, "recording": "resuming"}


def not_connected(session_id: str, party_id: str, actor: str, paused: bool = True) -> None:
    """A party the SIP media application was to bridge never joined (not answered, or gone before answering):
    its `consent` reason ends (queued; `paused` False: the window never opened for it, nothing to end)."""
    _, others = _answered(session_id, party_id, "not-connected", "PARTY_NOT_CONNECTED", actor)
    if paused and not others:
        _queued_consent_window(session_id, "resume", actor)
