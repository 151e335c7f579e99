"""VerifyRecording's own checks, each both ways, on objects in moto S3: content type, encryption, Chime
metadata, duration against the session's timeline, where the windows fall, and finding the object
(Chime by its key, Connect by its layout). The WAVs are written by the tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from callrec.sim import audio
from callrec_shared import clock, verification

T0 = datetime(2026, 11, 20, 23, 59, 30, tzinfo=timezone.utc)  # a call that crosses midnight (UTC)
CONFIG = verification.Config(bucket="recordings", kms_key_arn="", connect_prefix="connect/demo/CallRecordings",
                             tolerance_seconds=1.0, guard_seconds=0.25)


def _session(provider="chime", seconds=60.0, windows=((20.0, 30.0),), **extra) -> dict:
    at = lambda s: clock.stamp(T0 + timedelta(seconds=s))  # noqa: E731
    call = ({"SipMediaApplicationId": "sma-1", "TransactionId": "txn-1", "CallId": "call-1"} if provider == "chime"
            else {"InstanceId": "i-1", "ContactId": "contact-1", "InitialContactId": "contact-1"})
    return {"sessionId": "s-1", "provider": provider, "call": call, "recordingStartedAt": at(0), "endedAt": at(seconds),
            "recordingLocation": "recordings/chime/call.wav" if provider == "chime" else "pending",
            "windows": [{"suspendConfirmedAt": at(a), "resumeRequestedAt": at(b)} for a, b in windows], **extra}


def _wav(seconds=60.0, silent=((20.0, 30.0),), channels=2) -> bytes:
    lanes = []
    for name in ("customer", "agent")[:channels]:
        lane = audio.Channel(name)
        lane.join(0.0)
        rendered = lane.render(0.0, seconds)
        audio.silence(rendered, 0.0, list(silent))
        lanes.append(rendered)
    return audio.wav_bytes(lanes)


def _put(s3, key="chime/call.wav", body=None, content_type="audio/wav", sse=True, metadata=None):
    request = {"Bucket": "recordings", "Key": key, "Body": body if body is not None else _wav(), "ContentType": content_type}
    if sse:
        request["ServerSideEncryption"] = "aws:kms"
    if metadata is not False:
        request["Metadata"] = metadata or {"transaction-id": "txn-1", "call-id": "call-1", "recording-duration": "60.000",
                                           "recording-audio-file-format": "audio/wav"}
    s3.put_object(**request)


@pytest.fixture
def s3(aws):
    from callrec.stack import client

    s3 = client("s3")
    s3.create_bucket(Bucket="recordings")
    return s3


def _check(s3, session, key="chime/call.wav", config=CONFIG) -> dict:
    return verification.check(verification.expectation(session), "recordings", key, s3, config)


def test_a_good_chime_recording_passes_every_check(s3):
    _put(s3)
    verdict = _check(s3, _session())
    assert verdict["passed"], verdict
    assert [c["name"] for c in verdict["checks"]] == [
        "exists", "content-type", "encryption", "metadata", "wav-header", "size", "pcm-16bit", "sample-rate",
        "channels", "duration", "metadata-duration", "window-1-silent", "not-all-silent"]
    assert verdict["bytesRead"] < verdict["size"] / 3


@pytest.mark.parametrize("broken, failed", [
    ({"content_type": "binary/octet-stream"}, ["content-type"]),
    ({"sse": False}, ["encryption"]),
    ({"metadata": {"transaction-id": "someone-else", "call-id": "call-1", "recording-duration": "60.000",
                   "recording-audio-file-format": "audio/wav"}}, ["metadata"]),
    ({"metadata": False}, ["metadata"]),
    ({"metadata": {"transaction-id": "txn-1", "call-id": "call-1", "recording-duration": "12.000",
                   "recording-audio-file-format": "audio/wav"}}, ["metadata-duration"]),
    ({"body": _wav(silent=())}, ["window-1-silent"]),
    ({"body": _wav(seconds=45.0)}, ["duration", "metadata-duration"]),
    ({"body": _wav(channels=1)}, ["channels"]),
])
def test_each_check_fails_on_a_recording_broken_that_way(s3, broken, failed):
    _put(s3, **broken)
    assert _check(s3, _session())["failed"] == failed


def test_encryption_with_another_key_fails_when_a_key_is_configured(s3):
    _put(s3)
    keyed = verification.Config(**{**CONFIG.__dict__, "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/expected"})
    verdict = _check(s3, _session(), config=keyed)
    assert verdict["failed"] == ["encryption"]


def test_windows_are_placed_from_the_start_and_narrowed_by_the_guards():
    spans, notes = verification.place_windows(verification.expectation(_session()), 60.0, CONFIG)
    assert spans == [(20.25, 29.75)] and notes == []


def test_a_window_still_open_at_hang_up_runs_to_the_end():
    session = _session(windows=())
    session["windows"] = [{"suspendConfirmedAt": clock.stamp(T0 + timedelta(seconds=50))}]
    assert verification.place_windows(verification.expectation(session), 60.0, CONFIG)[0] == [(50.25, 59.75)]


def test_a_connect_recording_that_began_when_the_agent_joined_is_placed_by_its_end():
    """The session asked at 0 s; the agent joined at 20 s, so the 40 s recording starts there."""
    session = _session("connect", windows=((30.0, 40.0), (5.0, 10.0)))
    spans, notes = verification.place_windows(verification.expectation(session), 40.0, CONFIG)
    assert spans == [(10.25, 19.75)]
    assert [n.name for n in notes] == ["window-2-silent"] and notes[0].ok  # before the recording began


def test_the_end_is_known_between_its_request_and_the_workflows_record_of_it():
    """On a busy stack the workflow records the end seconds after it was asked for (found by the API load
    test): a recording that stopped in between is neither short nor late-started; its windows are placed
    from its start. The session asked to end at 60 s and recorded the end at 66 s."""
    session = _session("connect", seconds=66.0, windows=((20.0, 30.0),),
                       endRequestedAt=clock.stamp(T0 + timedelta(seconds=60)))
    expected = verification.expectation(session)
    for stopped_at in (60.0, 63.0, 66.0):
        assert verification._duration(expected, stopped_at, CONFIG).ok
        assert verification.place_windows(expected, stopped_at, CONFIG) == ([(20.25, 29.75)], [])
    assert not verification._duration(expected, 67.5, CONFIG).ok  # longer than the latest possible end
    # a Connect recording that began late is placed by its end, which may lie anywhere in [60, 66]: only the
    # part of the window inside it at every possible end is checked (the agent joined at ~20 s: 40-46 s long)
    spans, notes = verification.place_windows(expected, 40.0, CONFIG)
    assert spans == [(0.25, 3.75)] and notes == []
    chime = verification.expectation(_session("chime", seconds=66.0, endRequestedAt=clock.stamp(T0 + timedelta(seconds=60))))
    assert verification._duration(chime, 60.0, CONFIG).ok and not verification._duration(chime, 57.0, CONFIG).ok


def test_the_start_is_known_between_its_request_and_the_workflows_record_of_it():
    """Likewise the start: asked for at -5 s, recorded at 0 s. The provider may have started anywhere in
    between, so the recording may be up to 5 s longer, and a window's audio may lie up to 5 s later than the
    session's times say: only [25.25, 29.75] of the window (20, 30) is surely in it (found by the load test)."""
    session = _session("chime", recordingRequestedAt=clock.stamp(T0 - timedelta(seconds=5)))
    expected = verification.expectation(session)
    assert verification.place_windows(expected, 65.0, CONFIG) == ([(25.25, 29.75)], [])
    assert all(verification._duration(expected, s, CONFIG).ok for s in (60.0, 62.5, 65.0))
    assert not verification._duration(expected, 66.5, CONFIG).ok
    # ...and where it may be silent, at the widest: signal is looked for outside [19.75, 35.25]
    assert verification.window_reach(expected, 65.0, CONFIG) == [(19.75, 35.25)]


def test_connect_may_be_shorter_than_the_session_but_never_longer(s3):
    expected = verification.expectation(_session("connect"))
    assert verification._duration(expected, 40.0, CONFIG).ok
    assert not verification._duration(expected, 75.0, CONFIG).ok
    assert not verification._duration(verification.expectation(_session("chime")), 40.0, CONFIG).ok


def test_a_session_without_an_end_is_not_verifiable():
    session = _session()
    del session["endedAt"]
    with pytest.raises(verification.NotVerifiable, match="endedAt"):
        verification.expectation(session)


def test_chime_is_located_by_its_key_connect_by_its_layout_across_midnight(s3):
    chime = verification.expectation(_session())
    assert verification.locate(chime, CONFIG, s3) is None
    _put(s3)
    assert verification.locate(chime, CONFIG, s3) == ("recordings", "chime/call.wav")

    connect = verification.expectation(_session("connect"))
    assert verification.connect_prefixes(connect, CONFIG) == [
        "connect/demo/CallRecordings/2026/11/20/contact-1_", "connect/demo/CallRecordings/2026/11/21/contact-1_"]
    assert verification.locate(connect, CONFIG, s3) is None
    _put(s3, key="connect/demo/CallRecordings/2026/11/20/contact-2_20261120T23:59_UTC.wav")  # another contact
    assert verification.locate(connect, CONFIG, s3) is None
    key = "connect/demo/CallRecordings/2026/11/21/contact-1_20261121T00:00_UTC.wav"
    _put(s3, key=key)
    assert verification.locate(connect, CONFIG, s3) == ("recordings", key)


def test_after_a_failed_stop_the_recording_may_run_on_to_the_end_of_the_call():
    """RecordingSession says 'stop failed (...); the recording ends with the call': longer is right then."""
    from callrec.template import REPO_ROOT

    asl = (REPO_ROOT / "statemachines" / "recording_session.asl.json").read_text()
    assert f"'{verification.STOP_FAILED} (" in asl  # the reason the verifier recognises is the one the workflow writes
    session = _session(outcomeReason="stop failed (Connect.InternalServiceException); the recording ends with the call")
    expected = verification.expectation(session)
    assert expected.ends_with_call and verification._duration(expected, 75.0, CONFIG).ok
    assert not verification._duration(expected, 40.0, CONFIG).ok  # but never shorter than what was recorded
    assert not verification._duration(verification.expectation(_session()), 75.0, CONFIG).ok
