"""The telephony twin in-process: the deployed template, a manual clock, the engine's service fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callrec.sim import Clock, TelephonySimulator, audio
from callrec.stack import client


@pytest.fixture
def sim(deployment) -> Iterator[TelephonySimulator]:
    from callrec.callcentre import TwinIds

    simulator = TelephonySimulator(clock=Clock()).register()
    simulator.add_connect_instance(deployment, alias="test-centre", instance_id="instance-1")
    # the template's buckets admit only the SIP media application it is deployed for: tests' SMAs take its id
    simulator.deployed_sma_id = TwinIds.of(deployment).sma_id
    yield simulator
    assert simulator.chime.errors == [], "the Chime twin met a bug of its own (e.g. an undocumented event)"


@pytest.fixture
def s3(aws):
    return client("s3")


@pytest.fixture
def prompts(deployment, s3) -> dict:
    """Prompt WAVs in the template's prompt bucket: a 2 s notice and a 1 s retry prompt."""
    bucket = deployment.physical("PromptBucket")
    for key, seconds in (("notice.wav", 2.0), ("retry.wav", 1.0)):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=audio.wav_bytes([audio.voice("prompt", audio.samples(seconds))]),
            ContentType="audio/wav",
        )
    s3.put_object(Bucket=bucket, Key="not-audio.wav", Body=b"this is not a wav", ContentType="audio/wav")
    return {
        "bucket": bucket,
        "notice": {"Type": "S3", "BucketName": bucket, "Key": "notice.wav"},
        "retry": {"Type": "S3", "BucketName": bucket, "Key": "retry.wav"},
    }
