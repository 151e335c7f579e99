"""The telephony simulator: faithful twins of Amazon Connect recording control and the Chime SDK SIP
media application, with real WAV recordings delivered to S3 and switches for every documented fault.

Reachable three ways: in-process (registered with the engine as the `connect` and `chimesdkvoice`
service fakes), over the wire on the `make serve` endpoint (`callrec.sim.wire`), and through the
control surface that plays the caller, the agent and the network (`callrec sim ...`, `/_sim/...`).
"""

from __future__ import annotations

import json

from callrec import engine
from callrec.sim.chime import ChimeTwin
from callrec.sim.connect import ConnectTwin
from callrec.sim.core import Clock, Delivery, Fault, Faults
from callrec.stack import ACCOUNT_ID, REGION, Deployment, client

__all__ = ["TelephonySimulator", "Clock", "Fault"]


class TelephonySimulator:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        endpoint_url: str | None = None,
        delivery_delay_seconds: float = 0.0,
        throttling: bool = True,
        region: str = REGION,
        account: str = ACCOUNT_ID,
    ):
        self.endpoint_url, self.region = endpoint_url, region
        self.clock = clock or Clock()
        self.faults = Faults()
        self.delivery = Delivery(lambda: client("s3", endpoint_url, region), delivery_delay_seconds)
        self.connect = ConnectTwin(self.clock, self.faults, self.delivery, throttling=throttling)
        self.chime = ChimeTwin(
            self.clock, self.faults, self.delivery, lambda: client("s3", endpoint_url, region), region, account
        )

    def register(self) -> TelephonySimulator:
        """Plug the twins into the engine: aws-sdk:connect:* and aws-sdk:chimesdkvoice:* tasks reach them.

        With a clock that follows wall time, the engine ($$.State.EnteredTime) and the Lambda code
        (callrec_shared.clock) take their time from it too: one timeline for the session's records and the
        recordings, as in AWS. (A manual clock stands still between actions, so records would tie.)"""
        engine.register_service("connect", self.connect)
        # the workflows' Retry intervals follow the engine's time scale: Connect's quota refills at that scale
        self.connect.use_quota_clock(engine.workflow_seconds)
        engine.register_service("chimesdkvoice", self.chime)
        if self.clock.follow_wall_time:
            from callrec_shared import clock as shared_clock

            engine.settings.clock = self.clock.now
            shared_clock.use(self.clock.now)
        return self

    def add_connect_instance(self, deployment: Deployment, alias: str = "callrec-demo", instance_id: str | None = None):
        """A Connect instance whose call recordings go to the template's recording bucket and key, and whose agent
        events go to the agent event stream the template sets for it (if it sets one)."""
        instance = self.connect.create_instance(
            alias,
            deployment.physical("RecordingBucket"),
            deployment.resolver.attributes.get(("RecordingKey", "Arn")),
            instance_id=instance_id,
        )
        stream = deployment.instance_storage.get((instance.arn, "AGENT_EVENTS"))
        if stream:
            kinesis = client("kinesis", self.endpoint_url, self.region)

            def publish(event: dict, partition_key: str) -> None:
                kinesis.put_record(StreamARN=stream, Data=json.dumps(event).encode(), PartitionKey=partition_key)

            self.connect.agent_events = publish
        return instance

    @property
    def throttling(self) -> bool:
        return self.connect.throttling

    @throttling.setter
    def throttling(self, enabled: bool) -> None:
        self.connect.throttling = enabled
