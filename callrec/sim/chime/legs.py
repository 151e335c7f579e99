"""A SIP media application and its call legs: what the Chime SDK twin keeps per call."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field

from callrec.sim import audio
from callrec.sim.recording import Recording

SERVICE = "chimesdkvoice"
PRINCIPAL = "voiceconnector.chime.amazonaws.com"


@dataclass
class SipMediaApplication:
    id: str
    name: str
    function: str  # the Lambda function name or ARN it invokes
    region: str
    account: str

    @property
    def arn(self) -> str:
        return f"arn:aws:chime:{self.region}:{self.account}:sma/{self.id}"

    def source_context(self) -> dict[str, str]:
        """The request context a bucket policy sees when the Chime service acts for this SMA."""
        return {"aws:SourceAccount": self.account, "aws:SourceArn": self.arn}


@dataclass
class CallLeg:
    transaction_id: str
    call_id: str
    sma: SipMediaApplication
    from_number: str
    to_number: str
    started_at: float
    start_ms: int
    answers: list[str | None] = field(default_factory=list)  # the caller's replies to digit prompts, in order
    status: str = "Connected"
    direction: str = "Inbound"  # Outbound: placed with CreateSipMediaApplicationCall
    sequence: int = 0
    attributes: dict[str, str] = field(default_factory=dict)
    incoming: audio.Channel = field(default_factory=lambda: audio.Channel("caller"))
    outgoing: audio.Channel = field(default_factory=lambda: audio.Channel("agent"))
    recording: Recording | None = None
    recording_used: bool = False  # start and stop once per call leg
    waiting: tuple[list[dict], int, int] | None = None  # (actions, index, prompts played) of a digit prompt
    invocations: list[dict] = field(default_factory=list)  # (sequence, event type, action type) per call
    executed: list[dict] = field(default_factory=list)  # every action executed, with its outcome
    typed: list[tuple[float, float]] = field(default_factory=list)  # when the caller pressed keys (never which)
    inbox: queue.Queue = field(default_factory=queue.Queue)

    @property
    def connected(self) -> bool:
        return self.status == "Connected"
