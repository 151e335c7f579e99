"""Pause on hold, read from Amazon Connect's agent event stream: Connect records the agent's side while the
customer is on hold and has no pause on hold of its own, nor a hold event outside the agent's snapshot. A
STATE_CHANGE event carries the agent's contacts before and after the change; a voice contact going to
`CONNECTED_ONHOLD` is a hold, and coming back to `CONNECTED` its end (Connect Administrator Guide, "Agent event
streams data model" and "About contact states"). Each becomes a window signal with the reason `hold`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HELD, TALKING = "CONNECTED_ONHOLD", "CONNECTED"


@dataclass(frozen=True)
class HoldChange:
    instance_id: str
    initial_contact_id: str  # the session's identity (stable across transfers)
    contact_id: str  # the contact the hold is on (the current one after a transfer)
    kind: str  # suspend (the hold began) or resume (it ended)
    event_id: str

    @property
    def idempotency_key(self) -> str:
        """The same event delivered twice (Kinesis delivers at least once) queues one signal."""
        return f"hold:{self.event_id}:{self.contact_id}"


def _voice_states(snapshot: dict[str, Any] | None) -> dict[str, tuple[str, str]]:
    contacts = (snapshot or {}).get("Contacts") or []
    return {
        c["ContactId"]: (c["State"], c.get("InitialContactId") or c["ContactId"])
        for c in contacts
        if c.get("Channel", "VOICE") == "VOICE"
    }


def changes(event: dict[str, Any]) -> list[HoldChange]:
    """The holds that began or ended in one (validated) agent event; none for any other change."""
    if event["EventType"] != "STATE_CHANGE":
        return []
    before = _voice_states(event.get("PreviousAgentSnapshot"))
    after = _voice_states(event.get("CurrentAgentSnapshot"))
    instance_id = event["InstanceARN"].rsplit("/", 1)[1]
    found = []
    for contact_id, (state, initial) in after.items():
        was = before.get(contact_id, ("", initial))[0]
        if state == HELD and was != HELD:
            kind = "suspend"
        elif state == TALKING and was == HELD:
            kind = "resume"
        else:
            continue
        found.append(HoldChange(instance_id, initial, contact_id, kind, event["EventId"]))
    return found
