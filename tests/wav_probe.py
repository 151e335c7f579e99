"""Reading recordings back the way a person checking them would: Python's wave module, then RMS over spans."""

from __future__ import annotations

import io
import math
import wave
from array import array
from dataclasses import dataclass


@dataclass
class Wav:
    channels: int
    sample_width: int
    rate: int
    frames: int
    samples: list[array]  # one array per channel

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def rms(self, channel: int, start: float, end: float) -> float:
        a, b = int(round(start * self.rate)), int(round(end * self.rate))
        part = self.samples[channel][a:b]
        return math.sqrt(sum(x * x for x in part) / len(part)) if len(part) else 0.0

    def peak(self, channel: int, start: float, end: float) -> int:
        a, b = int(round(start * self.rate)), int(round(end * self.rate))
        return max((abs(x) for x in self.samples[channel][a:b]), default=0)


def read_wav(data: bytes) -> Wav:
    with wave.open(io.BytesIO(data), "rb") as wav:
        channels, width, rate, frames = wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
        raw = array("h", wav.readframes(frames))
    return Wav(channels, width, rate, frames, [raw[c::channels] for c in range(channels)])
