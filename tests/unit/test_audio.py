"""The simulator's audio: real PCM WAV, voices where people talk, exact silence where told."""

from __future__ import annotations

import pytest

from callrec.sim import audio
from tests.wav_probe import read_wav


def test_a_channel_renders_voice_overlays_and_silence():
    channel = audio.Channel("customer")
    channel.join(1.0)
    typed_until = channel.overlay(3.0, audio.dtmf("1234"))
    channel.leave(8.0)
    left = channel.render(0.0, 10.0)
    audio.silence(left, 0.0, [(5.0, 6.0)])
    wav = read_wav(audio.wav_bytes([left, channel.render(0.0, 10.0)]))

    assert (wav.channels, wav.sample_width, wav.rate) == (2, 2, 8000)
    assert wav.seconds == pytest.approx(10.0)
    assert wav.peak(0, 0.0, 1.0) == 0  # not yet in the call
    assert wav.rms(0, 1.2, 2.8) > 1000  # talking
    assert typed_until == pytest.approx(3.0 + audio.dtmf_seconds("1234"))
    assert wav.rms(0, 3.0, 3.1) > 1000  # a DTMF tone
    assert wav.peak(0, 5.0, 6.0) == 0  # silenced exactly
    assert wav.rms(0, 4.5, 4.99) > 500 and wav.rms(0, 6.01, 6.5) > 500
    assert wav.peak(0, 8.0, 10.0) == 0  # left the call
    assert wav.rms(1, 5.0, 6.0) > 500  # the other channel was not silenced


def test_dtmf_refuses_what_is_not_a_key():
    with pytest.raises(ValueError, match="not a DTMF digit"):
        audio.dtmf("12x")


def test_mono_and_a_long_recording_render_quickly_and_exactly():
    channel = audio.Channel("agent")
    channel.join(0.0)
    samples = channel.render(0.0, 3600.0)
    wav = read_wav(audio.wav_bytes([samples]))
    assert wav.channels == 1
    assert wav.frames == 3600 * 8000


def test_wav_duration_reads_real_wavs_and_refuses_others():
    assert audio.wav_duration(audio.wav_bytes([audio.voice("prompt", 4000)])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not a WAV"):
        audio.wav_duration(b"ID3 this is an mp3")
