"""The Amazon Connect twin: contact recording control, contacts with a lifecycle, recordings in S3.

API facts (Amazon Connect API Reference: StartContactRecording, SuspendContactRecording, ResumeContactRecording, StopContactRecording, DescribeContact; Amazon Connect Administrator Guide, "Set up recording behavior"): the four recording calls, their validation and
errors, the 2 requests/s (burst 5) quota of each, start-once semantics, a start before the agent joins
taking effect when the agent joins, transfers giving a new ContactId on the same InitialContactId,
suspended spans filled with silence, and the recording landing after the contact ends as a stereo
PCM WAV (customer left, agent right) encrypted with SSE-KMS.

Behaviour the facts leave open, chosen here and documented in docs/simulator.md: a repeated start or
suspend (or a resume while recording) is a successful no-op; any call on a disconnected contact is an
`InvalidRequestException`; one recording object per contact chain, named after the contact on which
recording started.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callrec.errors import service_error
from callrec.sim import audio
from callrec.sim.core import DELIVER, Clock, Delivery, Faults, TokenBucket
from callrec.sim.recording import Recording

SERVICE = "connect"
RECORDING_OPERATIONS = (
    "StartContactRecording",
    "SuspendContactRecording",
    "ResumeContactRecording",
    "StopContactRecording",
)
OPERATIONS = RECORDING_OPERATIONS + ("DescribeContact",)
VOICE_TRACKS = ("FROM_AGENT", "TO_AGENT", "ALL")
RECORDING_TYPES = ("AGENT", "IVR", "SCREEN")
QUOTA_RATE, QUOTA_BURST = 2.0, 5  # requests per second, per operation, per account and Region
# DescribeContact's default quota (Amazon Connect service quotas: 10 requests/s, burst 15)
QUOTAS = {**{operation: (QUOTA_RATE, QUOTA_BURST) for operation in RECORDING_OPERATIONS}, "DescribeContact": (10.0, 15)}


# A fault that lets the request take effect and then answers InternalServiceException (500): the service
# acted, but its answer was lost on the way (the caller cannot tell it from a request that failed)
ANSWER_LOST = "AnswerLost"


ARN_PREFIX = "arn:aws:connect:us-east-1:123456789012"  # the local stack's Region and account
HELD, TALKING, ENDED = "CONNECTED_ONHOLD", "CONNECTED", "ENDED"  # agent event stream contact states


@dataclass
class Instance:
    instance_id: str
    alias: str
    bucket: str
    kms_key_id: str | None

    @property
    def arn(self) -> str:
        return f"{ARN_PREFIX}:instance/{self.instance_id}"


@dataclass
class Chain:
    """A contact and its transfers: one customer, one recording."""

    initial_contact_id: str
    instance: Instance
    initiated_at: float
    customer: audio.Channel = field(default_factory=lambda: audio.Channel("customer"))
    agent: audio.Channel = field(default_factory=lambda: audio.Channel("agent"))
    current_contact_id: str = ""
    agent_joined_at: float | None = None
    ended_at: float | None = None
    recording: Recording | None = None
    contact_ids: list[str] = field(default_factory=list)
    agent_arn: str | None = None
    on_hold_since: float | None = None
    holds: list[tuple[float, float]] = field(default_factory=list)  # [start, end) spans the customer was on hold
    log: list[dict] = field(default_factory=list)  # what the twin was asked to do, for tests and the demo


class ConnectTwin:
    """The Connect side of the telephony simulator. `call()` answers the API; the rest plays the people."""

    def __init__(self, clock: Clock, faults: Faults, delivery: Delivery, throttling: bool = True):
        self.clock = clock
        self.faults = faults
        self.delivery = delivery
        self.instances: dict[str, Instance] = {}
        self._chains: dict[str, Chain] = {}  # by every contact id of the chain
        self._lock = threading.RLock()
        self.quota_clock: Callable[[], float] = time.monotonic  # what the quota refills by (use_quota_clock)
        self.throttling = throttling
        # where the instance's agent event stream goes (its data storage setting): (event, partition key) -> None
        self.agent_events: Callable[[dict, str], None] | None = None

    @property
    def throttling(self) -> bool:
        return self._throttling

    @throttling.setter
    def throttling(self, enabled: bool) -> None:
        """Switch the quota on or off; switching it on starts every operation with a full burst."""
        self._throttling = enabled
        self._quota = {operation: TokenBucket(*QUOTAS[operation], clock=self.quota_clock) for operation in OPERATIONS}

    def use_quota_clock(self, clock: Callable[[], float]) -> None:
        """Count the quota by `clock` (seconds), starting every operation with a full burst."""
        self.quota_clock = clock
        self.throttling = self.throttling

    # --- set-up and the people ------------------------------------------------------------------------

    def create_instance(
        self, alias: str, bucket: str, kms_key_id: str | None = None, instance_id: str | None = None
    ) -> Instance:
        instance = Instance(instance_id or str(uuid.uuid4()), alias, bucket, kms_key_id)
        self.instances[instance.instance_id] = instance
        return instance

    def start_contact(self, instance_id: str, contact_id: str | None = None) -> str:
        """A customer calls in: the contact is in the IVR, no agent yet."""
        with self._lock:
            instance = self.instances[instance_id]
            contact_id = contact_id or str(uuid.uuid4())
            now = self.clock.seconds()
            chain = Chain(initial_contact_id=contact_id, instance=instance, initiated_at=now)
            chain.customer.join(now)
            chain.current_contact_id = contact_id
            chain.contact_ids.append(contact_id)
            self._chains[contact_id] = chain
            self._record(chain, "ContactInitiated", contact_id=contact_id)
            return contact_id

    def agent_joins(self, contact_id: str) -> None:
        with self._lock:
            chain = self._active_chain(contact_id)
            now = self.clock.seconds()
            chain.agent_joined_at = now
            chain.agent.join(now)
            chain.agent_arn = f"{chain.instance.arn}/agent/{uuid.uuid4()}"
            if chain.recording and chain.recording.started_at is None and chain.recording.stopped_at is None:
                chain.recording.started_at = now  # a start made before the agent joined takes effect now
            self._record(chain, "AgentJoined")
            self._agent_event(chain, None, TALKING)

    def transfer(self, contact_id: str) -> str:
        """Transfer the contact: a new ContactId on the same InitialContactId; the old id goes stale."""
        with self._lock:
            chain = self._active_chain(contact_id)
            new_id = str(uuid.uuid4())
            chain.current_contact_id = new_id
            chain.contact_ids.append(new_id)
            self._chains[new_id] = chain
            self._record(chain, "Transferred", contact_id=new_id)
            return new_id

    def hold(self, contact_id: str) -> None:
        """The agent puts the customer on hold: the customer hears the hold flow's music (not the call), while the
        agent's side goes on, and Connect goes on recording it (Connect has no pause on hold of its own)."""
        with self._lock:
            chain = self._active_chain(contact_id)
            if chain.on_hold_since is not None:
                raise ValueError(f"contact {contact_id} is already on hold")
            now = self.clock.seconds()
            chain.on_hold_since = now
            chain.customer.leave(now)
            self._record(chain, "OnHold")
            self._agent_event(chain, TALKING, HELD)

    def resume_from_hold(self, contact_id: str) -> None:
        """The agent takes the customer off hold: they talk again."""
        with self._lock:
            chain = self._active_chain(contact_id)
            if chain.on_hold_since is None:
                raise ValueError(f"contact {contact_id} is not on hold")
            now = self.clock.seconds()
            chain.holds.append((chain.on_hold_since, now))
            chain.on_hold_since = None
            chain.customer.join(now)
            self._record(chain, "OffHold")
            self._agent_event(chain, HELD, TALKING)

    def caller_types(self, contact_id: str, digits: str, real_time: bool = False) -> float:
        """The customer types digits on the keypad: DTMF on the customer channel, taking its time. The call
        clock jumps past the digits, or with `real_time` the caller waits for them on the wall clock: with
        many calls at once a jump would move every other call's time too (their recordings would grow by
        everyone's typing)."""
        with self._lock:
            chain = self._active_chain(contact_id)
            end = chain.customer.overlay(self.clock.seconds(), audio.dtmf(digits))
            self._record(chain, "CustomerTyped", digits=len(digits), until=end)  # how many and when, never which
        if real_time:
            self.clock.wait_until(end)
        else:
            self.clock.advance_to(end)  # other callers' time may have moved it past `end` already
        return end

    def hang_up(self, contact_id: str) -> None:
        """The contact disconnects: recording stops, and the recording is delivered after the delay."""
        with self._lock:
            chain = self._active_chain(contact_id)
            now = self.clock.seconds()
            chain.ended_at = now
            chain.customer.leave(now)
            chain.agent.leave(now)
            recording = chain.recording
            if recording and recording.stopped_at is None:
                recording.stop(now)
            self._record(chain, "Disconnected")
            if chain.agent_arn is not None:
                self._agent_event(chain, HELD if chain.on_hold_since is not None else TALKING, ENDED)
            if recording and recording.started_at is not None:
                self._deliver(chain, recording)

    def chain(self, contact_id: str) -> Chain:
        try:
            return self._chains[contact_id]
        except KeyError:
            raise KeyError(f"no contact {contact_id}") from None

    # --- the API ----------------------------------------------------------------------------------------

    def call(self, action: str, parameters: dict) -> dict:
        """Answer one API call as Connect does: the quota first, then validation, then any injected fault."""
        if action not in OPERATIONS:
            raise service_error("UnknownOperationException", f"{action} is not simulated", 404, action)
        if self.throttling and not self._quota[action].take():
            raise service_error("ThrottlingException", "Rate exceeded", 429, action)
        (self._validate_describe if action == "DescribeContact" else self._validate)(action, parameters)
        fault = self.faults.take(SERVICE, action, parameters.get("ContactId"))
        if fault is not None and fault.error == ANSWER_LOST:  # it took effect; its answer was lost: a 500
            self._act(action, parameters)
            raise service_error("InternalServiceException", fault.message or "Injected fault", 500, action)
        if fault is not None:
            status = {"InternalServiceException": 500, "ThrottlingException": 429, "ResourceNotFoundException": 404}
            raise service_error(fault.error, fault.message or "Injected fault", status.get(fault.error, 400), action)
        return self._act(action, parameters)

    def _act(self, action: str, parameters: dict) -> dict:
        with self._lock:
            if action == "DescribeContact":
                return self._describe_contact(parameters)
            {
                "StartContactRecording": self._start,
                "SuspendContactRecording": self._suspend,
                "ResumeContactRecording": self._resume,
                "StopContactRecording": self._stop,
            }[action](parameters)
        return {}

    @staticmethod
    def _validate_describe(action: str, p: dict) -> None:
        for name, maximum in (("InstanceId", 100), ("ContactId", 256)):
            value = p.get(name)
            if not isinstance(value, str) or not 1 <= len(value) <= maximum:
                raise service_error(
                    "InvalidParameterException", f"{name} must be a string of 1 to {maximum} characters", 400, action
                )
        unknown = set(p) - {"InstanceId", "ContactId"}
        if unknown:
            raise service_error("InvalidParameterException", f"unknown parameter {sorted(unknown)[0]}", 400, action)

    def _describe_contact(self, p: dict) -> dict:
        """`DescribeContact`: the contact record (botocore's `Contact` shape), 404 for an unknown contact."""
        chain = self._chains.get(p["ContactId"])
        if chain is None or chain.instance.instance_id != p["InstanceId"]:
            raise service_error(
                "ResourceNotFoundException", f"Contact {p['ContactId']} not found", 404, "DescribeContact"
            )
        return {"Contact": self.contact_record(chain, p["ContactId"])}

    def contact_record(self, chain: Chain, contact_id: str) -> dict:
        """What Connect's contact record says of one contact of the chain. The chain's one recording is
        reported on the contact where it started; its `Location` is `bucket/key` once delivered."""
        at = self.clock.at
        index = chain.contact_ids.index(contact_id)
        record: dict[str, Any] = {
            "Arn": f"{chain.instance.arn}/contact/{contact_id}",
            "Id": contact_id,
            "InitialContactId": chain.initial_contact_id,
            "InitiationMethod": "INBOUND" if index == 0 else "TRANSFER",
            "Channel": "VOICE",
            "InitiationTimestamp": at(chain.initiated_at),
        }
        if index > 0:
            record["PreviousContactId"] = chain.contact_ids[index - 1]
        if index + 1 < len(chain.contact_ids):
            record["NextContacts"] = [
                {"Type": "TRANSFER", "NextContactEntry": {"ContactId": chain.contact_ids[index + 1]}}
            ]
            record["DisconnectTimestamp"] = at(chain.ended_at) if chain.ended_at is not None else at(chain.initiated_at)
        elif chain.ended_at is not None:
            record["DisconnectTimestamp"] = at(chain.ended_at)
        if chain.agent_joined_at is not None:
            record["AgentInfo"] = {"Id": "agent-1", "ConnectedToAgentTimestamp": at(chain.agent_joined_at)}
        recording = chain.recording
        if recording is not None and recording.on_contact == contact_id and recording.location:
            entry: dict[str, Any] = {
                "StorageType": "S3",
                "Location": recording.location,
                "MediaStreamType": "AUDIO",
                "ParticipantType": "ALL",
                "Status": "AVAILABLE",
            }
            if recording.started_at is not None:
                entry["StartTimestamp"] = at(recording.started_at)
            if recording.stopped_at is not None:
                entry["StopTimestamp"] = at(recording.stopped_at)
            record["Recordings"] = [entry]
        return record

    def _validate(self, action: str, p: dict) -> None:
        def bad(message: str):
            return service_error("InvalidParameterException", message, 400, action)

        for name, maximum in (("InstanceId", 100), ("ContactId", 256), ("InitialContactId", 256)):
            value = p.get(name)
            if not isinstance(value, str) or not 1 <= len(value) <= maximum:
                raise bad(f"{name} must be a string of 1 to {maximum} characters")
        allowed = {"InstanceId", "ContactId", "InitialContactId"}
        if action == "StartContactRecording":
            allowed.add("VoiceRecordingConfiguration")
            config = p.get("VoiceRecordingConfiguration")
            if not isinstance(config, dict):
                raise bad("VoiceRecordingConfiguration is required")
            if len(config.keys() & {"VoiceRecordingTrack", "IvrRecordingTrack"}) != 1 or set(config) - {
                "VoiceRecordingTrack",
                "IvrRecordingTrack",
            }:
                raise bad("VoiceRecordingConfiguration needs exactly one of VoiceRecordingTrack or IvrRecordingTrack")
            if "VoiceRecordingTrack" in config and config["VoiceRecordingTrack"] not in VOICE_TRACKS:
                raise bad(f"VoiceRecordingTrack must be one of {', '.join(VOICE_TRACKS)}")
            if "IvrRecordingTrack" in config and config["IvrRecordingTrack"] != "ALL":
                raise bad("IvrRecordingTrack must be ALL")
        else:
            allowed.add("ContactRecordingType")
            if "ContactRecordingType" in p and p["ContactRecordingType"] not in RECORDING_TYPES:
                raise bad(f"ContactRecordingType must be one of {', '.join(RECORDING_TYPES)}")
        unknown = set(p) - allowed
        if unknown:
            raise bad(f"unknown parameter {sorted(unknown)[0]}")

    def _contact(self, action: str, p: dict) -> Chain:
        if p["InstanceId"] not in self.instances:
            raise service_error("ResourceNotFoundException", f"Instance {p['InstanceId']} not found", 404, action)
        chain = self._chains.get(p["ContactId"])
        if (
            chain is None
            or chain.instance.instance_id != p["InstanceId"]
            or chain.initial_contact_id != p["InitialContactId"]
            or chain.current_contact_id != p["ContactId"]  # stale after a transfer
        ):
            raise service_error("ResourceNotFoundException", f"Contact {p['ContactId']} not found", 404, action)
        if chain.ended_at is not None:
            raise service_error("InvalidRequestException", "The contact is not active", 400, action)
        return chain

    def _start(self, p: dict) -> None:
        chain = self._contact("StartContactRecording", p)
        recording = chain.recording
        if recording is not None:
            if recording.stopped_at is not None:
                raise service_error(
                    "InvalidRequestException",
                    "Recording was stopped for this contact and cannot be started again",
                    400,
                    "StartContactRecording",
                )
            self._record(chain, "StartContactRecording", outcome="already recording")
            return
        config = p["VoiceRecordingConfiguration"]
        now = self.clock.seconds()
        if "IvrRecordingTrack" in config:
            recording = Recording(track="IVR:ALL", requested_at=now, started_at=now)
        else:
            started = now if chain.agent_joined_at is not None else None
            recording = Recording(track=config["VoiceRecordingTrack"], requested_at=now, started_at=started)
        recording.on_contact = p["ContactId"]
        chain.recording = recording
        self._record(chain, "StartContactRecording", track=recording.track, pending_agent=recording.started_at is None)

    def _recording(self, action: str, p: dict) -> tuple[Chain, Recording]:
        chain = self._contact(action, p)
        if chain.recording is None or chain.recording.stopped_at is not None:
            raise service_error("InvalidRequestException", "The contact is not being recorded", 400, action)
        return chain, chain.recording

    def _suspend(self, p: dict) -> None:
        chain, recording = self._recording("SuspendContactRecording", p)
        recording.silenced.begin(self.clock.seconds())
        self._record(chain, "SuspendContactRecording")

    def _resume(self, p: dict) -> None:
        chain, recording = self._recording("ResumeContactRecording", p)
        recording.silenced.end(self.clock.seconds())
        self._record(chain, "ResumeContactRecording")

    def _stop(self, p: dict) -> None:
        chain, recording = self._recording("StopContactRecording", p)
        recording.stop(self.clock.seconds())
        self._record(chain, "StopContactRecording")

    # --- the recording object ---------------------------------------------------------------------------

    def key_for(self, chain: Chain, recording: Recording) -> str:
        started: datetime = self.clock.at(recording.started_at or recording.requested_at)
        return (
            f"connect/{chain.instance.alias}/CallRecordings/{started:%Y/%m/%d}/"
            f"{recording.on_contact}_{started:%Y%m%dT%H:%M}_UTC.wav"
        )

    def render(self, chain: Chain, recording: Recording, leak: bool = False) -> bytes:
        """Customer left, agent right; suspended spans silent (unless `leak`, the LeakIntoWindow fault)."""
        start, end = recording.started_at, recording.stopped_at
        left, right = recording.render(chain.customer, chain.agent, leak=leak)
        if recording.track == "FROM_AGENT":
            audio.silence(left, start, [(start, end)])
        elif recording.track == "TO_AGENT":
            audio.silence(right, start, [(start, end)])
        return audio.wav_bytes([left, right])

    def _deliver(self, chain: Chain, recording: Recording) -> None:
        key = self.key_for(chain, recording)
        recording.location = f"{chain.instance.bucket}/{key}"
        fault = self.faults.take(SERVICE, DELIVER, recording.on_contact)
        request: dict[str, Any] = {
            "Bucket": chain.instance.bucket,
            "Key": key,
            "Body": self.render(chain, recording, leak=fault is not None and fault.error == "LeakIntoWindow"),
            "ContentType": "audio/wav",
            "ServerSideEncryption": "aws:kms",
        }
        if chain.instance.kms_key_id:
            request["SSEKMSKeyId"] = chain.instance.kms_key_id
        self.delivery.deliver(request, fault)
        self._record(
            chain, "RecordingDelivered", location=recording.location, **({"fault": fault.error} if fault else {})
        )

    # --- internals ----------------------------------------------------------------------------------------

    def _active_chain(self, contact_id: str) -> Chain:
        chain = self.chain(contact_id)
        if chain.current_contact_id != contact_id:
            raise KeyError(f"contact {contact_id} was transferred to {chain.current_contact_id}")
        if chain.ended_at is not None:
            raise KeyError(f"contact {contact_id} has ended")
        return chain

    def _agent_event(self, chain: Chain, before: str | None, after: str) -> None:
        """A STATE_CHANGE on the agent event stream, as Connect writes it to the instance's Kinesis stream (Connect
        Administrator Guide, "Agent event streams data model"): the agent's snapshot before and after, each with
        the contact (the current one of the chain) in its state. Only when the instance has an agent event stream."""
        if self.agent_events is None or chain.agent_arn is None:
            return
        stamp = self._stamp
        contact_id = chain.current_contact_id

        def snapshot(state: str | None) -> dict:
            contacts = []
            if state is not None:
                contacts.append(
                    {
                        "Channel": "VOICE",
                        "ContactId": contact_id,
                        "InitialContactId": None
                        if contact_id == chain.initial_contact_id
                        else chain.initial_contact_id,
                        "InitiationMethod": "INBOUND" if contact_id == chain.initial_contact_id else "TRANSFER",
                        "State": state,
                        # on hold, StateStartTimestamp stays when the contact was connected (as Connect reports it)
                        "StateStartTimestamp": stamp(chain.agent_joined_at),
                        "ConnectedToAgentTimestamp": stamp(chain.agent_joined_at),
                        "QueueTimestamp": stamp(chain.initiated_at),
                        "Queue": {"ARN": f"{chain.instance.arn}/queue/basic", "Name": "BasicQueue"},
                    }
                )
            return {
                "AgentStatus": {"Name": "Available", "Type": "ROUTABLE"},
                "Configuration": {"Username": "agent", "RoutingProfile": {"Name": "Basic Routing Profile"}},
                "Contacts": contacts,
            }

        event = {
            "AWSAccountId": ARN_PREFIX.rsplit(":", 1)[1],
            "AgentARN": chain.agent_arn,
            "CurrentAgentSnapshot": snapshot(after),
            "EventId": str(uuid.uuid4()),
            "EventTimestamp": stamp(self.clock.seconds()),
            "EventType": "STATE_CHANGE",
            "InstanceARN": chain.instance.arn,
            "PreviousAgentSnapshot": snapshot(before),
            "Version": "2017-10-01",
        }
        self.agent_events(event, chain.agent_arn)

    def _stamp(self, seconds: float | None) -> str | None:
        return None if seconds is None else self.clock.at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _record(self, chain: Chain, what: str, **details: Any) -> None:
        chain.log.append({"at": self.clock.seconds(), "event": what, **details})

    def describe(self, contact_id: str) -> dict:
        """The twin's own record of a contact (what the contact record would hold, and what it was asked)."""
        chain = self.chain(contact_id)
        recording = chain.recording
        return {
            "InitialContactId": chain.initial_contact_id,
            "ContactIds": list(chain.contact_ids),
            "CurrentContactId": chain.current_contact_id,
            "InstanceId": chain.instance.instance_id,
            "AgentJoinedAt": chain.agent_joined_at,
            "EndedAt": chain.ended_at,
            "Recording": None if recording is None else recording.view("Suspended"),
            "Recordings": [{"Location": recording.location, "Type": "AUDIO"}]
            if recording and recording.location
            else [],
            "Log": list(chain.log),
        }
