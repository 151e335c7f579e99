"""One recording as a provider keeps it, shared by the Connect and Chime SDK twins: when it began and ended,
the spans it was silenced (Connect: suspended; Chime: paused), where it was delivered, and its audio."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callrec.sim import audio
from callrec.sim.core import Windows


@dataclass
class Recording:
    track: str  # Connect: VoiceRecordingTrack (or "IVR:ALL"); Chime: Track
    requested_at: float
    started_at: float | None = None  # Connect voice recording: None until the agent joins
    stopped_at: float | None = None
    silenced: Windows = field(default_factory=Windows)
    location: str | None = None  # "bucket/key", once known (Chime: at start; Connect: at delivery)
    on_contact: str = ""  # Connect: the contact recording was started on

    def view(self, silenced_as: str) -> dict[str, Any]:
        """As a twin describes it; the silenced spans named as its provider names them (Suspended, Paused)."""
        return {
            "Track": self.track,
            "RequestedAt": self.requested_at,
            "StartedAt": self.started_at,
            "StoppedAt": self.stopped_at,
            silenced_as: self.silenced.to_list(),
            "Location": self.location,
        }

    def stop(self, at: float) -> None:
        self.stopped_at = at
        self.silenced.end(at)

    def render(self, *lanes: audio.Channel, leak: bool = False) -> list[Any]:
        """Each lane's audio from start to stop, silenced spans silent (unless `leak`: the LeakIntoWindow fault)."""
        start, end = self.started_at, self.stopped_at
        rendered = [lane.render(start, end) for lane in lanes]
        spans = [] if leak else self.silenced.closed()
        for samples in rendered:
            audio.silence(samples, start, spans)
        return rendered
