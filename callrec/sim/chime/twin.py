"""The Chime SDK twin: the API (UpdateSipMediaApplicationCall), the caller, and each call leg's conversation
with its SMA's Lambda on the leg's own worker thread."""

from __future__ import annotations

import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from callrec import engine
from callrec.errors import service_error
from callrec.sim import audio
from callrec.sim.chime import events
from callrec.sim.chime.actions import ActionFailed, ActionInterpreter, CallEnded, Waiting
from callrec.sim.chime.legs import E164, SERVICE, BridgedLeg, CallLeg, Phone, SipMediaApplication
from callrec.sim.core import DELIVER, Clock, Delivery, Fault, Faults
from callrec.sim.recording import Recording

MAX_UPDATE_ARGUMENTS = 20
# fault switch on UpdateSipMediaApplicationCall: accepted, then the caller hangs up before it reaches the Lambda
HANG_UP_BEFORE_DELIVERY = "HangUpBeforeDelivery"
FAULT_STATUS = {
    "ThrottledClientException": 429,
    "NotFoundException": 404,
    "ServiceFailureException": 500,
    "ServiceUnavailableException": 503,
}


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
        self.region = region
        self.account = account
        self.applications: dict[str, SipMediaApplication] = {}
        self.legs: dict[str, CallLeg] = {}
        self.errors: list[str] = []  # simulator bugs met by any leg (tests assert there are none)
        # the numbers a CallAndBridge action may call: whether they answer and what they key in (others answer)
        self.phones: dict[str, Phone] = {}
        self._lock = threading.RLock()
        self.actions = ActionInterpreter(
            clock, faults, s3, disconnect=self._disconnect, stop_recording=self._stop_recording, phones=self.phones
        )

    # --- set-up and the caller ------------------------------------------------------------------------

    def create_sip_media_application(self, name: str, function: str, sma_id: str | None = None) -> SipMediaApplication:
        application = SipMediaApplication(sma_id or str(uuid.uuid4()), name, function, self.region, self.account)
        self.applications[application.id] = application
        return application

    def place_call(
        self,
        sma_id: str,
        from_number: str,
        to_number: str,
        answers: list[str | None] | None = None,
        outbound: bool = False,
    ) -> str:
        """A caller dials in: NEW_INBOUND_CALL goes to the SMA's Lambda. `outbound`: the SIP media application
        places the call (CreateSipMediaApplicationCall) and the callee answers: NEW_OUTBOUND_CALL, RINGING, then
        CALL_ANSWERED, whose actions run (the Chime SDK Developer Guide, "Making an outbound call"). Returns the
        TransactionId."""
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
            direction="Outbound" if outbound else "Inbound",
        )
        leg.incoming.join(now)
        leg.outgoing.join(now)
        with self._lock:
            self.legs[leg.transaction_id] = leg
        threading.Thread(target=self._work, args=(leg,), daemon=True, name=f"sma-{leg.transaction_id[:8]}").start()
        for kind in ("NEW_OUTBOUND_CALL", "RINGING", "CALL_ANSWERED") if outbound else ("NEW_INBOUND_CALL",):
            leg.inbox.put((kind, None))
        return leg.transaction_id

    def press(self, transaction_id: str, digits: str, tag: str = "LEG-A") -> None:
        """The party on the leg `tag` answers the digit prompt that is waiting, or just presses keys (DTMF goes
        onto that leg's incoming track)."""
        self.legs[transaction_id].inbox.put(("DIGITS", (tag, digits)))

    def answer_prompt(self, transaction_id: str, answers: list[str | None], tag: str = "LEG-A") -> None:
        """The party on the leg `tag` gives `answers` to digit prompts (None: silence, the prompt times out): the
        waiting prompt takes the first at once, later prompts the rest."""
        self.legs[transaction_id].inbox.put(("ANSWERS", (tag, list(answers))))

    def hang_up(self, transaction_id: str, tag: str = "LEG-A") -> None:
        """The party on the leg `tag` hangs up (the caller, or the bridged party)."""
        self.legs[transaction_id].inbox.put(("CALLER_HANGUP", tag))

    def talk(self, transaction_id: str, seconds: float) -> None:
        """Both sides talk for a while (the call's clock moves on)."""
        self.legs[transaction_id].inbox.put(("TALK", seconds))

    def wait_idle(self, transaction_id: str, timeout: float = 30.0) -> None:
        """Block until the leg has handled everything it was sent."""
        leg = self.legs[transaction_id]
        done = threading.Event()
        with leg.inbox_lock:
            if not leg.served:  # the call is over and its thread handled all it was sent
                return
            leg.inbox.put(("MARK", done))
        if not done.wait(timeout):
            raise TimeoutError(f"call {transaction_id} still busy after {timeout}s")

    # --- the API: UpdateSipMediaApplicationCall ------------------------------------------------------------

    def call(self, action: str, parameters: dict) -> dict:
        if action == "CreateSipMediaApplicationCall":
            return self._create_call(action, parameters)
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
        # one switch per request, as the Connect twin takes them: HangUpBeforeDelivery acts, any other is raised
        fault = self.faults.take(SERVICE, action, transaction_id)
        hangs_up = fault is not None and fault.error == HANG_UP_BEFORE_DELIVERY
        if fault is not None and not hangs_up:
            raise self._fault_error(fault, action)
        leg = self.legs.get(transaction_id)
        if sma_id not in self.applications or leg is None or leg.sma.id != sma_id or not leg.live:
            raise service_error("NotFoundException", f"Call {transaction_id} not found", 404, action)
        if hangs_up:  # the update is accepted, then the caller hangs up before it reaches the application: its
            leg.inbox.put(("CALLER_HANGUP", "LEG-A"))  # Lambda hears HANGUP, never CALL_UPDATE_REQUESTED
        leg.inbox.put(("CALL_UPDATE_REQUESTED", dict(arguments)))
        return {"SipMediaApplicationCall": {"TransactionId": transaction_id}}

    def _injected_fault(self, action: str, key: str) -> None:
        """Raise the error a fault switch on `action` (for this call or application) names, if one is set."""
        fault = self.faults.take(SERVICE, action, key)
        if fault is not None:
            raise self._fault_error(fault, action)

    @staticmethod
    def _fault_error(fault: Fault, action: str) -> Exception:
        return service_error(fault.error, fault.message or "Injected fault", FAULT_STATUS.get(fault.error, 400), action)

    def _create_call(self, action: str, parameters: dict) -> dict:
        """CreateSipMediaApplicationCall: the SIP media application places a call from one of its numbers."""
        numbers = [parameters.get(name) for name in ("FromPhoneNumber", "ToPhoneNumber")]
        sma_id = parameters.get("SipMediaApplicationId")
        if not all(isinstance(n, str) and E164.match(n) for n in numbers) or not isinstance(sma_id, str):
            raise service_error(
                "BadRequestException",
                "FromPhoneNumber and ToPhoneNumber (E.164) and SipMediaApplicationId are required",
                400,
                action,
            )
        if sma_id not in self.applications:
            raise service_error("NotFoundException", f"SIP media application {sma_id} not found", 404, action)
        self._injected_fault(action, sma_id)
        transaction_id = self.place_call(sma_id, numbers[0], numbers[1], outbound=True)
        return {"SipMediaApplicationCall": {"TransactionId": transaction_id}}

    # --- the leg's worker ------------------------------------------------------------------------------------

    def _work(self, leg: CallLeg) -> None:
        """The leg's thread: takes what the leg was sent, in order, until the call is over and nothing is left (what
        a leg is sent once the call is over is ignored, and `wait_idle` needs no thread to answer then)."""
        while True:
            kind, payload = leg.inbox.get()
            try:
                if kind == "MARK":
                    payload.set()
                elif leg.live:
                    self._handle(leg, kind, payload)
            except Exception:  # noqa: BLE001 - a twin bug must not wedge the leg; it is recorded
                leg.executed.append({"Type": "SimulatorError", "Outcome": traceback.format_exc()})
                self.errors.append(f"{leg.transaction_id}: {traceback.format_exc(limit=3)}")
            finally:
                leg.inbox.task_done()
            with leg.inbox_lock:
                if not leg.live and leg.inbox.empty():
                    leg.served = False
                    return

    def _handle(self, leg: CallLeg, kind: str, payload: Any) -> None:
        if kind in ("NEW_INBOUND_CALL", "CALL_ANSWERED"):
            response = self._invoke(leg, events.event(leg, kind))
            if response is not None:
                self._run(leg, response["Actions"])
        elif kind in ("NEW_OUTBOUND_CALL", "RINGING"):  # the call is placed, then rings: what the function answers is
            self._invoke(leg, events.event(leg, kind))  # ignored (the Developer Guide, "Making an outbound call")
        elif kind == "CALL_UPDATE_REQUESTED":
            request = {"Type": "CallUpdateRequest", "Parameters": {"Arguments": payload}}
            response = self._invoke(leg, events.event(leg, "CALL_UPDATE_REQUESTED", request))
            if response is not None and response.get("Actions") and leg.waiting is not None:
                interrupted = leg.waiting[0][leg.waiting[1]]
                leg.waiting = None
                self._invoke(leg, events.event(leg, "ACTION_INTERRUPTED", events.action_data(interrupted)))
            if response is not None and (response.get("Actions") or leg.waiting is None):
                self._run(leg, response["Actions"])
        elif kind == "DIGITS":
            tag, digits = payload
            party = leg.participant(tag=tag)
            if party is None or not party.connected:
                return
            if leg.waiting is None:  # typed with no prompt waiting: only the audio hears it
                self.actions.keys(party, digits)
                return
            party.answers.insert(0, digits)
            self._resume_prompt(leg)
        elif kind == "ANSWERS":
            tag, answers = payload
            party = leg.participant(tag=tag)
            if party is None or not party.connected:
                return
            party.answers.extend(answers)
            if leg.waiting is not None and party.answers:
                self._resume_prompt(leg)
        elif kind == "CALLER_HANGUP":
            party = leg.participant(tag=payload)
            if party is not None and party.connected:
                self._disconnect(leg, party)
        elif kind == "TALK":
            self.clock.advance(float(payload))

    def _resume_prompt(self, leg: CallLeg) -> None:
        """The digit prompt that waits takes the party's next answer: the actions run on from it."""
        actions, index, played = leg.waiting
        leg.waiting = None
        self._run(leg, actions, index, resume=played)

    def _invoke(self, leg: CallLeg, event: dict, retry_invalid: bool = True) -> dict | None:
        """Invoke the SMA's Lambda; a valid answer is returned, an invalid one is reported to it once."""
        data = event.get("ActionData", {})
        error = data.get("Error") or data.get("ErrorType")
        leg.invocations.append(
            {
                "Sequence": event["Sequence"],
                "InvocationEventType": event["InvocationEventType"],
                "ActionType": data.get("Type"),
                **({"Error": error} if error else {}),
            }
        )
        function = engine.settings.functions.get(leg.sma.function)
        if function is None:
            problem, response = f"function {leg.sma.function} not found", None
        else:
            answer = function.invoke(event)
            response = answer.get("Payload")
            problem = "the function failed" if answer.get("FunctionError") else events.response_problem(response)
        if event["InvocationEventType"] == "HANGUP" and not leg.live:
            return None  # the call is over: nothing the function answers is executed
        if problem is None:
            leg.attributes = dict(response.get("TransactionAttributes", leg.attributes))
            return response
        if not retry_invalid:
            self._disconnect(leg, notify=False)
            return None
        invalid = events.event(
            leg, "INVALID_LAMBDA_RESPONSE", {"ErrorType": "InvalidLambdaResponse", "ErrorMessage": problem}
        )
        return self._invoke(leg, invalid, retry_invalid=False)

    def _run(self, leg: CallLeg, actions: list[dict], start: int = 0, resume: int | None = None) -> None:
        """Run `actions` from `start`; report the outcome to the function and run what it answers.

        `resume` continues a digit prompt that was waiting for the caller: how many times it played."""
        while actions:
            last: dict[str, Any] = {}
            outcome = None
            try:
                for index in range(start, len(actions)):
                    action = actions[index]
                    try:
                        result = self.actions.execute(leg, action, resume if index == start else None)
                    except ActionFailed as failed:
                        leg.executed.append({"Type": action["Type"], "Outcome": "failed"})
                        outcome = events.event(leg, "ACTION_FAILED", failed.data)
                        break
                    resume = None
                    if isinstance(result, Waiting):
                        leg.executed.append({"Type": action["Type"], "Outcome": "waiting"})
                        leg.waiting = (actions, index, result.played)
                        return
                    leg.executed.append({"Type": action["Type"], "Outcome": "ok"})
                    last = result
                else:
                    outcome = events.event(leg, "ACTION_SUCCESSFUL", last)
            except CallEnded:
                leg.executed.append({"Type": "Hangup", "Outcome": "ok"})
                return
            response = self._invoke(leg, outcome)
            if response is None or not leg.live:
                return
            actions, start = response["Actions"], 0

    # --- the end of a call, and the recording ------------------------------------------------------------

    def _disconnect(
        self, leg: CallLeg, party: CallLeg | BridgedLeg | None = None, sip_code: str = "0", notify: bool = True
    ) -> None:
        """A leg's party is gone (hung up, or hung up on). Its recording stops; the other leg stays up (the
        Developer Guide, "CallAndBridge": one leg hanging up does not hang up the other), and the function's
        answer to the HANGUP is run while it does. No `party`: every leg (`notify` False: the service gives up on the
        call)."""
        now = self.clock.seconds()
        for gone in leg.participants if party is None else [party]:
            gone.status = "Disconnected"
            gone.incoming.leave(now)
            gone.outgoing.leave(now)
            self._stop_recording(leg, gone)
        leg.waiting = None
        for other in leg.participants:
            other.outgoing.unrelay(now)  # a bridge carries nothing once either side has gone
        if notify:
            gone = party or leg
            hangup = {
                "Type": "Hangup",
                "Parameters": {"SipResponseCode": sip_code, "CallId": gone.call_id, "ParticipantTag": gone.tag},
            }
            response = self._invoke(leg, events.event(leg, "HANGUP", hangup))
            if response is not None and leg.live:
                self._run(leg, response["Actions"])

    def _stop_recording(self, leg: CallLeg, party: CallLeg | BridgedLeg | None = None) -> None:
        party = party or leg
        recording = party.recording
        if recording is None or recording.stopped_at is not None:
            return
        recording.stop(self.clock.seconds())
        fault = self.faults.take(SERVICE, DELIVER, leg.transaction_id)
        body, duration = self.render(leg, leak=fault is not None and fault.error == "LeakIntoWindow", party=party)
        bucket, key = recording.location.split("/", 1)
        self.delivery.deliver(
            {
                "Bucket": bucket,
                "Key": key,
                "Body": body,
                "ContentType": "audio/wav",
                "Metadata": {
                    "transaction-id": leg.transaction_id,
                    "call-id": party.call_id,
                    "recording-duration": f"{duration:.3f}",
                    "recording-audio-file-format": "audio/wav",
                },
            },
            fault,
        )

    def render(
        self, leg: CallLeg, leak: bool = False, party: CallLeg | BridgedLeg | None = None
    ) -> tuple[bytes, float]:
        """A leg's recording (LEG-A's unless `party` names another) as WAV, and its duration; paused spans silent
        (unless `leak`, the LeakIntoWindow fault). BOTH: the leg's incoming audio left, its outgoing right."""
        party = party or leg
        incoming, outgoing = party.recording.render(party.incoming, party.outgoing, leak=leak)
        channels = {"BOTH": [incoming, outgoing], "INCOMING": [incoming], "OUTGOING": [outgoing]}[party.recording.track]
        return audio.wav_bytes(channels), len(incoming) / audio.SAMPLE_RATE

    # --- inspection (tests, the demo, the control API) -----------------------------------------------------

    def describe(self, transaction_id: str) -> dict:
        """The leg as the twin sees it, including what no SMA event carries (when the caller typed)."""
        leg = self.legs[transaction_id]
        bridged = leg.bridged
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
            "Recording": _recording_view(leg.recording),
            "Bridged": None
            if bridged is None
            else {
                "CallId": bridged.call_id,
                "Status": bridged.status,
                "Typed": [list(span) for span in bridged.typed],
                "Recording": _recording_view(bridged.recording),
            },
        }


def _recording_view(recording: Recording | None) -> dict | None:
    return None if recording is None else recording.view("Paused")
