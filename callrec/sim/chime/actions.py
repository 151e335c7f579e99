"""The SMA actions the Chime SDK twin executes: prompts, digit collection, call recording, bridging, hang-up.

An action acts on the leg its CallId names (LEG-A, or LEG-B once a CallAndBridge action bridged one), or on
the leg its ParticipantTag names; each leg has its own audio and its own recording.

`execute()` answers the action's data for ACTION_SUCCESSFUL, or `Waiting` while a digit prompt waits for the
caller; a failed action raises `ActionFailed` carrying the data for ACTION_FAILED; a Hangup action raises
`CallEnded` once the leg is disconnected.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from callrec.sim import audio
from callrec.sim.bucket_policy import service_may
from callrec.sim.chime.events import action_data
from callrec.sim.chime.legs import E164, PRINCIPAL, SERVICE, BridgedLeg, CallLeg, Phone
from callrec.sim.core import Clock, Faults
from callrec.sim.recording import Recording

DEFAULT_PREFIX = "Amazon-Chime-SMA-Call-Recordings"
Leg = CallLeg | BridgedLeg
NO_ACCESS = "NoAccessToDestination: Error while accessing destination"
SYSTEM_ERROR = "System error while executing an action."


class ActionFailed(Exception):
    """The action failed: `data` is what ACTION_FAILED reports (ErrorType + ErrorMessage, or one Error)."""

    def __init__(self, data: dict[str, Any]):
        super().__init__(data.get("ErrorType") or data.get("Error"))
        self.data = data

    @classmethod
    def of(cls, action: dict[str, Any], error_type: str, message: str) -> ActionFailed:
        return cls(action_data(action, ErrorType=error_type, ErrorMessage=message))

    @classmethod
    def no_access(cls, action: dict[str, Any]) -> ActionFailed:
        return cls(action_data(action, Error=NO_ACCESS))


class CallEnded(Exception):
    """A Hangup action ended the call while actions were running."""


@dataclass(frozen=True)
class Waiting:
    """A digit prompt has played `played` times and waits for the caller."""

    played: int


class ActionInterpreter:
    def __init__(
        self,
        clock: Clock,
        faults: Faults,
        s3: Callable[[], Any],
        disconnect: Callable[[CallLeg, Leg, str], None],
        stop_recording: Callable[[CallLeg, Leg], None],
        phones: dict[str, Phone],
    ):
        self.clock = clock
        self.faults = faults
        self._s3 = s3
        self._disconnect = disconnect
        self._stop_recording = stop_recording
        self.phones = phones

    @staticmethod
    def target(leg: CallLeg, kind: str, parameters: dict[str, Any]) -> Leg | None:
        """The connected leg an action acts on: the one its CallId names, else the one its ParticipantTag names
        (Hangup and CallAndBridge act on LEG-A when they name none). None: the action names no leg of the call."""
        if "CallId" in parameters:
            party = leg.participant(call_id=parameters["CallId"])
        elif "ParticipantTag" in parameters or kind in ("Hangup", "CallAndBridge"):
            party = leg.participant(tag=parameters.get("ParticipantTag", "LEG-A"))
        else:
            party = None
        return party if party is not None and party.connected else None

    def execute(self, leg: CallLeg, action: dict[str, Any], resume: int | None) -> dict[str, Any] | Waiting:
        kind, parameters = action["Type"], action.get("Parameters", {})
        if not isinstance(parameters, dict):
            raise ActionFailed.of(action, "InvalidActionParameter", "Parameters for action are invalid")
        party = self.target(leg, kind, parameters)
        if party is None:
            raise ActionFailed.of(action, "InvalidActionParameter", "CallId parameter for action is invalid")
        fault = None if resume is not None else self.faults.take(SERVICE, kind, leg.transaction_id)
        if fault is not None and fault.error == "HangUpBeforeSuccess":
            # the action takes effect, then the caller hangs up before its success is reported: HANGUP, not
            # ACTION_SUCCESSFUL, is what the Lambda hears
            handler = getattr(self, f"_{kind}")
            handler(leg, party, action, parameters, resume)
            self._disconnect(leg, leg, "0")
            raise CallEnded()
        if fault is not None:
            if fault.error == "NoAccessToDestination":
                raise ActionFailed.no_access(action)
            raise ActionFailed.of(action, fault.error, fault.message or SYSTEM_ERROR)
        handler: Callable[..., dict[str, Any] | Waiting] = getattr(self, f"_{kind}")
        return handler(leg, party, action, parameters, resume)

    # --- prompts and digits ------------------------------------------------------------------------------

    def _play(self, leg: CallLeg, party: Leg, action: dict[str, Any], source: Any, repeat: int = 1) -> None:
        """Play an S3 prompt on the party's outgoing track, as the Chime service reads it (its bucket policy
        applies)."""
        if (
            not isinstance(source, dict)
            or source.get("Type") != "S3"
            or not source.get("BucketName")
            or not source.get("Key")
        ):
            raise ActionFailed.of(action, "InvalidActionParameter", "AudioSource parameter for action is invalid")
        bucket, key = source["BucketName"], source["Key"]
        s3 = self._s3()
        try:
            policy = bucket_policy(s3, bucket)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            seconds = audio.wav_duration(body)
        except (ClientError, ValueError):
            raise ActionFailed.of(action, "InvalidAudioSource", "Audio Source parameter value is invalid.") from None
        if not _chime_may(leg, policy, "s3:GetObject", bucket, key):
            raise ActionFailed.of(action, "InvalidAudioSource", "Audio Source parameter value is invalid.")
        for _ in range(max(1, repeat)):
            party.outgoing.overlay(self.clock.seconds(), audio.voice("prompt", audio.samples(seconds)))
            self.clock.advance(seconds)

    def _PlayAudio(self, leg, party, action, parameters, resume):  # noqa: N802 - named after the action
        self._play(leg, party, action, parameters.get("AudioSource"), int(parameters.get("Repeat", 1)))
        return action_data(action)

    def _PlayAudioAndGetDigits(self, leg, party, action, parameters, resume):  # noqa: N802
        minimum = int(parameters.get("MinNumberOfDigits", 1))
        maximum = int(parameters.get("MaxNumberOfDigits", 128))
        repeat = int(parameters.get("Repeat", 2))
        terminators = parameters.get("TerminatorDigits", ["#"])
        pattern = parameters.get("InputDigitsRegex")
        if minimum < 0 or maximum < max(minimum, 1) or repeat < 1:
            raise ActionFailed.of(action, "InvalidActionParameter", "Digit parameters for action are invalid")
        played = resume or 0
        awaiting = resume is not None  # resumed: the prompt already played and waits for this answer
        while True:
            if not awaiting:
                if played >= repeat:
                    raise ActionFailed.of(action, "InvalidDigitsReceived", "Invalid digits received.")
                if played > 0 and "FailureAudioSource" in parameters:
                    self._play(leg, party, action, parameters["FailureAudioSource"])
                self._play(leg, party, action, parameters.get("AudioSource"))
                played += 1
            awaiting = False
            if not party.answers:
                return Waiting(played)  # the party has not answered yet
            answer = party.answers.pop(0)
            if answer is None:
                continue  # silence: the prompt times out
            self.keys(party, answer)
            digits = answer.rstrip("".join(terminators))
            if minimum <= len(digits) <= maximum and (pattern is None or re.fullmatch(pattern, digits)):
                return action_data(action, ReceivedDigits=digits)

    def keys(self, party: Leg, digits: str) -> None:
        """The leg's party presses keys: DTMF on its incoming track (and so heard across a bridge), taking its
        time."""
        start = self.clock.seconds()
        end = party.incoming.overlay(start, audio.dtmf(digits))
        party.typed.append((start, end))
        self.clock.advance(end - start)

    # --- call recording ------------------------------------------------------------------------------------

    def _StartCallRecording(self, leg, party, action, parameters, resume):  # noqa: N802
        destination = parameters.get("Destination")
        if parameters.get("Track") not in ("BOTH", "INCOMING", "OUTGOING"):
            raise ActionFailed.of(action, "InvalidActionParameter", "Track parameter for action is invalid")
        if not isinstance(destination, dict) or destination.get("Type") != "S3" or not destination.get("Location"):
            raise ActionFailed.of(action, "InvalidActionParameter", "Destination parameter for action is invalid")
        if party.recording_used:
            raise ActionFailed.of(action, "InvalidActionParameter", "Call recording can be started once per call leg")
        bucket, _, prefix = destination["Location"].partition("/")
        prefix = prefix.strip("/") or DEFAULT_PREFIX
        started = self.clock.at(party.started_at)
        key = (
            f"{prefix}/{started:%Y/%m/%d}/{started:%Y-%m-%d-%H-%M-%S}-{started.microsecond // 1000:03d}"
            f"_{leg.transaction_id}_{party.call_id}.wav"
        )
        try:
            policy = bucket_policy(self._s3(), bucket)
        except ClientError:
            raise ActionFailed.no_access(action) from None
        if not _chime_may(leg, policy, "s3:PutObject", bucket, key):
            raise ActionFailed.no_access(action)
        now = self.clock.seconds()
        party.recording = Recording(parameters["Track"], requested_at=now, started_at=now, location=f"{bucket}/{key}")
        party.recording_used = True
        return action_data(action, CallRecordingDestination={"Type": "S3", "Location": f"{bucket}/{key}"})

    def _recording_in_progress(self, party: Leg, action: dict[str, Any]) -> Recording:
        if party.recording is None or party.recording.stopped_at is not None:
            raise ActionFailed.of(action, "InvalidActionParameter", "There is no call recording in progress")
        return party.recording

    def _PauseCallRecording(self, leg, party, action, parameters, resume):  # noqa: N802
        recording = self._recording_in_progress(party, action)
        if not recording.silenced.open:
            now = self.clock.seconds()
            self._tone(party, recording, now - 0.25)  # the pause tone, just before the silent span
            recording.silenced.begin(now)
        return action_data(action)

    def _ResumeCallRecording(self, leg, party, action, parameters, resume):  # noqa: N802
        recording = self._recording_in_progress(party, action)
        if recording.silenced.open:
            now = self.clock.seconds()
            recording.silenced.end(now)
            self._tone(party, recording, now)  # the resume tone, just after the silent span
        return action_data(action)

    def _StopCallRecording(self, leg, party, action, parameters, resume):  # noqa: N802
        self._recording_in_progress(party, action)
        self._stop_recording(leg, party)
        return action_data(action)

    def _tone(self, party: Leg, recording: Recording, at: float) -> None:
        tone = audio.beep()
        party.incoming.overlay(max(recording.started_at, at), tone)
        party.outgoing.overlay(max(recording.started_at, at), tone)

    # --- bridging and hanging up -------------------------------------------------------------------------------

    def _CallAndBridge(self, leg, party, action, parameters, resume):  # noqa: N802
        """Call a PSTN number and bridge it to LEG-A once answered (the Developer Guide, "CallAndBridge"): each leg
        then hears the other's party. Not answered within CallTimeoutSeconds: ACTION_FAILED, CallNotAnswered."""
        timeout, caller_id, endpoints = (
            parameters.get("CallTimeoutSeconds", 30),
            parameters.get("CallerIdNumber"),
            parameters.get("Endpoints"),
        )
        if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 < timeout <= 120:
            raise ActionFailed.of(
                action, "InvalidActionParameter", "CallTimeoutSeconds parameter for action is invalid"
            )
        if not isinstance(caller_id, str) or not E164.match(caller_id):
            raise ActionFailed.of(action, "InvalidActionParameter", "CallerIdNumber parameter for action is invalid")
        if (
            not isinstance(endpoints, list)
            or len(endpoints) != 1
            or not isinstance(endpoints[0], dict)
            or endpoints[0].get("BridgeEndpointType") != "PSTN"
            or not E164.match(str(endpoints[0].get("Uri", "")))
        ):  # a Voice Connector endpoint (AWS) is not simulated
            raise ActionFailed.of(action, "InvalidActionParameter", "Endpoints parameter for action is invalid")
        if party is not leg or leg.bridged is not None:
            raise ActionFailed.of(action, "InvalidActionParameter", "The call is already bridged")
        number = endpoints[0]["Uri"]
        phone = self.phones.get(number, Phone())
        if not phone.answers:
            self.clock.advance(timeout)
            raise ActionFailed.of(action, "CallNotAnswered", "Call not answered")
        now = self.clock.seconds()
        bridged = BridgedLeg(
            call_id=str(uuid.uuid4()),
            from_number=caller_id,
            to_number=number,
            started_at=now,
            start_ms=int(self.clock.now().timestamp() * 1000),
            answers=list(phone.keys),
        )
        bridged.incoming.join(now)
        leg.outgoing.leave(now)  # from now on LEG-A's party hears the bridged party, and the other way round
        leg.outgoing.relay(bridged.incoming, now)
        bridged.outgoing.relay(leg.incoming, now)
        leg.bridged = bridged
        reported = action_data(action)
        reported["Parameters"]["CallId"] = leg.call_id
        return reported

    def _Hangup(self, leg, party, action, parameters, resume):  # noqa: N802
        self._disconnect(leg, party, str(parameters.get("SipResponseCode", "0")))
        raise CallEnded()


def _chime_may(leg: CallLeg, policy: dict[str, Any] | None, action: str, bucket: str, key: str) -> bool:
    """Does the bucket policy let the Chime service do `action` on the object, for this leg's SMA?"""
    return service_may(
        policy,
        service=PRINCIPAL,
        action=action,
        resource=f"arn:aws:s3:::{bucket}/{key}",
        context=leg.sma.source_context(),
    )


def bucket_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's policy (None if it has none); ClientError if the bucket does not exist."""
    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchBucketPolicy":
            s3.head_bucket(Bucket=bucket)
            return None
        raise
