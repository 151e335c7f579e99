"""The Amazon Connect twin in-process: validation, errors, quota, lifecycle, and the recording it delivers."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from callrec.sim import Fault, audio
from callrec.sim.core import TokenBucket
from tests.conftest import allow_all_role, run
from tests.wav_probe import read_wav

IDS = {"InstanceId": "instance-1"}


def _ids(contact_id: str, initial: str | None = None) -> dict:
    return {**IDS, "ContactId": contact_id, "InitialContactId": initial or contact_id}


def _start(sim, contact_id, track="ALL", initial=None):
    return sim.connect.call(
        "StartContactRecording",
        {**_ids(contact_id, initial), "VoiceRecordingConfiguration": {"VoiceRecordingTrack": track}},
    )


def _error(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def _recording(s3, sim, contact_id):
    location = sim.connect.describe(contact_id)["Recording"]["Location"]
    bucket, _, key = location.partition("/")
    return s3.get_object(Bucket=bucket, Key=key), key


@pytest.mark.parametrize(
    "change, message",
    [
        ({"InstanceId": None}, "InstanceId must be a string of 1 to 100"),
        ({"InstanceId": "i" * 101}, "InstanceId must be a string of 1 to 100"),
        ({"ContactId": ""}, "ContactId must be a string of 1 to 256"),
        ({"ContactId": "c" * 257}, "ContactId must be a string of 1 to 256"),
        ({"InitialContactId": 7}, "InitialContactId must be a string"),
        ({"VoiceRecordingConfiguration": None}, "VoiceRecordingConfiguration is required"),
        ({"VoiceRecordingConfiguration": {}}, "exactly one of VoiceRecordingTrack or IvrRecordingTrack"),
        ({"VoiceRecordingConfiguration": {"VoiceRecordingTrack": "ALL", "IvrRecordingTrack": "ALL"}}, "exactly one of"),
        ({"VoiceRecordingConfiguration": {"VoiceRecordingTrack": "BOTH"}}, "VoiceRecordingTrack must be one of"),
        ({"VoiceRecordingConfiguration": {"IvrRecordingTrack": "FROM_AGENT"}}, "IvrRecordingTrack must be ALL"),
        ({"Surprise": "x"}, "unknown parameter Surprise"),
    ],
)
def test_start_validation(sim, change, message):
    contact = sim.connect.start_contact("instance-1")
    parameters = {**_ids(contact), "VoiceRecordingConfiguration": {"VoiceRecordingTrack": "ALL"}, **change}
    parameters = {k: v for k, v in parameters.items() if v is not None}
    code, status, text = _error(lambda: sim.connect.call("StartContactRecording", parameters))
    assert (code, status) == ("InvalidParameterException", 400)
    assert message in text


def test_contact_recording_type_is_checked(sim):
    contact = sim.connect.start_contact("instance-1")
    code, _, text = _error(
        lambda: sim.connect.call("SuspendContactRecording", {**_ids(contact), "ContactRecordingType": "VIDEO"})
    )
    assert code == "InvalidParameterException" and "ContactRecordingType" in text


def test_unknown_instance_and_contact_are_not_found(sim):
    contact = sim.connect.start_contact("instance-1")
    assert _error(lambda: sim.connect.call("StopContactRecording", {**_ids(contact), "InstanceId": "nope"}))[:2] == (
        "ResourceNotFoundException",
        404,
    )
    assert _error(lambda: _start(sim, "no-such-contact"))[:2] == ("ResourceNotFoundException", 404)
    assert _error(lambda: _start(sim, contact, initial="other-initial"))[:2] == ("ResourceNotFoundException", 404)


def test_a_stale_contact_id_after_transfer_is_not_found(sim):
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact)
    new_contact = sim.connect.transfer(contact)
    assert _error(lambda: sim.connect.call("SuspendContactRecording", _ids(contact)))[:2] == (
        "ResourceNotFoundException",
        404,
    )
    sim.connect.call("SuspendContactRecording", _ids(new_contact, initial=contact))  # the current id works


def test_recording_is_one_time(sim):
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact)
    _start(sim, contact)  # a repeated start while recording is a no-op
    sim.connect.call("StopContactRecording", _ids(contact))
    code, status, text = _error(lambda: _start(sim, contact))
    assert (code, status) == ("InvalidRequestException", 400) and "cannot be started again" in text
    assert _error(lambda: sim.connect.call("ResumeContactRecording", _ids(contact)))[0] == "InvalidRequestException"


def test_suspend_before_start_and_calls_after_hang_up_are_invalid_requests(sim):
    contact = sim.connect.start_contact("instance-1")
    assert _error(lambda: sim.connect.call("SuspendContactRecording", _ids(contact)))[0] == "InvalidRequestException"
    sim.connect.hang_up(contact)
    code, _, text = _error(lambda: _start(sim, contact))
    assert code == "InvalidRequestException" and "not active" in text


def test_quota_is_two_per_second_with_bursts_of_five(sim):
    now = [0.0]
    sim.connect._quota["SuspendContactRecording"] = TokenBucket(2.0, 5, clock=lambda: now[0])
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact)
    for _ in range(5):
        sim.connect.call("SuspendContactRecording", _ids(contact))
    assert _error(lambda: sim.connect.call("SuspendContactRecording", _ids(contact)))[:2] == (
        "ThrottlingException",
        429,
    )
    now[0] += 0.5  # one more token
    sim.connect.call("SuspendContactRecording", _ids(contact))
    assert _error(lambda: sim.connect.call("SuspendContactRecording", _ids(contact)))[0] == "ThrottlingException"


def test_injected_internal_errors_per_call_and_global(sim):
    first, second = sim.connect.start_contact("instance-1"), sim.connect.start_contact("instance-1")
    sim.faults.inject(Fault("connect", "StartContactRecording", "InternalServiceException", key=first))
    assert _error(lambda: _start(sim, first))[:2] == ("InternalServiceException", 500)
    _start(sim, second)  # the switch was for the first call only
    _start(sim, first)  # and fired once
    sim.faults.inject(Fault("connect", "StopContactRecording", "InternalServiceException", times=None))
    for contact in (first, second):
        assert (
            _error(lambda contact=contact: sim.connect.call("StopContactRecording", _ids(contact)))[0]
            == "InternalServiceException"
        )
    sim.faults.clear()
    sim.connect.call("StopContactRecording", _ids(first))


def test_full_contact_produces_the_recording_connect_would(sim, s3, deployment):
    contact = sim.connect.start_contact("instance-1")
    sim.clock.advance(4.0)  # IVR
    _start(sim, contact)  # before the agent joins: takes effect when the agent joins
    sim.clock.advance(3.0)
    sim.connect.agent_joins(contact)
    agent_joined = sim.clock.seconds()
    sim.clock.advance(10.0)
    sim.connect.call("SuspendContactRecording", _ids(contact))
    suspended = sim.clock.seconds()
    sim.connect.caller_types(contact, "4111111111111111")
    sim.clock.advance(1.0)
    sim.connect.call("ResumeContactRecording", _ids(contact))
    resumed = sim.clock.seconds()
    sim.clock.advance(5.0)
    sim.connect.hang_up(contact)

    obj, key = _recording(s3, sim, contact)
    start = sim.clock.at(agent_joined)
    assert key == f"connect/test-centre/CallRecordings/{start:%Y/%m/%d}/{contact}_{start:%Y%m%dT%H:%M}_UTC.wav"
    assert obj["ServerSideEncryption"] == "aws:kms"
    assert obj["SSEKMSKeyId"] == deployment.resolver.attributes[("RecordingKey", "Arn")]
    assert obj["ContentType"] == "audio/wav"
    wav = read_wav(obj["Body"].read())
    assert (wav.channels, wav.sample_width, wav.rate) == (2, 2, 8000)
    assert wav.seconds == pytest.approx(sim.clock.seconds() - agent_joined, abs=0.001)
    a, b = suspended - agent_joined, resumed - agent_joined
    for channel in (0, 1):
        assert wav.peak(channel, a, b) == 0  # the card number is not in the recording
        assert wav.rms(channel, 0.5, a - 0.5) > 500
        assert wav.rms(channel, b + 0.5, wav.seconds - 0.5) > 500
    assert sim.connect.describe(contact)["Recordings"] == [
        {"Location": f"{obj and deployment.physical('RecordingBucket')}/{key}", "Type": "AUDIO"}
    ]


def test_digits_typed_while_recording_are_in_the_recording(sim, s3):
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact)
    sim.clock.advance(2.0)
    typed_at = sim.clock.seconds()
    sim.connect.caller_types(contact, "99")
    sim.connect.hang_up(contact)
    wav = read_wav(_recording(s3, sim, contact)[0]["Body"].read())
    assert wav.seconds == pytest.approx(2.0 + audio.dtmf_seconds("99"), abs=0.001)
    assert wav.rms(0, typed_at - sim.connect.describe(contact)["Recording"]["StartedAt"], wav.seconds) > 1000


@pytest.mark.parametrize("track, silent_channel", [("FROM_AGENT", 0), ("TO_AGENT", 1)])
def test_one_sided_tracks_leave_the_other_channel_silent(sim, s3, track, silent_channel):
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact, track=track)
    sim.clock.advance(3.0)
    sim.connect.hang_up(contact)
    wav = read_wav(_recording(s3, sim, contact)[0]["Body"].read())
    assert wav.peak(silent_channel, 0, wav.seconds) == 0
    assert wav.rms(1 - silent_channel, 0, wav.seconds) > 500


def test_recording_continues_across_a_transfer(sim, s3):
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact)
    sim.clock.advance(2.0)
    new_contact = sim.connect.transfer(contact)
    sim.clock.advance(2.0)
    sim.connect.hang_up(new_contact)
    obj, key = _recording(s3, sim, new_contact)
    assert key.split("/")[-1].startswith(contact)  # named after the contact it started on
    assert read_wav(obj["Body"].read()).seconds == pytest.approx(4.0)


def test_no_agent_no_recording(sim, s3, deployment):
    contact = sim.connect.start_contact("instance-1")
    _start(sim, contact)
    sim.clock.advance(5.0)
    sim.connect.hang_up(contact)
    assert sim.connect.describe(contact)["Recordings"] == []
    assert s3.list_objects_v2(Bucket=deployment.physical("RecordingBucket")).get("KeyCount") == 0


def test_the_recording_lands_after_the_delivery_delay(sim, s3, deployment):
    sim.delivery.delay_seconds = 0.2
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    _start(sim, contact)
    sim.clock.advance(1.0)
    sim.connect.hang_up(contact)
    bucket = deployment.physical("RecordingBucket")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # not at once
    sim.delivery.wait()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


CONNECT_MACHINE = {
    "StartAt": "Start Contact Recording",
    "States": {
        "Start Contact Recording": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:connect:startContactRecording",
            "Parameters": {
                "InstanceId": "instance-1",
                "ContactId.$": "$.contact",
                "InitialContactId.$": "$.contact",
                "VoiceRecordingConfiguration": {"VoiceRecordingTrack": "ALL"},
            },
            "Retry": [{"ErrorEquals": ["Connect.InternalServiceException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Not Recorded"}],
            "End": True,
        },
        "Not Recorded": {"Type": "Fail", "Error": "NotRecorded"},
    },
}


def test_a_state_machine_reaches_the_twin_through_the_engine(sim, sfn):
    arn = sfn.create_state_machine(
        name="connect-direct", definition=json.dumps(CONNECT_MACHINE), roleArn=allow_all_role()
    )["stateMachineArn"]
    contact = sim.connect.start_contact("instance-1")
    sim.connect.agent_joins(contact)
    sim.faults.inject(Fault("connect", "StartContactRecording", "InternalServiceException", key=contact))

    described, events = run(sfn, arn, {"contact": contact})

    assert described["status"] == "SUCCEEDED"
    failures = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failures == ["Connect.InternalServiceException"]
    assert sim.connect.describe(contact)["Recording"]["Track"] == "ALL"

    stale, _ = run(sfn, arn, {"contact": "unknown-contact"})
    assert stale["status"] == "FAILED"


def test_the_clock_moves_on_to_a_time_and_never_back():
    from callrec.sim.core import Clock

    clock = Clock()
    assert clock.advance_to(5.0) == 5.0
    assert clock.advance_to(3.0) == 5.0  # someone else's typing already took it further: no going back
    clock.advance(1.0)
    assert clock.seconds() == 6.0


def test_a_caller_typing_in_real_time_takes_the_time_on_the_wall_clock_not_from_every_call():
    """With many calls at once (the load run), one caller's typing must not move the other calls' time: the
    call clock jumping past the digits would lengthen every recording by everyone's typing."""
    import time

    from callrec.sim import TelephonySimulator
    from callrec.sim.core import Clock

    sim = TelephonySimulator(clock=Clock(follow_wall_time=True))
    sim.connect.create_instance("centre", "bucket", "key-arn", instance_id="instance-1")
    contact = sim.connect.start_contact("instance-1")
    began_wall, began = time.monotonic(), sim.clock.seconds()

    end = sim.connect.caller_types(contact, "12", real_time=True)

    waited = time.monotonic() - began_wall
    assert end - began > 0.2  # two DTMF digits with their gaps
    assert waited >= end - began - 0.01  # the caller waited for them
    assert sim.clock.seconds() - began < waited + 0.05  # and the clock did not jump for everyone
    with pytest.raises(ValueError, match="manual clock"):
        Clock().wait_until(1.0)
