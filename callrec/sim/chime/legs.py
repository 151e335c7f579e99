"""A SIP media application and its call legs: what the Chime SDK twin keeps per call."""

from __future__ import annotations

import queue
import re
import threading
from dataclasses import dataclass, field

from callrec.sim import audio
from callrec.sim.recording import Recording

SERVICE = "chimesdkvoice"
E164 = re.compile(r"\+[1-9][0-9]{1,14}\Z")  # a phone number as the Chime SDK takes it
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
class Phone:
    """A number a CallAndBridge action may call: whether its party answers, and what they key in to prompts."""

    answers: bool = True
    keys: list[str | None] = field(default_factory=list)


@dataclass
class BridgedLeg:
    """LEG-B: the party a CallAndBridge action called, bridged to LEG-A once they answered. It is a leg of the same
    transaction with its own CallId, audio and recording (start and stop once per call leg)."""

    call_id: str
    from_number: str  # the CallerIdNumber the action presented
    to_number: str  # the endpoint's Uri
    started_at: float
    start_ms: int
    answers: list[str | None] = field(default_factory=list)  # what this party keys in to digit prompts
    status: str = "Connected"
    direction: str = "Outbound"
    tag: str = "LEG-B"
    incoming: audio.Channel = field(default_factory=lambda: audio.Channel("agent"))  # the bridged party speaking
    outgoing: audio.Channel = field(default_factory=lambda: audio.Channel("prompt"))  # what they hear (LEG-A's party)
    recording: Recording | None = None
    recording_used: bool = False
    typed: list[tuple[float, float]] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return self.status == "Connected"


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
    served: bool = True  # its thread takes from the inbox (it ends once the call is over and the inbox empty)
    inbox_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    bridged: BridgedLeg | None = None  # LEG-B, once a CallAndBridge action was answered
    tag: str = "LEG-A"

    @property
    def connected(self) -> bool:
        return self.status == "Connected"

    @property
    def live(self) -> bool:
        """Some leg of the call is still connected (a bridged call goes on while either party is there)."""
        return any(party.connected for party in self.participants)

    @property
    def participants(self) -> list[CallLeg | BridgedLeg]:
        """The transaction's legs: LEG-A, then LEG-B once bridged."""
        return [self] if self.bridged is None else [self, self.bridged]

    def participant(self, call_id: str | None = None, tag: str | None = None) -> CallLeg | BridgedLeg | None:
        """The leg with that CallId (or ParticipantTag), None if the call has no such leg."""
        return next((p for p in self.participants if p.call_id == call_id or (call_id is None and p.tag == tag)), None)
