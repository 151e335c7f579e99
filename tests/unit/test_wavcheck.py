"""The recording checks, each both ways: it passes on a good recording and fails on one broken in
exactly that way. WAVs are written by the tests (and, in the S3 test, read back with ranged GETs)."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import wave
from array import array

import pytest

from callrec.sim import audio
from callrec.template import REPO_ROOT
from callrec_shared.wavcheck import FileSource, S3Source, verify

WINDOW = (20.0, 30.0)


def _stereo(seconds=60.0, windows=(WINDOW,), leak=None, silent=False):
    customer, agent = audio.Channel("customer"), audio.Channel("agent")
    if not silent:
        customer.join(0.0)
        agent.join(0.0)
    left, right = customer.render(0.0, seconds), agent.render(0.0, seconds)
    audio.silence(left, 0.0, list(windows))
    audio.silence(right, 0.0, list(windows))
    if leak is not None:  # DTMF typed into the window on the customer's side
        tones = audio.dtmf("4111")
        start = audio.samples(leak)
        left[start:start + len(tones)] = tones
    return audio.wav_bytes([left, right])


def _file(tmp_path, data: bytes, name="r.wav") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _verdict(tmp_path, data, **kwargs):
    return verify(FileSource(_file(tmp_path, data)), **{"windows": [WINDOW], **kwargs})


def test_a_good_recording_passes_every_check(tmp_path):
    verdict = _verdict(tmp_path, _stereo(), expected_seconds=60.0)
    assert verdict.passed, verdict.to_dict()
    assert [c.name for c in verdict.checks] == ["exists", "wav-header", "size", "pcm-16bit", "sample-rate",
                                                 "channels", "duration", "window-1-silent", "not-all-silent"]


def test_a_truncated_recording_fails_size(tmp_path):
    """The data chunk declares more bytes than the object holds (a delivery cut short)."""
    data = _stereo()
    assert _verdict(tmp_path, data[: len(data) - 32000]).failed == ["size"]


def test_an_empty_object_fails_exists(tmp_path):
    verdict = _verdict(tmp_path, b"")
    assert verdict.failed == ["exists"] and not verdict.passed


def test_audio_leaking_into_a_window_fails_it(tmp_path):
    assert _verdict(tmp_path, _stereo(leak=25.0)).failed == ["window-1-silent"]


def test_dither_and_line_noise_in_a_window_still_pass(tmp_path):
    data = bytearray(_stereo())
    rng = random.Random(3)
    first, last = 44 + int(WINDOW[0] * 8000) * 4, 44 + int(WINDOW[1] * 8000) * 4
    noise = array("h", [rng.randint(-12, 12) for _ in range((last - first) // 2)])
    data[first:last] = noise.tobytes()
    assert _verdict(tmp_path, bytes(data)).passed


def test_an_all_silent_recording_fails(tmp_path):
    assert _verdict(tmp_path, _stereo(silent=True)).failed == ["not-all-silent"]


def test_a_mostly_suspended_recording_is_probed_between_its_windows(tmp_path):
    """Windows cover all but 0-1 s, 29-31 s and 59-60 s: probes on an even grid over the whole recording all
    fell inside them (none left: failed), the probes now go to the gaps (found by the load test)."""
    windows = [(1.0, 29.0), (31.0, 59.0)]
    verdict = _verdict(tmp_path, _stereo(windows=windows), windows=windows)
    assert verdict.passed, verdict.to_dict()
    silent = _verdict(tmp_path, _stereo(windows=windows, silent=True), windows=windows)
    assert silent.failed == ["not-all-silent"]


def test_signal_is_looked_for_outside_where_the_windows_may_be(tmp_path):
    """The window is checked narrowed (20-30 s) but may reach 15-35 s, which the audio leaves silent: the
    probes must not take that silence for a silent recording, nor judge the signal from inside it."""
    data = _stereo(windows=[(15.0, 35.0)])
    verdict = _verdict(tmp_path, data, may_be_silent=[(15.0, 35.0)])
    assert verdict.passed, verdict.to_dict()
    probes = next(c for c in verdict.checks if c.name == "not-all-silent")
    assert probes.detail.endswith("over 12 probes")


def test_a_corrupted_header_fails(tmp_path):
    data = bytearray(_stereo())
    data[0:4] = b"JUNK"
    assert _verdict(tmp_path, bytes(data)).failed == ["wav-header"]


def test_wrong_format_rate_channels_and_duration_fail(tmp_path):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(audio.voice("agent", 16000 * 5).tobytes())
    verdict = _verdict(tmp_path, buffer.getvalue(), windows=[], expected_seconds=60.0)
    assert set(verdict.failed) == {"sample-rate", "channels", "duration"}
    eight_bit = io.BytesIO()
    with wave.open(eight_bit, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(8000 * 2))
    assert "pcm-16bit" in _verdict(tmp_path, eight_bit.getvalue()).failed


def test_one_track_recordings_need_one_channel(tmp_path):
    assert _verdict(tmp_path, _stereo(), track="INCOMING").failed == ["channels"]


def test_a_window_outside_the_recording_fails(tmp_path):
    assert _verdict(tmp_path, _stereo(), windows=[(70.0, 80.0)]).failed == ["window-1-silent"]


def test_only_the_needed_bytes_are_read_unless_asked(tmp_path):
    data = _stereo(seconds=600.0, windows=[(60.0, 120.0)])
    sampled = verify(FileSource(_file(tmp_path, data)), windows=[(60.0, 120.0)])
    full = verify(FileSource(_file(tmp_path, data, "f.wav")), windows=[(60.0, 120.0)], full=True)
    assert sampled.passed and full.passed
    assert sampled.bytes_read < len(data) * 0.15  # the window (10 %) and the probes, not the whole file
    assert full.bytes_read >= len(data) * 0.85


def test_ranged_reads_from_s3(aws):
    from callrec.stack import client

    s3 = client("s3")
    s3.create_bucket(Bucket="recordings")
    s3.put_object(Bucket="recordings", Key="call.wav", Body=_stereo(leak=22.0))
    verdict = verify(S3Source("recordings", "call.wav", s3), windows=[WINDOW])
    assert verdict.failed == ["window-1-silent"] and verdict.bytes_read < verdict.size


def test_the_command_exits_0_on_pass_1_on_fail_2_when_unreadable(tmp_path):
    good, leaky = _file(tmp_path, _stereo(), "good.wav"), _file(tmp_path, _stereo(leak=25.0), "leaky.wav")

    def run(*arguments):
        return subprocess.run([sys.executable, "-m", "callrec.cli", "verify", *arguments], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)

    passed = run(good, "--suspended", "20-30", "--duration", "60", "--json")
    assert passed.returncode == 0 and json.loads(passed.stdout)["passed"] is True
    failed = run(leaky, "--suspended", "20-30")
    assert failed.returncode == 1 and "FAIL  window-1-silent" in failed.stdout
    assert run(str(tmp_path / "missing.wav")).returncode == 2
    bad_window = run(good, "--suspended", "30-20")
    assert bad_window.returncode == 2 and "the end must come after the start" in bad_window.stderr
