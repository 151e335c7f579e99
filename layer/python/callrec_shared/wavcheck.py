"""Check a call recording without reading all of it: header, format, duration, silence where recording
was suspended, and signal elsewhere. Each check is a named result with its detail.

The reader asks only for byte ranges: the header (a few KB), each suspended window's samples, and a
fixed budget of short samples spread over the parts outside the windows. A 60-minute stereo recording is ~115 MB; checking
it with two 60 s windows reads ~4 MB. Silence is judged by peak and RMS thresholds, so dither and line
noise below them pass while any speech or DTMF leaking into a window fails.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol, Sequence

HEADER_BYTES = 4096
EXPECTED_RATE = 8000
CHANNELS_FOR_TRACK = {"BOTH": 2, "ALL": 2, "FROM_AGENT": 2, "TO_AGENT": 2, "INCOMING": 1, "OUTGOING": 1}
SILENT_PEAK = 64  # 16-bit samples: about -54 dBFS, above dither and line hiss, far below speech or DTMF
SILENT_RMS = 16.0
AUDIBLE_RMS = 100.0  # some part outside the windows must carry this much signal
SAMPLE_SECONDS = 0.5  # length of each probe outside the windows
SAMPLE_COUNT = 12  # probes spread over the recording (the fixed budget)


class Source(Protocol):
    """Where the recording's bytes come from: a local file or an S3 object (ranged GETs)."""

    def size(self) -> int: ...

    def read(self, start: int, end: int) -> bytes: ...  # [start, end)


@dataclass
class FileSource:
    path: str
    bytes_read: int = 0

    def size(self) -> int:
        import os

        return os.path.getsize(self.path)

    def read(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(start)
            data = handle.read(max(0, end - start))
        self.bytes_read += len(data)
        return data


@dataclass
class S3Source:
    bucket: str
    key: str
    client: object
    bytes_read: int = 0

    _head: dict | None = None

    def head(self) -> dict:
        """The object's HEAD (size, content type, encryption, metadata), asked once."""
        if self._head is None:
            self._head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        return self._head

    def size(self) -> int:
        return self.head()["ContentLength"]

    def read(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        body = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}")["Body"].read()
        self.bytes_read += len(body)
        return body


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    bytes_read: int = 0
    size: int = 0

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "failed": self.failed, "bytesRead": self.bytes_read, "size": self.size,
                "checks": [asdict(check) for check in self.checks]}


@dataclass(frozen=True)
class WavFormat:
    format_tag: int
    channels: int
    rate: int
    bits: int
    data_offset: int
    data_size: int  # what the object holds
    declared_size: int = 0  # what the data chunk's header says it holds

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8

    @property
    def seconds(self) -> float:
        return self.data_size / (self.rate * self.frame_bytes) if self.rate and self.frame_bytes else 0.0


class NotAWav(ValueError):
    """The bytes are not a RIFF/WAVE file with fmt and data chunks."""


def parse_header(head: bytes, size: int) -> WavFormat:
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise NotAWav("no RIFF/WAVE header")
    offset, fmt = 12, None
    while offset + 8 <= len(head):
        chunk, length = head[offset:offset + 4], struct.unpack("<I", head[offset + 4:offset + 8])[0]
        if chunk == b"fmt ":
            if length < 16 or offset + 24 > len(head):
                raise NotAWav("fmt chunk too short")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[offset + 8:offset + 24])
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            if fmt is None:
                raise NotAWav("data chunk before fmt chunk")
            data_offset = offset + 8
            return WavFormat(*fmt, data_offset=data_offset, data_size=min(length, size - data_offset), declared_size=length)
        offset += 8 + length + (length & 1)
    raise NotAWav("no data chunk in the header's first bytes" if fmt else "no fmt chunk")


def _samples(source: Source, wav: WavFormat, start_s: float, end_s: float) -> list[array]:
    """The 16-bit samples of each channel between two times."""
    first = max(0, int(start_s * wav.rate))
    last = min(wav.data_size // wav.frame_bytes, int(math.ceil(end_s * wav.rate)))
    if last <= first:
        return [array("h") for _ in range(wav.channels)]
    raw = array("h", source.read(wav.data_offset + first * wav.frame_bytes, wav.data_offset + last * wav.frame_bytes))
    if sys.byteorder == "big":
        raw.byteswap()
    return [raw[c::wav.channels] for c in range(wav.channels)]


def _level(samples: array) -> tuple[int, float]:
    if not samples:
        return 0, 0.0
    peak = max(abs(min(samples)), abs(max(samples)))
    return peak, math.sqrt(sum(x * x for x in samples) / len(samples))


def _gaps(windows: Sequence[tuple[float, float]], seconds: float) -> list[tuple[float, float]]:
    """The parts of [0, seconds] outside every window, each long enough for a probe."""
    gaps, at = [], 0.0
    for a, b in sorted((max(a, 0.0), min(b, seconds)) for a, b in windows):
        if a - at >= SAMPLE_SECONDS:
            gaps.append((at, a))
        at = max(at, b)
    if seconds - at >= SAMPLE_SECONDS:
        gaps.append((at, seconds))
    return gaps


def _outside(windows: Sequence[tuple[float, float]], seconds: float) -> list[float]:
    """Start times of the probes: spread evenly over the parts of the recording outside the windows (so a
    recording that is mostly suspended is still probed in the moments between its windows)."""
    gaps = _gaps(windows, seconds)
    room = [b - a - SAMPLE_SECONDS for a, b in gaps]  # where a probe may start in each gap
    total = sum(room)
    if total <= 0:
        return [a for a, _ in gaps][:SAMPLE_COUNT]
    starts = []
    for i in range(SAMPLE_COUNT):
        offset = (i + 0.5) * total / SAMPLE_COUNT
        for (a, _), usable in zip(gaps, room):
            if offset <= usable:
                starts.append(a + offset)
                break
            offset -= usable
    return starts


def _slices(windows: list[tuple[float, float]], seconds: float, step: float = 60.0) -> list[tuple[float, float]]:
    """The whole recording in one-minute slices (read one at a time), leaving out those touching a window."""
    spans = [(start * step, min(seconds, (start + 1) * step)) for start in range(int(math.ceil(seconds / step)))]
    return [(a, b) for a, b in spans if not any(a < wb and b > wa for wa, wb in windows)]


Windows = Sequence[tuple[float, float]]


def verify(source: Source, *, windows: Windows | Callable[[WavFormat], Windows] = (), track: str = "BOTH",
           expected_seconds: float | None = None, tolerance_seconds: float = 1.0, full: bool = False,
           extra: Callable[[WavFormat], list[Check]] | None = None,
           may_be_silent: Windows | Callable[[WavFormat], Windows] | None = None) -> Verdict:
    """`windows` must be silent; `not-all-silent` looks for signal outside `may_be_silent` (default: the
    windows), which is wider when where the windows fall is known only within some uncertainty."""
    verdict = Verdict(size=source.size())
    checks = verdict.checks
    checks.append(Check("exists", verdict.size > 0, f"{verdict.size} bytes"))
    if verdict.size == 0:
        return verdict
    try:
        wav = parse_header(source.read(0, min(HEADER_BYTES, verdict.size)), verdict.size)
    except NotAWav as err:
        checks.append(Check("wav-header", False, str(err)))
        verdict.bytes_read = getattr(source, "bytes_read", 0)
        return verdict
    checks.append(Check("wav-header", True, f"RIFF/WAVE, data at byte {wav.data_offset}"))
    checks.append(Check("size", wav.data_size >= wav.declared_size,
                        f"{verdict.size} bytes, {wav.data_size} of the {wav.declared_size} data bytes the header declares"))
    checks.append(Check("pcm-16bit", wav.format_tag == 1 and wav.bits == 16, f"format {wav.format_tag}, {wav.bits} bits"))
    checks.append(Check("sample-rate", wav.rate == EXPECTED_RATE, f"{wav.rate} Hz (expected {EXPECTED_RATE})"))
    wanted = CHANNELS_FOR_TRACK.get(track.upper(), 2)
    checks.append(Check("channels", wav.channels == wanted, f"{wav.channels} (track {track} needs {wanted})"))
    if expected_seconds is not None:
        checks.append(Check("duration", abs(wav.seconds - expected_seconds) <= tolerance_seconds,
                            f"{wav.seconds:.3f} s (expected {expected_seconds:.3f} +/- {tolerance_seconds})"))
    if extra:
        checks.extend(extra(wav))
    if not (wav.format_tag == 1 and wav.bits == 16 and wav.channels in (1, 2)):
        verdict.bytes_read = getattr(source, "bytes_read", 0)
        return verdict
    windows = list(windows(wav) if callable(windows) else windows)
    for index, (a, b) in enumerate(windows):
        if b <= a or a < 0 or a >= wav.seconds:
            checks.append(Check(f"window-{index + 1}-silent", False, f"{a}-{b} s is not inside the recording"))
            continue
        levels = [_level(channel) for channel in _samples(source, wav, a, min(b, wav.seconds))]
        loud = [(c, p, r) for c, (p, r) in enumerate(levels) if p > SILENT_PEAK or r > SILENT_RMS]
        checks.append(Check(f"window-{index + 1}-silent", not loud,
                            f"{a:.3f}-{b:.3f} s: " + ", ".join(f"ch{c} peak {p} rms {r:.1f}" for c, (p, r) in enumerate(levels))))
    quiet = windows if may_be_silent is None else list(may_be_silent(wav) if callable(may_be_silent) else may_be_silent)
    spans = _slices(quiet, wav.seconds) if full else [(at, at + SAMPLE_SECONDS) for at in _outside(quiet, wav.seconds)]
    best = max([0.0] + [_level(ch)[1] for a, b in spans for ch in _samples(source, wav, a, b)])
    checks.append(Check("not-all-silent", best >= AUDIBLE_RMS,
                        f"loudest probe rms {best:.1f} over {len(spans)} {'slices' if full else 'probes'}"))
    verdict.bytes_read = getattr(source, "bytes_read", 0)
    return verdict
