"""The SMA actions the Chime SDK twin executes: prompts, digit collection, call recording, hang-up.

`execute()` answers the action's data for ACTION_SUCCESSFUL, or `Waiting` while a digit prompt waits for the
caller; a failed action raises `ActionFailed` carrying the data for ACTION_FAILED; a Hangup action raises
`CallEnded` once the leg is disconnected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from callrec.sim import audio
from callrec.sim.bucket_policy import service_may
from callrec.sim.chime.events import action_data
from callrec.sim.chime.legs import PRINCIPAL, SERVICE, CallLeg
from callrec.sim.core import Clock, Faults
from callrec.sim.recording import Recording

DEFAULT_PREFIX = "Amazon-Chime-SMA-Call-Recordings"
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
        disconnect: Callable[[CallLeg, str], None],
        stop_recording: Callable[[CallLeg], None],
    ):
        self.clock = clock
        self.faults = faults
        self._s3 = s3
        self._disconnect = disconnect
        self._stop_recording = stop_recording

    def execute(self, leg: CallLeg, action: dict[str, Any], resume: int | None) -> dict[str, Any] | Waiting:
        kind, parameters = action["Type"], action.get("Parameters", {})
        if not isinstance(parameters, dict):
            raise ActionFailed.of(action, "InvalidActionParameter", "Parameters for action are invalid")
        if "CallId" in parameters and parameters["CallId"] != leg.call_id:
            raise ActionFailed.of(action, "InvalidActionParameter", "CallId parameter for action is invalid")
        if "CallId" not in parameters and parameters.get("ParticipantTag") != "LEG-A" and kind != "Hangup":
            raise ActionFailed.of(action, "InvalidActionParameter", "CallId parameter for action is invalid")
        fault = None if resume is not None else self.faults.take(SERVICE, kind, leg.transaction_id)
        if fault is not None and fault.error == "HangUpBeforeSuccess":
            # the action takes effect, then the caller hangs up before its success is reported: HANGUP, not
            # ACTION_SUCCESSFUL, is what the Lambda hears
            handler = getattr(self, f"_{kind}")
            handler(leg, action, parameters, resume)
            self._disconnect(leg, "0")
            raise CallEnded()
        if fault is not None:
            if fault.error == "NoAccessToDestination":
                raise ActionFailed.no_access(action)
            raise ActionFailed.of(action, fault.error, fault.message or SYSTEM_ERROR)
        handler: Callable[..., dict[str, Any] | Waiting] = getattr(self, f"_{kind}")
        return handler(leg, action, parameters, resume)

    # --- prompts and digits ------------------------------------------------------------------------------

    def _play(self, leg: CallLeg, action: dict[str, Any], source: Any, repeat: int = 1) -> None:
        """Play an S3 prompt on the outgoing track, as the Chime service reads it (its bucket policy applies)."""
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
            leg.outgoing.overlay(self.clock.seconds(), audio.voice("prompt", audio.samples(seconds)))
            self.clock.advance(seconds)

    def _PlayAudio(self, leg, action, parameters, resume):  # noqa: N802 - named after the action
        self._play(leg, action, parameters.get("AudioSource"), int(parameters.get("Repeat", 1)))
        return action_data(action)

    def _PlayAudioAndGetDigits(self, leg, action, parameters, resume):  # noqa: N802
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
                    self._play(leg, action, parameters["FailureAudioSource"])
                self._play(leg, action, parameters.get("AudioSource"))
                played += 1
            awaiting = False
            if not leg.answers:
                return Waiting(played)  # the caller has not answered yet
            answer = leg.answers.pop(0)
            if answer is None:
                continue  # silence: the prompt times out
            self.keys(leg, answer)
            digits = answer.rstrip("".join(terminators))
            if minimum <= len(digits) <= maximum and (pattern is None or re.fullmatch(pattern, digits)):
                return action_data(action, ReceivedDigits=digits)

    def keys(self, leg: CallLeg, digits: str) -> None:
        """The caller presses keys: DTMF on the incoming track, taking its time."""
        start = self.clock.seconds()
        end = leg.incoming.overlay(start, audio.dtmf(digits))
        leg.typed.append((start, end))
        self.clock.advance(end - start)

    # --- call recording ------------------------------------------------------------------------------------

    def _StartCallRecording(self, leg, action, parameters, resume):  # noqa: N802
        destination = parameters.get("Destination")
        if parameters.get("Track") not in ("BOTH", "INCOMING", "OUTGOING"):
            raise ActionFailed.of(action, "InvalidActionParameter", "Track parameter for action is invalid")
        if not isinstance(destination, dict) or destination.get("Type") != "S3" or not destination.get("Location"):
            raise ActionFailed.of(action, "InvalidActionParameter", "Destination parameter for action is invalid")
        if leg.recording_used:
            raise ActionFailed.of(action, "InvalidActionParameter", "Call recording can be started once per call leg")
        bucket, _, prefix = destination["Location"].partition("/")
        prefix = prefix.strip("/") or DEFAULT_PREFIX
        started = self.clock.at(leg.started_at)
        key = (
            f"{prefix}/{started:%Y/%m/%d}/{started:%Y-%m-%d-%H-%M-%S}-{started.microsecond // 1000:03d}"
            f"_{leg.transaction_id}_{leg.call_id}.wav"
        )
        try:
            policy = bucket_policy(self._s3(), bucket)
        except ClientError:
            raise ActionFailed.no_access(action) from None
        if not _chime_may(leg, policy, "s3:PutObject", bucket, key):
            raise ActionFailed.no_access(action)
        now = self.clock.seconds()
        leg.recording = Recording(parameters["Track"], requested_at=now, started_at=now, location=f"{bucket}/{key}")
        leg.recording_used = True
        return action_data(action, CallRecordingDestination={"Type": "S3", "Location": f"{bucket}/{key}"})

    def _recording_in_progress(self, leg: CallLeg, action: dict[str, Any]) -> Recording:
        if leg.recording is None or leg.recording.stopped_at is not None:
            raise ActionFailed.of(action, "InvalidActionParameter", "There is no call recording in progress")
        return leg.recording

    def _PauseCallRecording(self, leg, action, parameters, resume):  # noqa: N802
        recording = self._recording_in_progress(leg, action)
        if not recording.silenced.open:
            now = self.clock.seconds()
            self._tone(leg, recording, now - 0.25)  # the pause tone, just before the silent span
            recording.silenced.begin(now)
        return action_data(action)

    def _ResumeCallRecording(self, leg, action, parameters, resume):  # noqa: N802
        recording = self._recording_in_progress(leg, action)
        if recording.silenced.open:
            now = self.clock.seconds()
            recording.silenced.end(now)
            self._tone(leg, recording, now)  # the resume tone, just after the silent span
        return action_data(action)

    def _StopCallRecording(self, leg, action, parameters, resume):  # noqa: N802
        self._recording_in_progress(leg, action)
        self._stop_recording(leg)
        return action_data(action)

    def _tone(self, leg: CallLeg, recording: Recording, at: float) -> None:
        tone = audio.beep()
        leg.incoming.overlay(max(recording.started_at, at), tone)
        leg.outgoing.overlay(max(recording.started_at, at), tone)

    def _Hangup(self, leg, action, parameters, resume):  # noqa: N802
        self._disconnect(leg, str(parameters.get("SipResponseCode", "0")))
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
