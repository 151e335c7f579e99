"""The Chime SDK SIP media application twin in-process, driven by a scripted SMA Lambda handler."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from callrec import engine
from callrec.sim import Fault
from callrec.sim.chime import NO_ACCESS
from callrec.sim.chime.legs import Phone
from callrec_shared import scan, wavcheck
from tests.eventually import eventually
from tests.wav_probe import read_wav

CALLER, DIALLED = "+14155550100", "+18005550123"


class ScriptedSma:
    """An SMA Lambda handler that answers each event from a script and keeps every event it got.

    `script` maps an event type (or "CALL_UPDATE_REQUESTED:<op>") to the actions to answer, or to a
    callable of the event returning them."""

    def __init__(self, script: dict, attributes: dict | None = None):
        self.script = script
        self.attributes = attributes or {}
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
        kind = event["InvocationEventType"]
        if kind == "CALL_UPDATE_REQUESTED":
            kind = f"{kind}:{event['ActionData']['Parameters']['Arguments'].get('op')}"
        elif kind in ("ACTION_SUCCESSFUL", "ACTION_FAILED"):
            kind = f"{kind}:{event['ActionData']['Type']}"
        answer = self.script.get(kind, [])
        actions = answer(event) if callable(answer) else answer
        if isinstance(actions, dict):
            return actions  # a raw (possibly malformed) response
        return {"SchemaVersion": "1.0", "Actions": actions, "TransactionAttributes": self.attributes}

    def types(self) -> list[str]:
        return [e["InvocationEventType"] for e in self.events]

    def last(self, kind: str) -> dict:
        return [e for e in self.events if e["InvocationEventType"] == kind][-1]


def _call_id(event):
    return event["CallDetails"]["Participants"][0]["CallId"]


def _sma(sim, script, attributes=None) -> tuple[str, ScriptedSma]:
    handler = ScriptedSma(script, attributes)
    name = f"sma-handler-{len(sim.chime.applications)}"
    engine.register_function(
        engine.LambdaFunction(
            name, f"arn:aws:lambda:us-east-1:123456789012:function:{name}", load_handler=lambda: handler
        )
    )
    sma_id = sim.deployed_sma_id if sim.deployed_sma_id not in sim.chime.applications else None
    return sim.chime.create_sip_media_application("test-sma", name, sma_id).id, handler


def _consent_prompt(prompts):
    return lambda e: [
        {
            "Type": "PlayAudioAndGetDigits",
            "Parameters": {
                "CallId": _call_id(e),
                "AudioSource": prompts["notice"],
                "FailureAudioSource": prompts["retry"],
                "MinNumberOfDigits": 1,
                "MaxNumberOfDigits": 1,
                "InputDigitsRegex": "^[12]$",
                "Repeat": 2,
            },
        }
    ]


def _start_recording(bucket, track="BOTH"):
    return lambda e: [
        {
            "Type": "StartCallRecording",
            "Parameters": {"CallId": _call_id(e), "Track": track, "Destination": {"Type": "S3", "Location": bucket}},
        }
    ]


def _simple(kind):
    return lambda e: [{"Type": kind, "Parameters": {"CallId": _call_id(e)}}]


def _update(sim, sma_id, txn, op):
    return sim.chime.call(
        "UpdateSipMediaApplicationCall",
        {"SipMediaApplicationId": sma_id, "TransactionId": txn, "Arguments": {"op": op}},
    )


def test_a_full_call_consent_recording_pause_and_hang_up(sim, s3, prompts, deployment):
    bucket = deployment.physical("RecordingBucket")
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": _consent_prompt(prompts),
            "ACTION_SUCCESSFUL:PlayAudioAndGetDigits": _start_recording(bucket),
            "CALL_UPDATE_REQUESTED:pause": _simple("PauseCallRecording"),
            "CALL_UPDATE_REQUESTED:resume": _simple("ResumeCallRecording"),
        },
        attributes={"consent": "asked"},
    )

    txn = sim.chime.place_call(sma_id, CALLER, DIALLED, answers=["1"])
    sim.chime.wait_idle(txn)
    sim.chime.talk(txn, 10)
    assert _update(sim, sma_id, txn, "pause") == {"SipMediaApplicationCall": {"TransactionId": txn}}
    sim.chime.wait_idle(txn)
    paused_at = sim.chime.describe(txn)["Recording"]["Paused"][0][0]
    sim.chime.press(txn, "4111111111111111")  # the card number, typed while paused
    sim.chime.talk(txn, 1)
    _update(sim, sma_id, txn, "resume")
    sim.chime.talk(txn, 5)
    sim.chime.hang_up(txn)
    sim.chime.wait_idle(txn)

    assert handler.types() == [
        "NEW_INBOUND_CALL",
        "ACTION_SUCCESSFUL",
        "ACTION_SUCCESSFUL",
        "CALL_UPDATE_REQUESTED",
        "ACTION_SUCCESSFUL",
        "CALL_UPDATE_REQUESTED",
        "ACTION_SUCCESSFUL",
        "HANGUP",
    ]
    assert [e["Sequence"] for e in handler.events] == list(range(1, 9))
    consent = handler.events[1]["ActionData"]
    assert consent["Type"] == "PlayAudioAndGetDigits" and consent["ReceivedDigits"] == "1"
    assert handler.events[3]["CallDetails"]["TransactionAttributes"] == {"consent": "asked"}
    assert handler.events[3]["ActionData"] == {
        "Type": "CallUpdateRequest",
        "Parameters": {"Arguments": {"op": "pause"}},
    }
    hangup = handler.last("HANGUP")
    assert hangup["ActionData"]["Parameters"]["SipResponseCode"] == "0"
    assert hangup["CallDetails"]["Participants"][0]["Status"] == "Disconnected"

    destination = handler.events[2]["ActionData"]["CallRecordingDestination"]
    assert destination["Type"] == "S3"
    described = sim.chime.describe(txn)
    call_id, start = described["CallId"], sim.clock.at(0.0)
    key = destination["Location"].split("/", 1)[1]
    assert key.startswith(f"Amazon-Chime-SMA-Call-Recordings/{start:%Y/%m/%d}/{start:%Y-%m-%d-%H-%M-%S}-")
    assert key.endswith(f"_{txn}_{call_id}.wav")
    obj = s3.get_object(Bucket=bucket, Key=key)
    assert obj["Metadata"]["transaction-id"] == txn and obj["Metadata"]["call-id"] == call_id
    assert obj["Metadata"]["recording-audio-file-format"] == "audio/wav"
    wav = read_wav(obj["Body"].read())
    assert float(obj["Metadata"]["recording-duration"]) == pytest.approx(wav.seconds, abs=0.001)
    assert (wav.channels, wav.sample_width, wav.rate) == (2, 2, 8000)
    began = described["Recording"]["StartedAt"]
    pause, resume = [t - began for t in described["Recording"]["Paused"][0]]
    assert pause == pytest.approx(paused_at - began)
    for channel in (0, 1):
        assert wav.peak(channel, pause, resume) == 0  # the card digits are not in the recording
        assert wav.rms(channel, 1.0, pause - 0.5) > 500
        assert wav.rms(channel, resume + 0.5, wav.seconds - 0.5) > 500


def test_single_track_recordings_are_mono(sim, s3, prompts, deployment):
    bucket = deployment.physical("RecordingBucket")
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _start_recording(f"{bucket}/support/english", track="INCOMING")})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.talk(txn, 3)
    sim.chime.hang_up(txn)
    sim.chime.wait_idle(txn)
    location = handler.events[1]["ActionData"]["CallRecordingDestination"]["Location"]
    assert location.startswith(f"{bucket}/support/english/")
    wav = read_wav(s3.get_object(Bucket=bucket, Key=location.split("/", 1)[1])["Body"].read())
    assert wav.channels == 1 and wav.seconds == pytest.approx(3.0)


def test_no_access_to_destination_when_the_bucket_policy_does_not_grant_chime(sim, prompts, s3):
    s3.create_bucket(Bucket="no-grant-bucket")
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _start_recording("no-grant-bucket")})
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    failed = handler.last("ACTION_FAILED")["ActionData"]
    assert failed["Type"] == "StartCallRecording"
    assert failed["Error"] == NO_ACCESS == "NoAccessToDestination: Error while accessing destination"


def test_a_policy_for_another_account_is_no_access(sim, s3):
    s3.create_bucket(Bucket="other-account-grant")
    import json

    s3.put_bucket_policy(
        Bucket="other-account-grant",
        Policy=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "voiceconnector.chime.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": "arn:aws:s3:::other-account-grant/*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}},
                    }
                ]
            }
        ),
    )
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _start_recording("other-account-grant")})
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    assert handler.last("ACTION_FAILED")["ActionData"]["Error"] == NO_ACCESS


@pytest.mark.parametrize("key", ["missing.wav", "not-audio.wav"])
def test_unplayable_prompts_are_invalid_audio_sources(sim, prompts, key):
    source = {**prompts["notice"], "Key": key}
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": lambda e: [
                {"Type": "PlayAudio", "Parameters": {"CallId": _call_id(e), "AudioSource": source}}
            ]
        },
    )
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    failed = handler.last("ACTION_FAILED")["ActionData"]
    assert (failed["ErrorType"], failed["ErrorMessage"]) == (
        "InvalidAudioSource",
        "Audio Source parameter value is invalid.",
    )


def test_a_prompt_bucket_without_the_chime_grant_is_an_invalid_audio_source(sim, s3, prompts):
    s3.create_bucket(Bucket="private-prompts")
    s3.put_object(
        Bucket="private-prompts",
        Key="notice.wav",
        Body=s3.get_object(Bucket=prompts["bucket"], Key="notice.wav")["Body"].read(),
    )
    source = {"Type": "S3", "BucketName": "private-prompts", "Key": "notice.wav"}
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": lambda e: [
                {"Type": "PlayAudio", "Parameters": {"CallId": _call_id(e), "AudioSource": source}}
            ]
        },
    )
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    assert handler.last("ACTION_FAILED")["ActionData"]["ErrorType"] == "InvalidAudioSource"


def test_prompts_take_their_time_and_wrong_digits_are_retried_then_fail(sim, prompts):
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _consent_prompt(prompts)})
    began = sim.clock.seconds()
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED, answers=["7", None]))
    failed = handler.last("ACTION_FAILED")["ActionData"]
    assert failed["ErrorType"] == "InvalidDigitsReceived"
    # notice (2 s) + "7" + retry prompt (1 s) + notice (2 s), then silence
    assert sim.clock.seconds() - began == pytest.approx(5.0 + 0.2, abs=0.01)


def test_a_prompt_waits_for_the_caller(sim, prompts):
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _consent_prompt(prompts)})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    assert sim.chime.describe(txn)["Waiting"] and handler.types() == ["NEW_INBOUND_CALL"]
    sim.chime.press(txn, "2")
    sim.chime.wait_idle(txn)
    assert handler.last("ACTION_SUCCESSFUL")["ActionData"]["ReceivedDigits"] == "2"


def test_answers_given_later_go_to_the_waiting_prompt_silence_first(sim, prompts):
    """answer_prompt: the party's answers reach the prompt that waits for them, in order; a silence (None) lets it
    time out and play again, as answers given when the call was placed do."""
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _consent_prompt(prompts)})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    began = sim.clock.seconds()
    sim.chime.answer_prompt(txn, [None, "1"])
    sim.chime.wait_idle(txn)
    assert handler.types() == ["NEW_INBOUND_CALL", "ACTION_SUCCESSFUL"]
    assert handler.last("ACTION_SUCCESSFUL")["ActionData"]["ReceivedDigits"] == "1"
    # after the silence: the retry prompt (1 s) and the notice again (2 s), then the key (0.2 s)
    assert sim.clock.seconds() - began == pytest.approx(3.0 + 0.2, abs=0.01)
    assert not sim.chime.describe(txn)["Waiting"]


def test_an_update_the_caller_hangs_up_before_is_accepted_and_never_delivered(sim, prompts):
    """HangUpBeforeDelivery, also as a switch that stays set (times=None): the update is accepted and the caller
    hangs up before it arrives. Before, the twin took the switch twice for one request (once for the hang-up, once
    as an error to raise), so a lasting switch answered the update with an error named HangUpBeforeDelivery."""
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _consent_prompt(prompts)})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    sim.faults.inject(Fault("chimesdkvoice", "UpdateSipMediaApplicationCall", "HangUpBeforeDelivery", txn, None))
    assert _update(sim, sma_id, txn, "bye")["SipMediaApplicationCall"]["TransactionId"] == txn
    sim.chime.wait_idle(txn)
    assert handler.types() == ["NEW_INBOUND_CALL", "HANGUP"]


def test_an_update_interrupts_a_waiting_prompt(sim, prompts):
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": _consent_prompt(prompts),
            "CALL_UPDATE_REQUESTED:bye": lambda e: [{"Type": "Hangup", "Parameters": {"SipResponseCode": "0"}}],
        },
    )
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    _update(sim, sma_id, txn, "bye")
    sim.chime.wait_idle(txn)
    assert handler.types() == ["NEW_INBOUND_CALL", "CALL_UPDATE_REQUESTED", "ACTION_INTERRUPTED", "HANGUP"]
    assert handler.last("ACTION_INTERRUPTED")["ActionData"]["Type"] == "PlayAudioAndGetDigits"
    assert sim.chime.describe(txn)["Status"] == "Disconnected"


@pytest.mark.parametrize(
    "response, problem",
    [
        ({"SchemaVersion": "1.0", "Actions": [{"Type": "PlayAudio", "Parameters": {}}] * 11}, "at most 10 actions"),
        ({"SchemaVersion": "1.0", "Actions": [{"Type": "Dance"}]}, "unsupported action 'Dance'"),
        ({"Actions": []}, "SchemaVersion 1.0"),
        (
            {"SchemaVersion": "1.0", "Actions": [], "TransactionAttributes": {str(i): "x" for i in range(11)}},
            "TransactionAttributes",
        ),
    ],
)
def test_malformed_responses_get_invalid_lambda_response_then_the_call_ends(sim, response, problem):
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": response, "INVALID_LAMBDA_RESPONSE": response})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    assert handler.types() == ["NEW_INBOUND_CALL", "INVALID_LAMBDA_RESPONSE"]
    assert problem in handler.last("INVALID_LAMBDA_RESPONSE")["ActionData"]["ErrorMessage"]
    assert sim.chime.describe(txn)["Status"] == "Disconnected"


def test_a_bad_call_id_is_an_invalid_action_parameter(sim):
    sma_id, handler = _sma(
        sim, {"NEW_INBOUND_CALL": [{"Type": "PauseCallRecording", "Parameters": {"CallId": "not-this-call"}}]}
    )
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    failed = handler.last("ACTION_FAILED")["ActionData"]
    assert (failed["ErrorType"], failed["ErrorMessage"]) == (
        "InvalidActionParameter",
        "CallId parameter for action is invalid",
    )


def test_recording_starts_once_and_pause_needs_a_recording(sim, deployment):
    bucket = deployment.physical("RecordingBucket")
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": _simple("PauseCallRecording"),
            "ACTION_FAILED:PauseCallRecording": _start_recording(bucket),
            "ACTION_SUCCESSFUL:StartCallRecording": _start_recording(bucket),
        },
    )
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    assert [e["InvocationEventType"] for e in handler.events] == [
        "NEW_INBOUND_CALL",
        "ACTION_FAILED",
        "ACTION_SUCCESSFUL",
        "ACTION_FAILED",
    ]
    assert "once per call leg" in handler.events[-1]["ActionData"]["ErrorMessage"]


def test_injected_system_error_and_no_access(sim, deployment):
    bucket = deployment.physical("RecordingBucket")
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _start_recording(bucket)})
    sim.faults.inject(Fault("chimesdkvoice", "StartCallRecording", "SystemException"))
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    assert handler.last("ACTION_FAILED")["ActionData"]["ErrorType"] == "SystemException"
    sim.faults.inject(Fault("chimesdkvoice", "StartCallRecording", "NoAccessToDestination"))
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    assert handler.last("ACTION_FAILED")["ActionData"]["Error"] == NO_ACCESS


def test_hangup_action_ends_the_call_and_delivers_the_recording(sim, s3, deployment):
    bucket = deployment.physical("RecordingBucket")
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": _start_recording(bucket),
            "CALL_UPDATE_REQUESTED:end": lambda e: [
                {"Type": "Hangup", "Parameters": {"SipResponseCode": "0", "CallId": _call_id(e)}}
            ],
        },
    )
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.talk(txn, 2)
    _update(sim, sma_id, txn, "end")
    sim.chime.wait_idle(txn)
    assert handler.types()[-1] == "HANGUP"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    with pytest.raises(ClientError) as raised:
        _update(sim, sma_id, txn, "end")  # the call is over
    assert raised.value.response["Error"]["Code"] == "NotFoundException"


def test_a_call_s_thread_ends_with_the_call_and_a_wait_after_it_returns_at_once(sim):
    """Each call leg is served by a thread of its own; once the call is over and nothing waits in its inbox, the
    thread ends (it kept the twin and every leg it made alive until the process ended: 38 in one test worker)."""
    sma_id, _ = _sma(sim, {"NEW_INBOUND_CALL": _simple("Hangup")})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    eventually(
        lambda: [t for t in threading.enumerate() if t.name == f"sma-{txn[:8]}"],
        lambda alive: not alive,
        5.0,
        "the leg's thread to end",
    )
    sim.chime.wait_idle(txn, timeout=1)  # nothing is left to handle: it says so without the thread (no TimeoutError)


@pytest.mark.parametrize(
    "parameters, code, status",
    [
        ({"TransactionId": "no-such-call"}, "NotFoundException", 404),
        ({"Arguments": {str(i): "v" for i in range(21)}}, "BadRequestException", 400),
        ({"Arguments": {"n": 1}}, "BadRequestException", 400),
        ({"SipMediaApplicationId": ""}, "BadRequestException", 400),
    ],
)
def test_update_call_errors(sim, parameters, code, status):
    sma_id, _ = _sma(sim, {})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    request = {"SipMediaApplicationId": sma_id, "TransactionId": txn, "Arguments": {}, **parameters}
    with pytest.raises(ClientError) as raised:
        sim.chime.call("UpdateSipMediaApplicationCall", request)
    assert (raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        code,
        status,
    )


def test_injected_throttling_on_update_call(sim):
    sma_id, _ = _sma(sim, {})
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.faults.inject(Fault("chimesdkvoice", "UpdateSipMediaApplicationCall", "ThrottledClientException", key=txn))
    with pytest.raises(ClientError) as raised:
        _update(sim, sma_id, txn, "x")
    assert raised.value.response["Error"]["Code"] == "ThrottledClientException"
    _update(sim, sma_id, txn, "x")  # once


# --- bridged calls (CallAndBridge): LEG-B, each leg hearing the other, a recording per leg ---------------------

AGENT_PHONE, CENTRE = "+15125550142", "+15125550100"


def _bridge(number=AGENT_PHONE, **parameters):
    return lambda e: [
        {
            "Type": "CallAndBridge",
            "Parameters": {
                "CallTimeoutSeconds": 20,
                "CallerIdNumber": CENTRE,
                "Endpoints": [{"BridgeEndpointType": "PSTN", "Uri": number}],
                **parameters,
            },
        }
    ]


def _keys_heard(body: bytes) -> list:
    """The key presses a listener hears in a WAV, per channel (the verification's own detector)."""
    wav = wavcheck.parse_header(body, len(body))
    return scan.scan(
        lambda a, b: body[a:b], len(body), data_offset=wav.data_offset, data_size=wav.data_size, channels=wav.channels
    ).digits


def _leg(event, tag):
    return next(p for p in event["CallDetails"]["Participants"] if p["ParticipantTag"] == tag)


def _on_leg(tag, kind, **parameters):
    return lambda e: [{"Type": kind, "Parameters": {"CallId": _leg(e, tag)["CallId"], **parameters}}]


def test_a_bridged_call_records_leg_b_with_each_party_on_its_own_channel(sim, s3, deployment):
    bucket = deployment.physical("RecordingBucket")
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": _bridge(),
            "ACTION_SUCCESSFUL:CallAndBridge": _on_leg(
                "LEG-B", "StartCallRecording", Track="BOTH", Destination={"Type": "S3", "Location": bucket}
            ),
            "CALL_UPDATE_REQUESTED:pause": _on_leg("LEG-B", "PauseCallRecording"),
            "CALL_UPDATE_REQUESTED:resume": _on_leg("LEG-B", "ResumeCallRecording"),
            "HANGUP": lambda e: (
                [{"Type": "Hangup", "Parameters": {"ParticipantTag": "LEG-A", "SipResponseCode": "0"}}]
                if _leg(e, "LEG-A")["Status"] == "Connected"
                else []
            ),
        },
    )
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    sim.chime.talk(txn, 5)
    sim.chime.press(txn, "1234")  # the caller's keys, outside any pause: heard on LEG-B's outgoing side
    sim.chime.talk(txn, 2)
    _update(sim, sma_id, txn, "pause")
    sim.chime.wait_idle(txn)
    sim.chime.press(txn, "4111111111111111")  # the card, typed while LEG-B's recording is paused
    sim.chime.talk(txn, 1)
    _update(sim, sma_id, txn, "resume")
    sim.chime.talk(txn, 4)
    sim.chime.hang_up(txn, "LEG-B")  # the bridged party hangs up first; the function hangs up the caller
    sim.chime.wait_idle(txn)

    bridged = handler.last("ACTION_SUCCESSFUL")
    assert handler.events[1]["ActionData"]["Type"] == "CallAndBridge"
    a, b = _leg(handler.events[1], "LEG-A"), _leg(handler.events[1], "LEG-B")
    assert handler.events[1]["ActionData"]["Parameters"]["CallId"] == a["CallId"]
    assert (b["Direction"], b["From"], b["To"], b["Status"]) == ("Outbound", CENTRE, AGENT_PHONE, "Connected")
    hangups = [e for e in handler.events if e["InvocationEventType"] == "HANGUP"]
    assert [h["ActionData"]["Parameters"]["ParticipantTag"] for h in hangups] == ["LEG-B", "LEG-A"]
    assert (_leg(hangups[0], "LEG-A")["Status"], _leg(hangups[0], "LEG-B")["Status"]) == ("Connected", "Disconnected")
    assert bridged["ActionData"]["Type"] == "ResumeCallRecording"

    described = sim.chime.describe(txn)
    assert described["Status"] == "Disconnected" and described["Recording"] is None  # LEG-A was not recorded
    recording = described["Bridged"]["Recording"]
    assert recording["Location"].endswith(f"_{txn}_{b['CallId']}.wav")
    body = s3.get_object(Bucket=bucket, Key=recording["Location"].split("/", 1)[1])["Body"].read()
    wav = read_wav(body)
    began = recording["StartedAt"]
    pause, resume = [t - began for t in recording["Paused"][0]]
    assert wav.channels == 2
    assert wav.rms(0, 0.5, 4.5) > 500 and wav.rms(1, 0.5, 4.5) > 500  # the bridged party left, the caller right
    (typed, _card) = [[t - began for t in span] for span in described["Typed"]]
    heard = _keys_heard(body)  # the caller's four presses, on the right (LEG-B's outgoing) channel only
    assert len(heard) == 4 and {d.channel for d in heard} == {1}
    assert typed[0] - 0.05 <= heard[0].start and heard[-1].end <= typed[1] + 0.05
    for channel in (0, 1):
        assert wav.peak(channel, pause, resume) == 0  # the card is not in LEG-B's recording
    assert wav.rms(0, resume + 0.5, resume + 3.5) > 500 and wav.rms(1, resume + 0.5, resume + 3.5) > 500


def test_an_unanswered_bridge_fails_after_its_timeout_and_the_caller_stays(sim):
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _bridge()})
    sim.chime.phones[AGENT_PHONE] = Phone(answers=False)
    before = sim.clock.seconds()
    txn = sim.chime.place_call(sma_id, CALLER, DIALLED)
    sim.chime.wait_idle(txn)
    failed = handler.last("ACTION_FAILED")
    assert (failed["ActionData"]["ErrorType"], failed["ActionData"]["ErrorMessage"]) == (
        "CallNotAnswered",
        "Call not answered",
    )
    assert [p["ParticipantTag"] for p in failed["CallDetails"]["Participants"]] == ["LEG-A"]
    assert sim.clock.seconds() - before >= 20
    assert sim.chime.describe(txn)["Status"] == "Connected" and sim.chime.describe(txn)["Bridged"] is None


@pytest.mark.parametrize(
    "parameters",
    [
        {"CallerIdNumber": "5125550100"},
        {"CallTimeoutSeconds": 121},
        {"Endpoints": [{"BridgeEndpointType": "AWS", "Uri": AGENT_PHONE}]},
        {"Endpoints": []},
    ],
)
def test_a_malformed_bridge_is_an_invalid_action_parameter(sim, parameters):
    sma_id, handler = _sma(sim, {"NEW_INBOUND_CALL": _bridge(**parameters)})
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    assert handler.last("ACTION_FAILED")["ActionData"]["ErrorType"] == "InvalidActionParameter"


def test_a_call_is_bridged_once_and_actions_name_a_leg_it_has(sim):
    sma_id, handler = _sma(
        sim,
        {
            "NEW_INBOUND_CALL": _bridge(),
            "ACTION_SUCCESSFUL:CallAndBridge": _bridge("+15125550143"),
            "ACTION_FAILED:CallAndBridge": lambda e: [{"Type": "PlayAudio", "Parameters": {"CallId": "no-such-leg"}}],
        },
    )
    sim.chime.wait_idle(sim.chime.place_call(sma_id, CALLER, DIALLED))
    failures = [e["ActionData"] for e in handler.events if e["InvocationEventType"] == "ACTION_FAILED"]
    assert [(f["Type"], f["ErrorType"]) for f in failures] == [
        ("CallAndBridge", "InvalidActionParameter"),
        ("PlayAudio", "InvalidActionParameter"),
    ]
