"""Real WAV audio for simulated calls: speech-like signal per party, DTMF where digits are typed,
prompt audio, tones, and exact silence where recording was suspended.

Rendering works on whole blocks (one second of signal is computed once and tiled), so a 60-minute
stereo recording is produced in well under a second without numpy.
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from dataclasses import dataclass, field
from functools import cache

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes: PCM 16-bit little-endian

# DTMF: row and column frequencies (Hz)
_DTMF = {
    "1": (697, 1209),
    "2": (697, 1336),
    "3": (697, 1477),
    "A": (697, 1633),
    "4": (770, 1209),
    "5": (770, 1336),
    "6": (770, 1477),
    "B": (770, 1633),
    "7": (852, 1209),
    "8": (852, 1336),
    "9": (852, 1477),
    "C": (852, 1633),
    "*": (941, 1209),
    "0": (941, 1336),
    "#": (941, 1477),
    "D": (941, 1633),
}
DTMF_TONE_SECONDS = 0.12
DTMF_GAP_SECONDS = 0.08

# What a party sounds like: fundamentals of a voiced, syllable-modulated signal.
VOICES = {"customer": (170.0, 0.35), "agent": (125.0, 0.30), "prompt": (220.0, 0.25), "caller": (170.0, 0.35)}


def samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))


@cache
def _voice_second(fundamental: float, level: float) -> array:
    """One second of a speech-like signal: harmonics under a ~4 Hz syllable envelope (never silent)."""
    out = array("h", bytes(SAMPLE_WIDTH * SAMPLE_RATE))
    for n in range(SAMPLE_RATE):
        t = n / SAMPLE_RATE
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * 4.0 * t)
        value = sum(math.sin(2 * math.pi * fundamental * k * t) / k for k in (1, 2, 3, 4))
        out[n] = int(32767 * level * envelope * value / 2.1)
    return out


def voice(kind: str, count: int) -> array:
    """`count` samples of the voice of `kind` (customer, agent, prompt)."""
    second = _voice_second(*VOICES[kind])
    whole, rest = divmod(count, SAMPLE_RATE)
    return second * whole + second[:rest]


@cache
def _tone(frequencies: tuple[float, ...], count: int, level: float) -> array:
    out = array("h", bytes(SAMPLE_WIDTH * count))
    for n in range(count):
        t = n / SAMPLE_RATE
        out[n] = int(32767 * level * sum(math.sin(2 * math.pi * f * t) for f in frequencies) / len(frequencies))
    return out


def dtmf(digits: str) -> array:
    """The DTMF tones of `digits`, each tone followed by a short gap."""
    out = array("h")
    gap = array("h", bytes(SAMPLE_WIDTH * samples(DTMF_GAP_SECONDS)))
    for digit in digits:
        if digit not in _DTMF:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        out += _tone(_DTMF[digit], samples(DTMF_TONE_SECONDS), 0.5)
        out += gap
    return out


def dtmf_seconds(digits: str) -> float:
    return len(digits) * (samples(DTMF_TONE_SECONDS) + samples(DTMF_GAP_SECONDS)) / SAMPLE_RATE


def beep(seconds: float = 0.25, frequency: float = 1000.0) -> array:
    return _tone((frequency,), samples(seconds), 0.3)


@dataclass
class Segment:
    """Something heard on one channel from `start` (seconds on the call's clock) on."""

    start: float
    audio: array  # samples


@dataclass
class Channel:
    """What one side of a call leg sounds like over time: the party's voice while present, what another channel
    carries while relayed to it (a bridged call: each leg hears the other leg's party), overlays on top."""

    voice: str
    present: list[tuple[float, float | None]] = field(default_factory=list)  # [start, end) spans
    overlays: list[Segment] = field(default_factory=list)  # DTMF, prompts, tones: replace the voice
    relays: list[tuple[Channel, float, float | None]] = field(default_factory=list)  # (source, start, end)

    def join(self, at: float) -> None:
        if not self.present or self.present[-1][1] is not None:
            self.present.append((at, None))

    def leave(self, at: float) -> None:
        if self.present and self.present[-1][1] is None:
            self.present[-1] = (self.present[-1][0], at)

    def relay(self, source: Channel, at: float) -> None:
        """From `at` on, this channel carries what `source` carries (until `unrelay`)."""
        self.relays.append((source, at, None))

    def unrelay(self, at: float) -> None:
        self.relays = [(source, a, at if b is None else b) for source, a, b in self.relays]

    def overlay(self, at: float, audio: array) -> float:
        """Add `audio` at `at`; return when it ends."""
        self.overlays.append(Segment(at, audio))
        return at + len(audio) / SAMPLE_RATE

    def render(self, start: float, end: float) -> array:
        """The channel's samples from `start` to `end` (seconds on the call's clock)."""
        count = samples(end - start)
        out = array("h", bytes(SAMPLE_WIDTH * count))
        for span_start, span_end in self.present:
            a = max(0, samples(span_start - start))
            b = min(count, samples((span_end if span_end is not None else end) - start))
            if b > a:
                out[a:b] = voice(self.voice, b - a)
        for source, span_start, span_end in self.relays:
            a, b = max(start, span_start), min(end, span_end if span_end is not None else end)
            if b > a:
                carried = source.render(a, b)
                offset = samples(a - start)
                hi = min(count, offset + len(carried))
                out[offset:hi] = carried[: hi - offset]
        for segment in self.overlays:
            a = samples(segment.start - start)
            lo, hi = max(0, a), min(count, a + len(segment.audio))
            if hi > lo:
                out[lo:hi] = segment.audio[lo - a : hi - a]
        return out


def silence(out: array, start: float, spans: list[tuple[float, float]]) -> None:
    """Zero `out` (which begins at `start`) over each [a, b) span."""
    for a, b in spans:
        lo, hi = max(0, samples(a - start)), min(len(out), samples(b - start))
        if hi > lo:
            out[lo:hi] = array("h", bytes(SAMPLE_WIDTH * (hi - lo)))


def interleave(left: array, right: array) -> array:
    if len(left) != len(right):
        raise ValueError("channels differ in length")
    out = array("h", bytes(SAMPLE_WIDTH * 2 * len(left)))
    out[0::2] = left
    out[1::2] = right
    return out


def wav_bytes(channels: list[array]) -> bytes:
    """A PCM 16-bit little-endian WAV at 8 kHz of one (mono) or two (stereo, left first) channels."""
    frames = channels[0] if len(channels) == 1 else interleave(*channels)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        if sys.byteorder == "big":  # WAV is little-endian
            frames = array("h", frames)
            frames.byteswap()
        wav.writeframes(frames.tobytes())
    return buffer.getvalue()


def wav_duration(data: bytes) -> float:
    """Duration of a PCM WAV; raises ValueError when `data` is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getcomptype() != "NONE":
                raise ValueError("not PCM")
            return wav.getnframes() / wav.getframerate()
    except (wave.Error, EOFError) as err:
        raise ValueError(f"not a WAV file: {err}") from err
