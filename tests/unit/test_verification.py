"""VerifyRecording's own checks, each both ways, on objects in moto S3: content type, encryption, Chime
metadata, when the object landed, duration against the session's timeline, where the windows fall, and
finding the object (Chime by its key, Connect by its contact record, else an exact match of its layout).
The WAVs are written by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callrec.sim import audio
from callrec_shared import clock, verification

T0 = datetime(2026, 11, 20, 23, 59, 30, tzinfo=UTC)  # a call that crosses midnight (UTC)
# The objects are written today for calls dated T0, so `landed` is given room here (it has a test of its own).
CONFIG = verification.Config(
    bucket="recordings",
    kms_key_arn="",
    connect_prefix="connect/demo/CallRecordings",
    tolerance_seconds=1.0,
    guard_seconds=0.25,
    landing_limit_seconds=10**9,
)


def _contact(joined: float | None = None, location: str | None = None) -> dict:
    """A contact record as DescribeContact gives it (the fields VerifyRecording reads)."""
    record: dict = {"Id": "contact-1", "InitialContactId": "contact-1"}
    if joined is not None:
        record["AgentInfo"] = {"ConnectedToAgentTimestamp": clock.stamp(T0 + timedelta(seconds=joined))}
    if location is not None:
        record["Recordings"] = [
            {"StorageType": "S3", "Location": location, "MediaStreamType": "AUDIO", "Status": "AVAILABLE"}
        ]
    return record


def _session(provider="chime", seconds=60.0, windows=((20.0, 30.0),), **extra) -> dict:
    at = lambda s: clock.stamp(T0 + timedelta(seconds=s))  # noqa: E731
    call = (
        {"SipMediaApplicationId": "sma-1", "TransactionId": "txn-1", "CallId": "call-1"}
        if provider == "chime"
        else {"InstanceId": "i-1", "ContactId": "contact-1", "InitialContactId": "contact-1"}
    )
    return {
        "sessionId": "s-1",
        "provider": provider,
        "call": call,
        "recordingStartedAt": at(0),
        "endedAt": at(seconds),
        "recordingLocation": "recordings/chime/call.wav" if provider == "chime" else "pending",
        "windows": [{"suspendConfirmedAt": at(a), "resumeRequestedAt": at(b)} for a, b in windows],
        **extra,
    }


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
    request = {
        "Bucket": "recordings",
        "Key": key,
        "Body": body if body is not None else _wav(),
        "ContentType": content_type,
    }
    if sse:
        request["ServerSideEncryption"] = "aws:kms"
    if metadata is not False:
        request["Metadata"] = metadata or {
            "transaction-id": "txn-1",
            "call-id": "call-1",
            "recording-duration": "60.000",
            "recording-audio-file-format": "audio/wav",
        }
    s3.put_object(**request)


@pytest.fixture
def s3(aws):
    from callrec.stack import client

    s3 = client("s3")
    s3.create_bucket(Bucket="recordings")
    return s3


def _check(s3, session, key="chime/call.wav", config=CONFIG) -> dict:
    return verification.check(
        verification.expectation(session), verification.Located("recordings", key, "destination"), s3, config
    )


def test_a_good_chime_recording_passes_every_check(s3):
    _put(s3)
    verdict = _check(s3, _session())
    assert verdict["passed"], verdict
    assert [c["name"] for c in verdict["checks"]] == [
        "exists",
        "location",
        "content-type",
        "encryption",
        "metadata",
        "landed",
        "wav-header",
        "size",
        "pcm-16bit",
        "sample-rate",
        "channels",
        "duration",
        "metadata-duration",
        "window-1-silent",
        "not-all-silent",
        "dtmf-outside-windows",
    ]
    assert verdict["status"] == "VERIFIED" and verdict["bytesRead"] == verdict["size"]
    assert verdict["windows"] == [[20.25, 29.75]] and len(verdict["sha256"]) == 64


@pytest.mark.parametrize(
    "broken, failed",
    [
        ({"content_type": "binary/octet-stream"}, ["content-type"]),
        ({"sse": False}, ["encryption"]),
        (
            {
                "metadata": {
                    "transaction-id": "someone-else",
                    "call-id": "call-1",
                    "recording-duration": "60.000",
                    "recording-audio-file-format": "audio/wav",
                }
            },
            ["metadata"],
        ),
        ({"metadata": False}, ["metadata"]),
        (
            {
                "metadata": {
                    "transaction-id": "txn-1",
                    "call-id": "call-1",
                    "recording-duration": "12.000",
                    "recording-audio-file-format": "audio/wav",
                }
            },
            ["metadata-duration"],
        ),
        ({"body": _wav(silent=())}, ["window-1-silent"]),
        ({"body": _wav(seconds=45.0)}, ["duration", "metadata-duration"]),
        ({"body": _wav(channels=1)}, ["channels"]),
    ],
)
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


def test_an_open_window_whose_resume_the_failed_store_never_saved_is_unverified_not_failed():
    """The store failed as the workflow saved a resume the provider had confirmed: the session shows the window
    open to the end while the recording has the conversation after it. Before, window-1-silent failed ("audio
    in the window"), a false accusation; now the window's end is unknown, so its silence is unverified."""
    session = _session(windows=(), windowEndUnknown=True)
    session["windows"] = [{"suspendConfirmedAt": clock.stamp(T0 + timedelta(seconds=20))}]
    spans, unplaced = verification.place_windows(verification.expectation(session), 60.0, CONFIG)
    assert spans == [] and [(c.name, c.ok, c.unverified) for c in unplaced] == [("window-1-silent", False, True)]
    assert "end is unknown" in unplaced[0].detail


def test_a_connect_recording_that_began_when_the_agent_joined_is_placed_from_the_join():
    """The session asked at 0 s; the contact record says the agent joined at 20 s, so the 40 s recording
    starts there. A window that ended before the join holds nothing of the recording: it passes, saying so;
    one that began after the recording ended likewise (found by the load test: an undo confirmed as the
    stop landed, while the workflow recorded the end seconds later)."""
    session = _session("connect", windows=((30.0, 40.0), (5.0, 10.0), (59.5, 61.0)))
    spans, unplaced = verification.place_windows(verification.expectation(session, _contact(joined=20.0)), 39.0, CONFIG)
    assert spans == [(10.25, 19.75)]
    assert [(c.name, c.ok, c.unverified) for c in unplaced] == [
        ("window-2-silent", True, False),
        ("window-3-silent", True, False),
    ]
    assert all("none of it was recorded" in c.detail for c in unplaced)


def test_a_short_connect_recording_with_no_known_join_cannot_be_placed():
    """It passed before, placed by its end: a 2 s file for a 21 s call was VERIFIED."""
    expected = verification.expectation(_session("connect", seconds=21.0, windows=((5.0, 10.0),)))
    spans, unplaced = verification.place_windows(expected, 2.0, CONFIG)
    assert spans == [] and [(c.ok, c.unverified) for c in unplaced] == [(False, True)]
    duration = verification._duration(expected, 2.0, CONFIG)
    assert not duration.ok and duration.unverified and "join time" in duration.detail


def test_the_end_is_known_between_its_request_and_the_workflows_record_of_it():
    """On a busy stack the workflow records the end seconds after it was asked for (found by the API load
    test): a recording that stopped in between is neither short nor late-started; its windows are placed
    from its start. The session asked to end at 60 s and recorded the end at 66 s."""
    session = _session(
        "connect", seconds=66.0, windows=((20.0, 30.0),), endRequestedAt=clock.stamp(T0 + timedelta(seconds=60))
    )
    expected = verification.expectation(session)
    for stopped_at in (60.0, 63.0, 66.0):
        assert verification._duration(expected, stopped_at, CONFIG).ok
        assert verification.place_windows(expected, stopped_at, CONFIG) == ([(20.25, 29.75)], [])
    assert not verification._duration(expected, 67.5, CONFIG).ok  # longer than the latest possible end
    # a Connect recording that began when the agent joined (20 s, from the contact record) is 40-46 s long
    joined = verification.expectation(session, _contact(joined=20.0))
    assert verification.place_windows(joined, 40.0, CONFIG) == ([(0.25, 9.75)], [])
    assert all(verification._duration(joined, s, CONFIG).ok for s in (40.0, 43.0, 46.0))
    assert not verification._duration(joined, 38.5, CONFIG).ok and not verification._duration(joined, 47.5, CONFIG).ok
    chime = verification.expectation(
        _session("chime", seconds=66.0, endRequestedAt=clock.stamp(T0 + timedelta(seconds=60)))
    )
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


def test_connect_duration_is_two_sided():
    """Shorter only by the agent's measured join delay (it was one-sided: any shorter recording passed)."""
    joined = verification.expectation(_session("connect"), _contact(joined=20.0))
    assert verification._duration(joined, 40.0, CONFIG).ok
    assert not verification._duration(joined, 30.0, CONFIG).ok and not verification._duration(joined, 75.0, CONFIG).ok
    early = verification.expectation(_session("connect"), _contact(joined=-5.0))  # joined before the start
    assert verification._duration(early, 60.0, CONFIG).ok and not verification._duration(early, 40.0, CONFIG).ok
    unknown = verification._duration(verification.expectation(_session("connect")), 40.0, CONFIG)
    assert not unknown.ok and unknown.unverified
    assert not verification._duration(verification.expectation(_session("chime")), 40.0, CONFIG).ok


def test_landed_is_between_the_recording_start_and_the_landing_limit():
    expected = verification.expectation(_session())
    config = verification.Config(**{**CONFIG.__dict__, "landing_limit_seconds": 1800.0})
    at = lambda s: {"LastModified": T0 + timedelta(seconds=s)}  # noqa: E731
    assert verification._landed(expected, at(65), config).ok
    assert not verification._landed(expected, at(-30), config).ok  # planted before the call
    assert not verification._landed(expected, at(60 + 1801), config).ok  # written long after
    assert verification._landed(expected, {}, config).unverified


def test_a_session_without_an_end_is_not_verifiable():
    session = _session()
    del session["endedAt"]
    with pytest.raises(verification.NotVerifiable, match="endedAt"):
        verification.expectation(session)


def test_chime_is_located_by_its_key_connect_by_its_layout_across_midnight(s3):
    chime = verification.expectation(_session())
    assert verification.locate(chime, CONFIG, s3) is None
    _put(s3)
    assert verification.locate(chime, CONFIG, s3) == verification.Located("recordings", "chime/call.wav", "destination")

    connect = verification.expectation(_session("connect"))
    assert verification.connect_prefixes(connect, CONFIG) == [
        "connect/demo/CallRecordings/2026/11/20/contact-1_",
        "connect/demo/CallRecordings/2026/11/21/contact-1_",
    ]
    assert verification.locate(connect, CONFIG, s3) is None
    _put(s3, key="connect/demo/CallRecordings/2026/11/20/contact-2_20261120T23:59_UTC.wav")  # another contact
    assert verification.locate(connect, CONFIG, s3) is None
    key = "connect/demo/CallRecordings/2026/11/21/contact-1_20261121T00:00_UTC.wav"
    _put(s3, key=key)
    assert verification.locate(connect, CONFIG, s3) == verification.Located("recordings", key, "layout")


def test_a_decoy_is_never_taken_for_the_recording(s3):
    """Reproduced: a decoy under `<prefix>/<day>/<contactId>_0/...` sorted first and was verified instead."""
    connect = verification.expectation(_session("connect"))
    real = "connect/demo/CallRecordings/2026/11/20/contact-1_20261120T23:59_UTC.wav"
    _put(s3, key=real)
    for decoy in (
        "connect/demo/CallRecordings/2026/11/20/contact-1_0/a.wav",
        "connect/demo/CallRecordings/2026/11/20/contact-1_20261120T23:59_UTC.wav.wav",
        "connect/demo/CallRecordings/2026/11/20/contact-1_1.wav",
    ):
        _put(s3, key=decoy)
    assert verification.locate(connect, CONFIG, s3) == verification.Located("recordings", real, "layout")
    # a second exact match: never a guess
    _put(s3, key="connect/demo/CallRecordings/2026/11/20/contact-1_20261120T23:58_UTC.wav")
    assert verification.locate(connect, CONFIG, s3) == verification.Ambiguous(2)
    # the contact record names the object: that one, whatever else the layout holds
    named = verification.expectation(_session("connect"), _contact(location=f"recordings/{real}"))
    assert verification.locate(named, CONFIG, s3) == verification.Located("recordings", real, "contact record")
    s3_uri = verification.expectation(_session("connect"), _contact(location=f"s3://recordings/{real}"))
    assert verification.locate(s3_uri, CONFIG, s3) == verification.Located("recordings", real, "contact record")


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


def test_connects_stated_start_pins_the_windows_when_it_fits_the_session():
    """Under load the start is known only within seconds (asked at -5 s, recorded at 0 s), which swallowed
    short windows (unverified); Connect's contact record states when the recording started."""

    def with_start(at: float) -> verification.Expectation:
        record = _contact()
        record["Recordings"] = [{"MediaStreamType": "AUDIO", "StartTimestamp": clock.stamp(T0 + timedelta(seconds=at))}]
        return verification.expectation(
            _session("connect", recordingRequestedAt=clock.stamp(T0 - timedelta(seconds=5))), record
        )

    assert verification.place_windows(with_start(-2.0), 62.0, CONFIG) == ([(22.25, 31.75)], [])
    # a stated start outside what the session allows is not taken: the span stays uncertain
    assert verification.place_windows(with_start(-30.0), 62.0, CONFIG) == ([(25.25, 29.75)], [])


def test_a_window_shorter_than_the_guards_cannot_hold_sensitive_input():
    """A suspension confirmed just as its resume came (found by the load test: a late suspend and its resume)
    passes by its length; a long window swallowed by the timing uncertainty stays unverified."""
    tiny = verification.expectation(_session(windows=((20.0, 20.3),)))
    spans, notes = verification.place_windows(tiny, 60.0, CONFIG)
    assert spans == [] and [(n.ok, n.unverified) for n in notes] == [(True, False)] and "300 ms" in notes[0].detail
    uncertain = verification.expectation(
        _session(windows=((20.0, 24.0),), recordingRequestedAt=clock.stamp(T0 - timedelta(seconds=5)))
    )
    spans, notes = verification.place_windows(uncertain, 65.0, CONFIG)
    assert spans == [] and [(n.ok, n.unverified) for n in notes] == [(False, True)]


def test_a_window_that_the_recording_ends_into_is_judged_by_what_was_recorded_of_it():
    """A suspension confirmed just before the stop took effect (found by the load test under a busy machine):
    under 2 guards of it can be in the recording, too little to hold sensitive input, and key presses there
    are caught by dtmf-outside-windows. A window with more of it recorded still needs its silence checked."""
    late = verification.expectation(_session(seconds=60.0, windows=((59.8, 61.0),)))
    spans, notes = verification.place_windows(late, 60.0, CONFIG)
    assert spans == [] and [(n.ok, n.unverified) for n in notes] == [(True, False)], notes
    assert "of it in the recording" in notes[0].detail
    longer = verification.expectation(_session(seconds=60.0, windows=((58.0, 61.0),)))
    spans, notes = verification.place_windows(longer, 60.0, CONFIG)
    assert len(spans) == 1 and notes == []


def test_an_uncertain_chime_start_is_found_by_the_layout_under_its_own_prefix(s3):
    """No destination was reported (the caller hung up as recording started): the documented layout names the
    object, under the call's key prefix when it gave one, else the SMA's default prefix."""
    call = {"SipMediaApplicationId": "sma-1", "TransactionId": "txn-1", "CallId": "call-1"}
    name = f"{T0:%Y/%m/%d}/{T0:%Y-%m-%d-%H-%M-%S}-000_txn-1_call-1.wav"
    for prefix in ("", "sales/en"):
        session = _session(
            recordingUncertain=True,
            recordingLocation="",
            call=call,
            **({"recordingKeyPrefix": prefix} if prefix else {}),
        )
        expected = verification.expectation(session)
        assert verification.locate(expected, CONFIG, s3) is None
        key = f"{prefix or verification.CHIME_DEFAULT_PREFIX}/{name}"
        s3.put_object(Bucket="recordings", Key=key, Body=b"x")
        assert verification.locate(expected, CONFIG, s3) == verification.Located("recordings", key, "layout")
