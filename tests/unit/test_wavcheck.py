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
        left[start : start + len(tones)] = tones
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
    assert [c.name for c in verdict.checks] == [
        "exists",
        "wav-header",
        "size",
        "pcm-16bit",
        "sample-rate",
        "channels",
        "duration",
        "window-1-silent",
        "not-all-silent",
        "dtmf-outside-windows",
    ]


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


def test_a_recording_stopped_as_it_began_is_unverified_not_failed(tmp_path):
    """A caller who hung up as recording began leaves one sample of audio, the zero crossing a voice starts on
    (the fault matrix's uncertain start failed so under load): it tells sound from silence no better than a
    pause, so unverified, never failed. From 5 ms on a recording, or a longer one's tail, is judged (a
    time-scaled test call's recording stopped to be safe lasts 15-30 ms, and is)."""
    for seconds in (1 / 8000, 0.002, 0.004):
        verdict = _verdict(tmp_path, _stereo(seconds=seconds, windows=()), windows=[])
        assert verdict.status == "UNVERIFIED" and verdict.failed == ["not-all-silent"], (seconds, verdict.to_dict())
    assert _verdict(tmp_path, _stereo(seconds=0.01, windows=()), windows=[]).passed
    quiet = _verdict(tmp_path, _stereo(seconds=0.01, windows=(), silent=True), windows=[])
    assert quiet.status == "FAILED" and quiet.failed == ["not-all-silent"], quiet.to_dict()
    for seconds, judged in ((10.004, 20), (10.01, 21)):
        verdict = _verdict(tmp_path, _stereo(seconds=seconds, windows=()), windows=[])
        check = next(c for c in verdict.checks if c.name == "not-all-silent")
        assert verdict.passed and check.detail.endswith(f"over {judged} judged"), check.detail


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
    judged = next(c for c in verdict.checks if c.name == "not-all-silent")
    assert judged.detail.endswith(
        "over 78 judged"
    )  # 120 half seconds less the 42 touching 15-35 s (a sample either side)


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
    assert set(verdict.failed) == {"sample-rate", "channels", "duration", "audio"}  # audio: not scanned, unverified
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


def test_the_whole_object_is_read_once_and_hashed(tmp_path):
    """One streaming pass: every byte read exactly once (the header's first read included), and hashed."""
    import hashlib

    data = _stereo(seconds=600.0, windows=[(60.0, 120.0)])
    verdict = verify(FileSource(_file(tmp_path, data)), windows=[(60.0, 120.0)])
    assert verdict.passed, verdict.to_dict()
    assert verdict.bytes_read == verdict.size == len(data)
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()


def test_ranged_reads_from_s3(aws):
    from callrec.stack import client

    s3 = client("s3")
    s3.create_bucket(Bucket="recordings")
    s3.put_object(Bucket="recordings", Key="call.wav", Body=_stereo(leak=22.0))
    verdict = verify(S3Source("recordings", "call.wav", s3), windows=[WINDOW])
    assert verdict.failed == ["window-1-silent"] and verdict.bytes_read == verdict.size


def test_the_command_exits_0_on_pass_1_on_fail_2_when_unreadable(tmp_path):
    good, leaky = _file(tmp_path, _stereo(), "good.wav"), _file(tmp_path, _stereo(leak=25.0), "leaky.wav")

    def run(*arguments):
        return subprocess.run(
            [sys.executable, "-m", "callrec.cli", "verify", *arguments],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    passed = run(good, "--suspended", "20-30", "--duration", "60", "--json")
    assert passed.returncode == 0 and json.loads(passed.stdout)["passed"] is True
    failed = run(leaky, "--suspended", "20-30")
    assert failed.returncode == 1 and "FAIL  window-1-silent" in failed.stdout
    assert run(str(tmp_path / "missing.wav")).returncode == 2
    bad_window = run(good, "--suspended", "30-20")
    assert bad_window.returncode == 2 and "the end must come after the start" in bad_window.stderr


# --- the PCI scan and any valid PCM WAV ----------------------------------------------------------------

CARD = "4111111111111111"


def _typed(seconds: float, typed: dict[float, str], windows=()) -> bytes:
    """A stereo call with voice on both sides and the customer typing `typed` ({at: digits})."""
    customer, agent = audio.Channel("customer"), audio.Channel("agent")
    customer.join(0.0)
    agent.join(0.0)
    for at, digits in typed.items():
        customer.overlay(at, audio.dtmf(digits))
    left, right = customer.render(0.0, seconds), agent.render(0.0, seconds)
    audio.silence(left, 0.0, list(windows))
    audio.silence(right, 0.0, list(windows))
    return audio.wav_bytes([left, right])


def test_a_card_typed_with_no_suspend_fails_and_says_where_not_what(tmp_path):
    """The most common PCI failure (nobody paused): it passed before, VERIFIED."""
    verdict = _verdict(tmp_path, _typed(30.0, {8.0: CARD}), windows=[])
    assert verdict.failed == ["dtmf-outside-windows"] and verdict.status == "FAILED"
    check = next(c for c in verdict.checks if c.name == "dtmf-outside-windows")
    assert "16 at 7.99-11.1" in check.detail and "on ch0" in check.detail  # typed at 8.0 s for 3.2 s
    [run] = verdict.dtmf["runs"]
    assert (
        (run["digits"], run["channel"]) == (16, 0) and abs(run["start"] - 8.0) < 0.02 and abs(run["end"] - 11.2) < 0.1
    )
    text = json.dumps(verdict.to_dict())
    assert CARD not in text and "4111" not in text


def test_menu_digits_and_the_consent_answer_do_not_fail_it(tmp_path):
    verdict = _verdict(tmp_path, _typed(40.0, {2.0: "1", 10.0: "3", 20.0: "12", 30.0: "9"}), windows=[])
    assert verdict.passed, verdict.to_dict()
    assert verdict.dtmf["digits"] == 5 and verdict.dtmf["outsideWindows"] == 5


def test_a_card_typed_inside_the_window_is_not_heard(tmp_path):
    verdict = _verdict(tmp_path, _typed(40.0, {22.0: CARD}, windows=[WINDOW]))
    assert verdict.passed, verdict.to_dict()
    assert verdict.dtmf["digits"] == 0


def test_the_run_limit_is_a_setting(tmp_path):
    data = _typed(30.0, {5.0: "123"})
    assert _verdict(tmp_path, data, windows=[]).passed
    assert _verdict(tmp_path, data, windows=[], dtmf_run_limit=3).failed == ["dtmf-outside-windows"]


def _riff(fmt: bytes, frames: bytes, before_data: bytes = b"", data_size: int | None = None) -> bytes:
    chunks = b"fmt " + len(fmt).to_bytes(4, "little") + fmt + before_data
    size = len(frames) if data_size is None else data_size
    body = b"WAVE" + chunks + b"data" + size.to_bytes(4, "little") + frames
    return b"RIFF" + (len(body) & 0xFFFFFFFF).to_bytes(4, "little") + body


def _frames(seconds: float = 20.0) -> bytes:
    return audio.interleave(
        audio.voice("customer", audio.samples(seconds)), audio.voice("agent", audio.samples(seconds))
    ).tobytes()


PCM_FMT = (
    (1).to_bytes(2, "little")
    + (2).to_bytes(2, "little")
    + (8000).to_bytes(4, "little")
    + (32000).to_bytes(4, "little")
    + (4).to_bytes(2, "little")
    + (16).to_bytes(2, "little")
)


def test_any_valid_pcm_wav_is_read(tmp_path):
    """Each of these failed before: chunks of more than 4 KB before the data, WAVE_FORMAT_EXTENSIBLE with the
    PCM subformat, and streaming data sizes."""
    extensible = (
        (0xFFFE).to_bytes(2, "little")
        + PCM_FMT[2:]
        + (22).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + (3).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + bytes.fromhex("000000001000800000aa00389b71")
    )
    big_list = b"LIST" + (9001).to_bytes(4, "little") + bytes(9001) + b"\x00"  # odd length: padded
    for name, data in {
        "chunks before data": _riff(PCM_FMT, _frames(), before_data=big_list),
        "extensible": _riff(extensible, _frames()),
        "streaming 0xFFFFFFFF": _riff(PCM_FMT, _frames(), data_size=0xFFFFFFFF),
        "streaming 0": _riff(PCM_FMT, _frames(), data_size=0),
    }.items():
        verdict = verify(FileSource(_file(tmp_path, data, f"{name}.wav")), expected_seconds=20.0)
        assert verdict.passed, (name, verdict.to_dict())
        assert verdict.bytes_read == len(data), name
    not_pcm = (
        (0xFFFE).to_bytes(2, "little") + extensible[2:24] + (3).to_bytes(2, "little") + extensible[26:]
    )  # IEEE float
    verdict = verify(FileSource(_file(tmp_path, _riff(not_pcm, _frames()), "float.wav")))
    assert "pcm-16bit" in verdict.failed and verdict.status == "FAILED"


def test_a_long_quiet_call_with_a_few_seconds_of_speech_is_not_all_silent(tmp_path):
    """10 minutes with 5 s of speech: 12 probes of 0.5 s missed it and failed the call before."""
    customer, agent = audio.Channel("customer"), audio.Channel("agent")
    customer.join(311.0)
    customer.leave(316.0)
    left, right = customer.render(0.0, 600.0), agent.render(0.0, 600.0)
    verdict = verify(FileSource(_file(tmp_path, audio.wav_bytes([left, right]))))
    assert verdict.passed, verdict.to_dict()
    silent = verify(FileSource(_file(tmp_path, audio.wav_bytes([agent.render(0.0, 600.0)] * 2), "s.wav")))
    assert silent.failed == ["not-all-silent"]


def test_very_short_recordings_are_judged_on_what_they_hold(tmp_path):
    """Under ~0.5 s there were 0 probes, and a real alert."""
    speech = audio.wav_bytes([audio.voice("customer", 2400), audio.voice("agent", 2400)])  # 0.3 s
    assert verify(FileSource(_file(tmp_path, speech))).passed
    quiet = audio.wav_bytes([array("h", bytes(4800)), array("h", bytes(4800))])
    assert verify(FileSource(_file(tmp_path, quiet, "q.wav"))).failed == ["not-all-silent"]


def test_a_recording_wholly_inside_where_windows_may_be_is_unverified_not_passed(tmp_path):
    verdict = _verdict(
        tmp_path, _stereo(seconds=10.0, windows=[(0.0, 10.0)]), windows=[(0.5, 9.5)], may_be_silent=[(-1.0, 11.0)]
    )
    assert verdict.failed == ["not-all-silent"] and verdict.status == "UNVERIFIED"


def test_the_command_scans_for_card_tones(tmp_path):
    typed = _file(tmp_path, _typed(30.0, {8.0: CARD}), "typed.wav")

    def run(*arguments):
        return subprocess.run(
            [sys.executable, "-m", "callrec.cli", "verify", typed, *arguments],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    failed = run()
    assert failed.returncode == 1 and "FAIL  dtmf-outside-windows" in failed.stdout and CARD not in failed.stdout
    assert run("--dtmf-run-limit", "17").returncode == 0
