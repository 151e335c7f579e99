"""The Amazon Chime SDK PSTN audio twin: SIP media applications and their call legs.

A call leg invokes the SMA's Lambda function (the project's handler, in-process) with the documented
events, carries `Sequence` and `TransactionAttributes` between invocations, and executes the actions
it gets back: PlayAudio, PlayAudioAndGetDigits, StartCallRecording, Pause/Resume/StopCallRecording and
Hangup. It rejects what the service rejects (more than 10 actions, unknown actions, bad parameters).
`UpdateSipMediaApplicationCall` is asynchronous, as on AWS: it answers 202 and the Lambda is invoked
later with CALL_UPDATE_REQUESTED. Each leg handles its events in order on its own worker thread.

Where AWS's documentation leaves behaviour open, the choice made is in docs/simulator.md.
"""

from __future__ import annotations

import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from callrec import engine
from callrec.sim import audio
from callrec.sim.bucket_policy import service_may
from callrec.sim.core import DELIVER, Clock, Delivery, Faults, Windows, service_error

SERVICE = "chimesdkvoice"
PRINCIPAL = "voiceconnector.chime.amazonaws.com"
MAX_ACTIONS = 10
MAX_TRANSACTION_ATTRIBUTES = 10
MAX_UPDATE_ARGUMENTS = 20
DEFAULT_PREFIX = "Amazon-Chime-SMA-Call-Recordings"
SUPPORTED_ACTIONS = (
    "PlayAudio",
    "PlayAudioAndGetDigits",
    "StartCallRecording",
    "PauseCallRecording",
    "ResumeCallRecording",
    "StopCallRecording",
    "Hangup",
)
NO_ACCESS = "NoAccessToDestination: Error while accessing destination"


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


@dataclass
class ChimeRecording:
    track: str
    bucket: str
    key: str
    started_at: float
    stopped_at: float | None = None
    paused: Windows = field(default_factory=Windows)

    def stop(self, at: float) -> None:
        self.stopped_at = at
        self.paused.end(at)


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
    sequence: int = 0
    attributes: dict[str, str] = field(default_factory=dict)
    incoming: audio.Channel = field(default_factory=lambda: audio.Channel("caller"))
    outgoing: audio.Channel = field(default_factory=lambda: audio.Channel("agent"))
    recording: ChimeRecording | None = None
    recording_used: bool = False  # start and stop once per call leg
    waiting: tuple[list[dict], int, int] | None = None  # (actions, index, prompts played) of a digit prompt
    invocations: list[dict] = field(default_factory=list)  # (sequence, event type, action type) per call
    executed: list[dict] = field(default_factory=list)  # every action executed, with its outcome
    typed: list[tuple[float, float]] = field(default_factory=list)  # when the caller pressed keys (never which)
    inbox: queue.Queue = field(default_factory=queue.Queue)


class _Hangup(Exception):
    """The call ended while actions were running."""


class ChimeTwin:
    """The SMA side of the telephony simulator."""

    def __init__(
        self,
        clock: Clock,
        faults: Faults,
        delivery: Delivery,
        s3: Callable[[], Any],
        region: str = "us-east-1",
        account: str = "123456789012",
    ):
        self.clock = clock
        self.faults = faults
        self.delivery = delivery
        self._s3 = s3
        self.region = region
        self.account = account
        self.applications: dict[str, SipMediaApplication] = {}
        self.legs: dict[str, CallLeg] = {}
        self._lock = threading.RLock()

    # --- set-up and the caller ------------------------------------------------------------------------

    def create_sip_media_application(self, name: str, function: str, sma_id: str | None = None) -> SipMediaApplication:
        application = SipMediaApplication(sma_id or str(uuid.uuid4()), name, function, self.region, self.account)
        self.applications[application.id] = application
        return application

    def place_call(self, sma_id: str, from_number: str, to_number: str, answers: list[str | None] | None = None) -> str:
        """A caller dials in: NEW_INBOUND_CALL goes to the SMA's Lambda. Returns the TransactionId."""
        sma = self.applications[sma_id]
        now = self.clock.seconds()
        leg = CallLeg(
            transaction_id=str(uuid.uuid4()),
            call_id=str(uuid.uuid4()),
            sma=sma,
            from_number=from_number,
            to_number=to_number,
            started_at=now,
            start_ms=int(self.clock.now().timestamp() * 1000),
            answers=list(answers or []),
        )
        leg.incoming.join(now)
        leg.outgoing.join(now)
        with self._lock:
            self.legs[leg.transaction_id] = leg
        threading.Thread(target=self._work, args=(leg,), daemon=True, name=f"sma-{leg.transaction_id[:8]}").start()
        leg.inbox.put(("NEW_INBOUND_CALL", None))
        return leg.transaction_id

    def press(self, transaction_id: str, digits: str) -> None:
        """The caller answers the digit prompt that is waiting (DTMF goes onto the incoming track)."""
        self.legs[transaction_id].inbox.put(("DIGITS", digits))

    def hang_up(self, transaction_id: str) -> None:
        """The caller hangs up."""
        self.legs[transaction_id].inbox.put(("CALLER_HANGUP", None))

    def talk(self, transaction_id: str, seconds: float) -> None:
        """Both sides talk for a while (the call's clock moves on)."""
        self.legs[transaction_id].inbox.put(("TALK", seconds))

    def wait_idle(self, transaction_id: str, timeout: float = 30.0) -> None:
        """Block until the leg has handled everything it was sent."""
        leg = self.legs[transaction_id]
        done = threading.Event()
        leg.inbox.put(("MARK", done))
        if not done.wait(timeout):
            raise TimeoutError(f"call {transaction_id} still busy after {timeout}s")

    # --- the API: UpdateSipMediaApplicationCall ------------------------------------------------------------

    def call(self, action: str, parameters: dict) -> dict:
        if action != "UpdateSipMediaApplicationCall":
            raise service_error("UnknownOperationException", f"{action} is not simulated", 404, action)
        sma_id, transaction_id = parameters.get("SipMediaApplicationId"), parameters.get("TransactionId")
        arguments = parameters.get("Arguments", {})
        if not isinstance(sma_id, str) or not sma_id or not isinstance(transaction_id, str) or not transaction_id:
            raise service_error(
                "BadRequestException", "SipMediaApplicationId and TransactionId are required", 400, action
            )
        if (
            not isinstance(arguments, dict)
            or len(arguments) > MAX_UPDATE_ARGUMENTS
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in arguments.items())
        ):
            raise service_error(
                "BadRequestException", f"Arguments must be at most {MAX_UPDATE_ARGUMENTS} string pairs", 400, action
            )
        fault = self.faults.take(SERVICE, action, transaction_id)
        if fault is not None:
            status = {
                "ThrottledClientException": 429,
                "NotFoundException": 404,
                "ServiceFailureException": 500,
                "ServiceUnavailableException": 503,
            }
            raise service_error(fault.error, fault.message or "Injected fault", status.get(fault.error, 400), action)
        leg = self.legs.get(transaction_id)
        if sma_id not in self.applications or leg is None or leg.sma.id != sma_id or leg.status != "Connected":
            raise service_error("NotFoundException", f"Call {transaction_id} not found", 404, action)
        leg.inbox.put(("CALL_UPDATE_REQUESTED", dict(arguments)))
        return {"SipMediaApplicationCall": {"TransactionId": transaction_id}}

    # --- the leg's worker ------------------------------------------------------------------------------------

    def _work(self, leg: CallLeg) -> None:
        while True:
            kind, payload = leg.inbox.get()
            try:
                if kind == "MARK":
                    payload.set()
                elif leg.status == "Connected":
                    self._handle(leg, kind, payload)
            except Exception:  # noqa: BLE001 - a twin bug must not wedge the leg; it is recorded
                import traceback

                leg.executed.append({"Type": "SimulatorError", "Outcome": traceback.format_exc()})
            finally:
                leg.inbox.task_done()

    def _handle(self, leg: CallLeg, kind: str, payload: Any) -> None:
        if kind == "NEW_INBOUND_CALL":
            self._converse(leg, self._event(leg, "NEW_INBOUND_CALL"))
        elif kind == "CALL_UPDATE_REQUESTED":
            event = self._event(
                leg, "CALL_UPDATE_REQUESTED", {"Type": "CallUpdateRequest", "Parameters": {"Arguments": payload}}
            )
            response = self._invoke(leg, event)
            if response is not None and response.get("Actions") and leg.waiting is not None:
                interrupted = leg.waiting[0][leg.waiting[1]]
                leg.waiting = None
                self._invoke(leg, self._event(leg, "ACTION_INTERRUPTED", self._action_data(interrupted)))
            if response is not None and (response.get("Actions") or leg.waiting is None):
                self._run(leg, response["Actions"])
        elif kind == "DIGITS":
            if leg.waiting is None:  # typed with no prompt waiting: only the audio hears it
                self._keys(leg, payload)
                return
            actions, index, played = leg.waiting
            leg.waiting = None
            leg.answers.insert(0, payload)
            self._run(leg, actions, index, resume=played)
        elif kind == "CALLER_HANGUP":
            self._disconnect(leg, initiated_by_app=False)
        elif kind == "TALK":
            self.clock.advance(float(payload))

    def _converse(self, leg: CallLeg, event: dict) -> None:
        response = self._invoke(leg, event)
        if response is not None:
            self._run(leg, response["Actions"])

    def _event(self, leg: CallLeg, event_type: str, action_data: dict | None = None) -> dict:
        leg.sequence += 1
        event = {
            "SchemaVersion": "1.0",
            "Sequence": leg.sequence,
            "InvocationEventType": event_type,
            "CallDetails": {
                "TransactionId": leg.transaction_id,
                "TransactionAttributes": dict(leg.attributes),
                "AwsAccountId": leg.sma.account,
                "AwsRegion": leg.sma.region,
                "SipMediaApplicationId": leg.sma.id,
                "Participants": [
                    {
                        "CallId": leg.call_id,
                        "ParticipantTag": "LEG-A",
                        "To": leg.to_number,
                        "From": leg.from_number,
                        "Direction": "Inbound",
                        "StartTimeInMilliseconds": str(leg.start_ms),
                        "Status": leg.status,
                    }
                ],
            },
        }
        if not leg.attributes:
            del event["CallDetails"]["TransactionAttributes"]
        if action_data is not None:
            event["ActionData"] = action_data
        return event

    def _invoke(self, leg: CallLeg, event: dict, retry_invalid: bool = True) -> dict | None:
        """Invoke the SMA's Lambda; a valid answer is returned, an invalid one is reported to it once."""
        leg.invocations.append(
            {
                "Sequence": event["Sequence"],
                "InvocationEventType": event["InvocationEventType"],
                "ActionType": event.get("ActionData", {}).get("Type"),
                **(
                    {"Error": error}
                    if (
                        error := event.get("ActionData", {}).get("Error")
                        or event.get("ActionData", {}).get("ErrorType")
                    )
                    else {}
                ),
            }
        )
        function = engine.settings.functions.get(leg.sma.function)
        if function is None:
            problem = f"function {leg.sma.function} not found"
            response = None
        else:
            answer = function.invoke(event)
            response = answer.get("Payload")
            problem = "the function failed" if answer.get("FunctionError") else self._response_problem(response)
        if event["InvocationEventType"] == "HANGUP":
            return None  # the call is over: nothing the function answers is executed
        if problem is None:
            leg.attributes = dict(response.get("TransactionAttributes", leg.attributes))
            return response
        if not retry_invalid:
            self._disconnect(leg, initiated_by_app=True, notify=False)
            return None
        invalid = self._event(
            leg, "INVALID_LAMBDA_RESPONSE", {"ErrorType": "InvalidLambdaResponse", "ErrorMessage": problem}
        )
        return self._invoke(leg, invalid, retry_invalid=False)

    @staticmethod
    def _response_problem(response: Any) -> str | None:
        if not isinstance(response, dict) or response.get("SchemaVersion") != "1.0":
            return "the response must be an object with SchemaVersion 1.0"
        actions = response.get("Actions")
        if not isinstance(actions, list):
            return "Actions must be a list"
        if len(actions) > MAX_ACTIONS:
            return f"at most {MAX_ACTIONS} actions, got {len(actions)}"
        for action in actions:
            if not isinstance(action, dict) or action.get("Type") not in SUPPORTED_ACTIONS:
                kind = action.get("Type") if isinstance(action, dict) else action
                return f"unsupported action {kind!r}"
        attributes = response.get("TransactionAttributes", {})
        if (
            not isinstance(attributes, dict)
            or len(attributes) > MAX_TRANSACTION_ATTRIBUTES
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items())
        ):
            return f"TransactionAttributes must be at most {MAX_TRANSACTION_ATTRIBUTES} string pairs"
        return None

    # --- actions ---------------------------------------------------------------------------------------------

    def _run(self, leg: CallLeg, actions: list[dict], start: int = 0, resume: int | None = None) -> None:
        """Run `actions` from `start`; report the outcome to the function and run what it answers.

        `resume` continues a digit prompt that was waiting for the caller: how many times it played."""
        while True:
            outcome_event = None
            if not actions:
                return  # nothing to do: the call waits for its next event
            try:
                last_data: dict = {}
                for index in range(start, len(actions)):
                    action = actions[index]
                    result = self._execute(leg, action, resume if index == start else None)
                    resume = None
                    leg.executed.append({"Type": action["Type"], "Outcome": result[0]})
                    if result[0] == "waiting":
                        leg.waiting = (actions, index, result[1])
                        return
                    if result[0] == "failed":
                        outcome_event = self._event(leg, "ACTION_FAILED", result[1])
                        break
                    last_data = result[1]
                else:
                    outcome_event = self._event(leg, "ACTION_SUCCESSFUL", last_data)
            except _Hangup:
                return
            response = self._invoke(leg, outcome_event)
            if response is None or leg.status != "Connected":
                return
            actions, start = response["Actions"], 0

    def _action_data(self, action: dict) -> dict:
        return {"Type": action["Type"], "Parameters": dict(action.get("Parameters", {}))}

    def _failed(self, action: dict, error_type: str, message: str) -> tuple[str, dict]:
        return "failed", {**self._action_data(action), "ErrorType": error_type, "ErrorMessage": message}

    def _execute(self, leg: CallLeg, action: dict, resume: int | None) -> tuple[str, Any]:
        kind, parameters = action["Type"], action.get("Parameters", {})
        if not isinstance(parameters, dict):
            return self._failed(action, "InvalidActionParameter", "Parameters for action are invalid")
        if "CallId" in parameters and parameters["CallId"] != leg.call_id:
            return self._failed(action, "InvalidActionParameter", "CallId parameter for action is invalid")
        if "CallId" not in parameters and parameters.get("ParticipantTag") != "LEG-A" and kind != "Hangup":
            return self._failed(action, "InvalidActionParameter", "CallId parameter for action is invalid")
        fault = None if resume is not None else self.faults.take(SERVICE, kind, leg.transaction_id)
        if fault is not None:
            if fault.error == "NoAccessToDestination":
                return "failed", {**self._action_data(action), "Error": NO_ACCESS}
            return self._failed(action, fault.error, fault.message or "System error while executing an action.")
        return getattr(self, f"_do_{kind}")(leg, action, parameters, resume)

    def _prompt(self, leg: CallLeg, action: dict, source: Any, repeat: int = 1) -> tuple[str, Any] | None:
        """Play an S3 prompt on the outgoing track; a failure tuple if the source is not playable."""
        if (
            not isinstance(source, dict)
            or source.get("Type") != "S3"
            or not source.get("BucketName")
            or not source.get("Key")
        ):
            return self._failed(action, "InvalidActionParameter", "AudioSource parameter for action is invalid")
        bucket, key = source["BucketName"], source["Key"]
        s3 = self._s3()
        try:
            policy = _bucket_policy(s3, bucket)
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            seconds = audio.wav_duration(body)
        except (ClientError, ValueError):
            return self._failed(action, "InvalidAudioSource", "Audio Source parameter value is invalid.")
        if not service_may(
            policy,
            service=PRINCIPAL,
            action="s3:GetObject",
            resource=f"arn:aws:s3:::{bucket}/{key}",
            context=self._source_context(leg),
        ):
            return self._failed(action, "InvalidAudioSource", "Audio Source parameter value is invalid.")
        for _ in range(max(1, repeat)):
            leg.outgoing.overlay(self.clock.seconds(), audio.voice("prompt", audio.samples(seconds)))
            self.clock.advance(seconds)
        return None

    def _source_context(self, leg: CallLeg) -> dict[str, str]:
        return {"aws:SourceAccount": leg.sma.account, "aws:SourceArn": leg.sma.arn}

    def _do_PlayAudio(self, leg, action, parameters, resume):
        failure = self._prompt(leg, action, parameters.get("AudioSource"), int(parameters.get("Repeat", 1)))
        return failure or ("ok", self._action_data(action))

    def _do_PlayAudioAndGetDigits(self, leg, action, parameters, resume):
        minimum = int(parameters.get("MinNumberOfDigits", 1))
        maximum = int(parameters.get("MaxNumberOfDigits", 128))
        repeat = int(parameters.get("Repeat", 2))
        terminators = parameters.get("TerminatorDigits", ["#"])
        pattern = parameters.get("InputDigitsRegex")
        if minimum < 0 or maximum < max(minimum, 1) or repeat < 1:
            return self._failed(action, "InvalidActionParameter", "Digit parameters for action are invalid")
        played = resume or 0
        awaiting = resume is not None  # resumed: the prompt already played and waits for this answer
        while True:
            if not awaiting:
                if played >= repeat:
                    return self._failed(action, "InvalidDigitsReceived", "Invalid digits received.")
                if played > 0 and "FailureAudioSource" in parameters:
                    failure = self._prompt(leg, action, parameters["FailureAudioSource"])
                    if failure:
                        return failure
                failure = self._prompt(leg, action, parameters.get("AudioSource"))
                if failure:
                    return failure
                played += 1
            awaiting = False
            if not leg.answers:
                return "waiting", played  # the caller has not answered yet
            answer = leg.answers.pop(0)
            if answer is None:
                continue  # silence: the prompt times out
            self._keys(leg, answer)
            digits = answer.rstrip("".join(terminators))
            if minimum <= len(digits) <= maximum and (pattern is None or re.fullmatch(pattern, digits)):
                return "ok", {**self._action_data(action), "ReceivedDigits": digits}

    def _do_StartCallRecording(self, leg, action, parameters, resume):
        destination = parameters.get("Destination")
        if parameters.get("Track") not in ("BOTH", "INCOMING", "OUTGOING"):
            return self._failed(action, "InvalidActionParameter", "Track parameter for action is invalid")
        if not isinstance(destination, dict) or destination.get("Type") != "S3" or not destination.get("Location"):
            return self._failed(action, "InvalidActionParameter", "Destination parameter for action is invalid")
        if leg.recording_used:
            return self._failed(action, "InvalidActionParameter", "Call recording can be started once per call leg")
        bucket, _, prefix = destination["Location"].partition("/")
        prefix = prefix.strip("/") or DEFAULT_PREFIX
        started = self.clock.at(leg.started_at)
        key = (
            f"{prefix}/{started:%Y/%m/%d}/{started:%Y-%m-%d-%H-%M-%S}-{started.microsecond // 1000:03d}"
            f"_{leg.transaction_id}_{leg.call_id}.wav"
        )
        try:
            policy = _bucket_policy(self._s3(), bucket)
        except ClientError:
            return "failed", {**self._action_data(action), "Error": NO_ACCESS}
        if not service_may(
            policy,
            service=PRINCIPAL,
            action="s3:PutObject",
            resource=f"arn:aws:s3:::{bucket}/{key}",
            context=self._source_context(leg),
        ):
            return "failed", {**self._action_data(action), "Error": NO_ACCESS}
        leg.recording = ChimeRecording(parameters["Track"], bucket, key, self.clock.seconds())
        leg.recording_used = True
        return "ok", {
            **self._action_data(action),
            "CallRecordingDestination": {"Type": "S3", "Location": f"{bucket}/{key}"},
        }

    def _active_recording(self, leg, action):
        if leg.recording is None or leg.recording.stopped_at is not None:
            return None, self._failed(action, "InvalidActionParameter", "There is no call recording in progress")
        return leg.recording, None

    def _do_PauseCallRecording(self, leg, action, parameters, resume):
        recording, failure = self._active_recording(leg, action)
        if failure:
            return failure
        if not recording.paused.open:
            now = self.clock.seconds()
            self._tone(leg, now - 0.25)  # the pause tone, just before the silent span
            recording.paused.begin(now)
        return "ok", self._action_data(action)

    def _do_ResumeCallRecording(self, leg, action, parameters, resume):
        recording, failure = self._active_recording(leg, action)
        if failure:
            return failure
        if recording.paused.open:
            now = self.clock.seconds()
            recording.paused.end(now)
            self._tone(leg, now)  # the resume tone, just after the silent span
        return "ok", self._action_data(action)

    def _do_StopCallRecording(self, leg, action, parameters, resume):
        recording, failure = self._active_recording(leg, action)
        if failure:
            return failure
        self._stop_recording(leg)
        return "ok", self._action_data(action)

    def _do_Hangup(self, leg, action, parameters, resume):
        self._disconnect(leg, initiated_by_app=True, sip_code=str(parameters.get("SipResponseCode", "0")))
        raise _Hangup()

    def _keys(self, leg: CallLeg, digits: str) -> None:
        """The caller presses keys: DTMF on the incoming track, taking its time."""
        start = self.clock.seconds()
        end = leg.incoming.overlay(start, audio.dtmf(digits))
        leg.typed.append((start, end))
        self.clock.advance(end - start)

    def _tone(self, leg: CallLeg, at: float) -> None:
        tone = audio.beep()
        leg.incoming.overlay(max(leg.recording.started_at, at), tone)
        leg.outgoing.overlay(max(leg.recording.started_at, at), tone)

    # --- the end of a call, and the recording ------------------------------------------------------------

    def _disconnect(self, leg: CallLeg, initiated_by_app: bool, sip_code: str = "0", notify: bool = True) -> None:
        now = self.clock.seconds()
        leg.status = "Disconnected"
        leg.waiting = None
        leg.incoming.leave(now)
        leg.outgoing.leave(now)
        self._stop_recording(leg)
        if notify:
            hangup = {
                "Type": "Hangup",
                "Parameters": {"SipResponseCode": sip_code, "CallId": leg.call_id, "ParticipantTag": "LEG-A"},
            }
            self._invoke(leg, self._event(leg, "HANGUP", hangup))

    def _stop_recording(self, leg: CallLeg) -> None:
        recording = leg.recording
        if recording is None or recording.stopped_at is not None:
            return
        recording.stop(self.clock.seconds())
        fault = self.faults.take(SERVICE, DELIVER, leg.transaction_id)
        body, duration = self.render(leg, leak=fault is not None and fault.error == "LeakIntoWindow")
        self.delivery.deliver(
            {
                "Bucket": recording.bucket,
                "Key": recording.key,
                "Body": body,
                "ContentType": "audio/wav",
                "Metadata": {
                    "transaction-id": leg.transaction_id,
                    "call-id": leg.call_id,
                    "recording-duration": f"{duration:.3f}",
                    "recording-audio-file-format": "audio/wav",
                },
            },
            fault,
        )

    def render(self, leg: CallLeg, leak: bool = False) -> tuple[bytes, float]:
        """The recording's WAV and duration; paused spans silent (unless `leak`, the LeakIntoWindow fault)."""
        recording = leg.recording
        start, end = recording.started_at, recording.stopped_at
        incoming = leg.incoming.render(start, end)
        outgoing = leg.outgoing.render(start, end)
        spans = [] if leak else recording.paused.closed()
        audio.silence(incoming, start, spans)
        audio.silence(outgoing, start, spans)
        channels = {"BOTH": [incoming, outgoing], "INCOMING": [incoming], "OUTGOING": [outgoing]}[recording.track]
        return audio.wav_bytes(channels), len(incoming) / audio.SAMPLE_RATE

    def describe(self, transaction_id: str) -> dict:
        leg = self.legs[transaction_id]
        recording = leg.recording
        return {
            "TransactionId": leg.transaction_id,
            "CallId": leg.call_id,
            "SipMediaApplicationId": leg.sma.id,
            "Status": leg.status,
            "Waiting": leg.waiting is not None,
            "Invocations": list(leg.invocations),
            "Executed": list(leg.executed),
            "TransactionAttributes": dict(leg.attributes),
            "Typed": [list(span) for span in leg.typed],
            "Recording": None
            if recording is None
            else {
                "Track": recording.track,
                "Location": f"{recording.bucket}/{recording.key}",
                "StartedAt": recording.started_at,
                "StoppedAt": recording.stopped_at,
                "Paused": recording.paused.to_list(),
            },
        }


def _bucket_policy(s3, bucket: str) -> dict | None:
    """The bucket's policy (None if it has none); ClientError if the bucket does not exist."""
    import json

    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchBucketPolicy":
            s3.head_bucket(Bucket=bucket)
            return None
        raise
