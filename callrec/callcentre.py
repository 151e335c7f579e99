"""A whole contact centre on the local stack: the deployed template, the telephony twin, a Connect
instance, a SIP media application wired to the SMA handler, and prompt audio in the prompt bucket.

The demo and the end-to-end tests play calls through it the way people would: a customer calls, the
contact flow invokes its Lambda, an agent joins, the caller presses keys, someone hangs up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callrec.history import fetch_history, wait_for_execution
from callrec.sim import Clock, TelephonySimulator, audio
from callrec.sim.chime.legs import Phone
from callrec.stack import ACCOUNT_ID, REGION, Deployment, TemplateDeployer, client
from callrec.waiting import eventually

PLACEHOLDER_PROMPT_SECONDS = {"notice": 4.0, "opt-in": 6.0}


def upload_placeholder_prompts(deployment: Deployment, endpoint_url: str | None = None) -> list[str]:
    """Synthetic audio for every prompt the consent policy names, where the prompt bucket has none yet
    (a deployer uploads their recorded notices instead). Returns the keys written."""
    from callrec_shared.consent import load_policy

    s3, bucket, written = client("s3", endpoint_url), deployment.physical("PromptBucket"), []
    for mode, prompt in load_policy()["prompts"].items():
        if s3.list_objects_v2(Bucket=bucket, Prefix=prompt["key"]).get("KeyCount"):
            continue
        seconds = PLACEHOLDER_PROMPT_SECONDS.get(mode, 4.0)
        s3.put_object(
            Bucket=bucket,
            Key=prompt["key"],
            ContentType="audio/wav",
            Body=audio.wav_bytes([audio.voice("prompt", audio.samples(seconds))]),
        )
        written.append(prompt["key"])
    return written


@dataclass(frozen=True)
class TwinIds:
    """What the deployment's parameters say the provider side is: the simulator creates exactly that."""

    connect_instance_id: str
    connect_alias: str
    sma_id: str

    @staticmethod
    def of(deployment: Deployment) -> TwinIds:
        parameters = deployment.resolver.parameters
        prefix = parameters["ConnectRecordingPrefix"].strip("/").split("/")  # connect/<alias>/CallRecordings
        return TwinIds(
            parameters["ConnectInstanceArn"].rsplit("/", 1)[1],
            prefix[1] if len(prefix) == 3 and prefix[0] == "connect" else "callrec-demo",
            parameters["SipMediaApplicationId"],
        )


def add_provider_side(simulator: TelephonySimulator, deployment: Deployment):
    """The Connect instance and the SIP media application the template is deployed for, on the twin;
    returns (instance, sma)."""
    ids = TwinIds.of(deployment)
    instance = simulator.add_connect_instance(deployment, alias=ids.connect_alias, instance_id=ids.connect_instance_id)
    sma = simulator.chime.create_sip_media_application("callrec", deployment.physical("SmaHandler"), ids.sma_id)
    return instance, sma


@dataclass
class Call:
    """One call played through the centre, and what it left behind."""

    provider: str
    customer: str = ""  # the caller's number
    centre: str = ""  # the number the caller dialled
    session_id: str | None = None
    contact_id: str | None = None
    transaction_id: str | None = None
    entry_point_answers: list[dict] = field(default_factory=list)


class LocalCallCentre:
    def __init__(self, deployment: Deployment | None = None, simulator: TelephonySimulator | None = None):
        self.deployment = deployment or TemplateDeployer(parameter_overrides={"LogLevel": "WARNING"}).deploy()
        self.sim = simulator or TelephonySimulator(clock=Clock(follow_wall_time=True))
        self.sim.register()
        self.instance, self.sma = add_provider_side(self.sim, self.deployment)
        self.sfn = client("stepfunctions")
        upload_placeholder_prompts(self.deployment)

    def function(self, logical_id: str):
        from callrec import engine

        return engine.settings.functions[self.deployment.physical(logical_id)]

    # --- sessions ---------------------------------------------------------------------------------------

    def session(self, session_id: str) -> dict | None:
        from callrec_shared import sessions  # the layer's own reader, as the API uses it

        return sessions.get(session_id)

    def wait_for_status(self, session_id: str, *statuses: str, timeout: float = 30.0) -> dict:
        return eventually(
            lambda: self.session(session_id),
            lambda view: view is not None and view.get("status") in statuses,
            timeout,
            f"session {session_id} to be {' or '.join(statuses)}",
            show=lambda view: view and view.get("status"),
        )

    def _session_until(
        self, session_id: str, done: Callable[[dict], bool], what: str, shown: str, timeout: float
    ) -> dict:
        """Wait until the session's view satisfies `done` (a missing session reads as {}); `shown` is the field a timeout
        shows of it."""
        return eventually(
            lambda: self.session(session_id) or {}, done, timeout, what, show=lambda view: view.get(shown)
        )

    def wait_for_recording(self, session_id: str, state: str, timeout: float = 30.0) -> dict:
        """Wait until the session says the call's recording is `state` (OFF, ON, SUSPENDED, STOPPED): its view."""
        return self._session_until(
            session_id,
            lambda view: view.get("recordingState", {}).get("state") == state,
            f"the recording of {session_id} to be {state}",
            "recordingState",
            timeout,
        )

    def wait_for_window_closed(self, session_id: str, timeout: float = 30.0) -> dict:
        """Wait until the session's last window has its resume confirmed (the recording is on again after it).
        Waiting for the state ON alone can pass before the pause was saved: the call was ON before the window."""
        return self._session_until(
            session_id,
            lambda view: bool(view.get("windows")) and "resumeConfirmedAt" in view["windows"][-1],
            f"the resume of {session_id}'s last window to be confirmed",
            "windows",
            timeout,
        )

    def wait_for_party_answer(self, session_id: str, timeout: float = 30.0) -> dict:
        """Wait until the last party that joined the call has its consent answer (or is known not connected)."""
        return self._session_until(
            session_id,
            lambda view: bool(view.get("joinedParties")) and "answer" in view["joinedParties"][-1],
            f"the answer of the party that joined {session_id}",
            "joinedParties",
            timeout,
        )

    def execution_arn(self, session_id: str, machine: str = "RecordingSession") -> str:
        """The session's execution of `machine` (RecordingSession or VerifyRecording: both are named after it)."""
        return (
            f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:"
            f"{self.deployment.physical(machine).rsplit(':', 1)[1]}:{session_id}"
        )

    def finish(self, session_id: str, timeout: float = 30.0) -> tuple[dict, list[dict]]:
        """Wait (at most `timeout` seconds) for the session's execution to end; (describe_execution, history)."""
        arn = self.execution_arn(session_id)
        return wait_for_execution(self.sfn, arn, timeout), fetch_history(self.sfn, arn)

    def verification(
        self, session_id: str, timeout: float = 60.0, closed_within: float | None = None
    ) -> tuple[dict, list[dict]] | None:
        """Wait for the session's VerifyRecording execution (named after it) to end and, once its verdict is saved,
        for the trail to be closed (AuditSealer seals the verdict moments after; at most `closed_within`, by default
        `timeout`); None if there is none. A trail still open then is the chain report's to name (unsealed), so
        that wait does not raise."""
        from callrec_shared import audit_chain
        from callrec_shared.sessions import poll

        arn = self.execution_arn(session_id, "VerifyRecording")
        try:
            ended = wait_for_execution(self.sfn, arn, timeout=timeout), fetch_history(self.sfn, arn)
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None
        if "verifiedAt" in (self.session(session_id) or {}):
            poll(
                lambda: audit_chain.is_closed(session_id, self.session(session_id) or {}),
                bool,
                timeout if closed_within is None else closed_within,
            )
        return ended

    def session_id_of(self, call: Call) -> str:
        """The session a call has (or would have): derived from the call's identity, as the entry points do."""
        from callrec_shared.identity import session_id_for

        if call.contact_id:
            chain = self.sim.connect.chain(call.contact_id)
            ids = {"InstanceId": self.instance.instance_id, "InitialContactId": chain.initial_contact_id}
            return session_id_for({"provider": "connect", "call": ids})
        ids = {"SipMediaApplicationId": self.sma.id, "TransactionId": call.transaction_id}
        return session_id_for({"provider": "chime", "call": ids})

    def recordings_without_verdict(self) -> list[str]:
        """Every recording in the bucket that no session's verdict names (the attestations aside): a sweep that
        must find nothing, since a recording nobody verified is a recording nobody answers for."""
        bucket = self.deployment.physical("RecordingBucket")
        keys = [
            o["Key"]
            for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
            if not o["Key"].startswith("attestations/")
        ]
        items = client("dynamodb").scan(TableName=self.deployment.physical("SessionsTable"))["Items"]
        verified = {item["verifiedObject"]["S"] for item in items if "verifiedObject" in item}
        return [key for key in keys if f"s3://{bucket}/{key}" not in verified]

    def signals(self, session_id: str) -> list[dict]:
        from callrec_shared import sessions

        return sessions.signals(session_id)

    def audit(self, session_id: str) -> list[dict]:
        items = client("dynamodb").query(
            TableName=self.deployment.physical("AuditTable"),
            KeyConditionExpression="sessionId = :s",
            ExpressionAttributeValues={":s": {"S": session_id}},
        )["Items"]
        from callrec_shared.audit_chain import is_seal

        return [{key: value["S"] for key, value in item.items()} for item in items if not is_seal(item)]

    def audit_chain(self, session_id: str):
        """Does the session's audit hash chain hold? (what `callrec audit verify` prints): a ChainReport."""
        from callrec_shared import audit_chain

        return audit_chain.verify(session_id, (self.session(session_id) or {}).get("auditHead"))

    # --- Amazon Connect: the contact flow's side ------------------------------------------------------

    def contact_flow(self, call: Call, operation: str, **parameters: str) -> dict:
        contact = self.sim.connect.chain(call.contact_id)
        event = {
            "Name": "ContactFlowEvent",
            "Details": {
                "ContactData": {
                    "ContactId": contact.current_contact_id,
                    "InitialContactId": contact.initial_contact_id,
                    "InstanceARN": f"arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{self.instance.instance_id}",
                    "Channel": "VOICE",
                    "InitiationMethod": "INBOUND",
                    "CustomerEndpoint": {"Address": call.customer, "Type": "TELEPHONE_NUMBER"},
                    "SystemEndpoint": {"Address": call.centre, "Type": "TELEPHONE_NUMBER"},
                    "Attributes": {},
                },
                "Parameters": {"operation": operation, **parameters},
            },
        }
        answer = self.function("ContactFlow").invoke(event)["Payload"]
        call.entry_point_answers.append({"operation": operation, **answer})
        return answer

    def connect_call(self, customer: str, centre: str) -> Call:
        call = Call("connect", customer=customer, centre=centre)
        call.contact_id = self.sim.connect.start_contact(self.instance.instance_id)
        return call

    def connect_call_recording(self, customer: str, centre: str) -> Call:
        """A Connect contact with an agent, consent heard through the contact flow, now being recorded."""
        call = self.connect_call(customer, centre)
        self.sim.connect.agent_joins(call.contact_id)
        call.session_id = self.contact_flow(call, "start")["sessionId"]
        self.flow_plays_consent(call)
        self.wait_for_status(call.session_id, "RECORDING")
        return call

    def flow_plays_consent(self, call: Call, answer: str = "heard", seconds: float = 4.0) -> dict:
        """The contact flow plays the notice (or the opt-in question) for `seconds` while the workflow waits for
        its answer, then reports `answer`: the order of a real flow, whose prompt takes seconds to play (an
        answer reported before the workflow asks is kept too: tests/local_stack/test_call_faults.py)."""
        self.wait_for_status(call.session_id, "AWAITING_CONSENT")
        self.sim.clock.advance(seconds)
        return self.contact_flow(call, "consent", answer=answer)

    # --- Chime SDK: the caller's side ----------------------------------------------------------------

    def chime_call(self, caller: str, dialled: str, answers: list[str | None]) -> Call:
        """A caller dials the SMA's number; its handler plays the consent prompt as the call arrives, and the caller
        keys in `answers` (None: silence) once the workflow waits for the answer: the order of a real call, whose
        prompt takes seconds to play (an answer reported before the workflow waits is kept too:
        test_call_faults)."""
        call = Call("chime", customer=caller, centre=dialled)
        call.transaction_id = self.sim.chime.place_call(self.sma.id, caller, dialled)
        self._answers_when_asked(call, answers)
        return call

    def _answers_when_asked(self, call: Call, answers: list[str | None]) -> None:
        from callrec_shared.sessions import TERMINAL

        self.sim.chime.wait_idle(call.transaction_id)
        leg = self.sim.chime.describe(call.transaction_id)
        call.session_id = leg["TransactionAttributes"].get("sessionId")
        if answers and call.session_id is not None and leg["Waiting"]:
            self.wait_for_status(call.session_id, "AWAITING_CONSENT", *TERMINAL)  # or it ended first (a fault)
            self.sim.chime.answer_prompt(call.transaction_id, answers)
            self.sim.chime.wait_idle(call.transaction_id)

    def chime_hang_up(self, call: Call, after: float = 0.0, tag: str = "LEG-A") -> None:
        """Both sides talk for `after` seconds, then the party on leg `tag` hangs up; returns once the twin has
        handled it."""
        if after:
            self.sim.chime.talk(call.transaction_id, after)
        self.sim.chime.hang_up(call.transaction_id, tag)
        self.sim.chime.wait_idle(call.transaction_id)

    def chime_bridge(
        self, call: Call, number: str, keys: list[str | None] | None = None, answers: bool = True, **arguments: str
    ) -> None:
        """An outside system (an agent desktop, a routing service) asks the SIP media application to bridge `number`
        to the call (UpdateSipMediaApplicationCall, op `bridge`); the party there answers (or not) and keys in
        `keys` to any prompt."""
        self.sim.chime.phones[number] = Phone(answers=answers, keys=list(keys or []))
        self.sim.chime.call(
            "UpdateSipMediaApplicationCall",
            {
                "SipMediaApplicationId": self.sma.id,
                "TransactionId": call.transaction_id,
                "Arguments": {"op": "bridge", "to": number, **arguments},
            },
        )
        self.sim.chime.wait_idle(call.transaction_id)

    def chime_outbound_call(self, dialled: str, caller_id: str, answers: list[str | None]) -> Call:
        """The SIP media application calls `dialled` from `caller_id` (CreateSipMediaApplicationCall, as an
        application's boto3 call reaches the twin); the called party answers and keys in `answers`."""
        call = Call("chime", customer=dialled, centre=caller_id)
        placed = self.sim.chime.call(
            "CreateSipMediaApplicationCall",
            {"FromPhoneNumber": caller_id, "ToPhoneNumber": dialled, "SipMediaApplicationId": self.sma.id},
        )
        call.transaction_id = placed["SipMediaApplicationCall"]["TransactionId"]
        self._answers_when_asked(call, answers)
        return call

    def recording_bucket_policy(self, policy: dict | None) -> dict | None:
        """Replace the recording bucket's policy (None removes it); returns the previous one (or None)."""
        s3, bucket = client("s3"), self.deployment.physical("RecordingBucket")
        try:
            previous = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except s3.exceptions.ClientError as err:
            if err.response["Error"]["Code"] != "NoSuchBucketPolicy":
                raise
            previous = None
        if policy is None:
            s3.delete_bucket_policy(Bucket=bucket)
        else:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        return previous

    def recording_object(self, location: str) -> dict[str, Any] | None:
        bucket, _, key = location.partition("/")
        try:
            return client("s3").head_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - not there (yet)
            return None
