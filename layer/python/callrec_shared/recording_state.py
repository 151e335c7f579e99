"""Is this call being recorded right now? Connect has no API that tells, nor an event (callers work around it by
calling StartContactRecording and reading the error); the session knows, from what the provider confirmed to the
workflow. One answer, from the session record alone, used by `GET /recordings/{id}`, the contact flow's
`operation=state` and the `RecordingStateChanged` events:

- `state`: `OFF` (not recording: before consent, or never), `ON`, `SUSPENDED` (a window), `STOPPED`;
- `reason`: why, as a category: `consent` (OFF: waiting for it, declined or not given; ON: recording under it),
  `pci` or `hold` (SUSPENDED; `reasons` lists both when both hold the window), `stop` (stopped on request),
  `call-ended`, `limit` (the window or call limit), `provider-error`, `store-failure`;
- `since`: when the provider confirmed it (ISO 8601), where known; `detail`: the session's own words; `final`:
  the session has ended (its state changes no more).
"""

from __future__ import annotations

from typing import Any

OFF, ON, SUSPENDED, STOPPED = "OFF", "ON", "SUSPENDED", "STOPPED"
REASONS = ("consent", "pci", "hold", "stop", "call-ended", "limit", "provider-error", "store-failure")
STORE_FAILED = "the session store failed"


def _ended_because(view: dict[str, Any]) -> str:
    """The category of a finished session's outcome."""
    detail = str(view.get("outcomeReason") or "")
    if detail.startswith(STORE_FAILED):
        return "store-failure"
    if "max-window-length" in detail or "max-call-duration" in detail:
        return "limit"
    if detail.startswith("stopped by"):
        return "stop"
    if view.get("status") == "NOT_RECORDED":
        return "call-ended" if detail.startswith("the call ended") else "consent"
    if view.get("status") == "FAILED":
        return "provider-error"
    return "call-ended"


def of(view: dict[str, Any]) -> dict[str, Any]:
    """The recording state of a session (its record, as `sessions.get` reads it)."""
    status = view.get("status")
    if status == "RECORDING":
        windows = view.get("windows") or []
        if view.get("suspended") and windows:
            reasons = sorted(view.get("suspendedFor") or ["pci"])  # a window that predates reasons: a card number's
            # the reason told: a card number first (it is what must never be recorded), then consent, then a hold
            window = windows[-1]
            state = {
                "state": SUSPENDED,
                "reason": next(reason for reason in ("pci", "consent", "hold") if reason in reasons),
                "reasons": list(reasons),
                "since": window.get("suspendConfirmedAt"),
                "by": window.get("suspendedBy"),
            }
            return {key: value for key, value in state.items() if value is not None}
        resumed = [w["resumeConfirmedAt"] for w in windows if "resumeConfirmedAt" in w]
        return {"state": ON, "reason": "consent", "since": resumed[-1] if resumed else view.get("recordingStartedAt")}
    if status in ("RECORDED", "NOT_RECORDED", "FAILED"):
        recorded = status == "RECORDED" or "recordingStartedAt" in view  # FAILED after the start: e.g. the store
        state = {
            "state": STOPPED if recorded else OFF,
            "reason": _ended_because(view),
            "since": view.get("endedAt"),
            "detail": view.get("outcomeReason"),
            "final": True,
        }
        if recorded and view.get("recordingUncertain"):
            state["uncertain"] = True  # the provider may not have recorded at all: verification looks
        return {key: value for key, value in state.items() if value is not None}
    return {"state": OFF, "reason": "consent"}  # opening, or waiting for the consent decision or answer


def changed(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """Did the recording state change (its state or why), between two readings of a session?"""
    if before is None:
        return True
    keys = ("state", "reason", "reasons", "final")
    return any(before.get(key) != after.get(key) for key in keys)
