"""One streaming pass over a recording: the SHA-256 of every byte, and on every channel the DTMF digits
(when and where, never which), the level of each suspended window, and the signal over the whole call.

Memory is bounded whatever the length: the object is read in chunks of about 1 MB; what is kept per
call is one small integer per 12.75 ms analysis frame and channel (about 560 KB per hour of stereo).

DTMF follows ITU-T Q.24's rules for a receiver: a digit is one row tone (697, 770, 852, 941 Hz) plus
one column tone (1209, 1336, 1477, 1633 Hz), the two carrying most of the frame's energy (so speech,
whose energy is spread over many harmonics, does not pass), within a twist of 8 dB, above a minimum
level, held for at least two consecutive frames (a 25.6 ms window every 12.75 ms: tones of 40 ms or
more are always caught, tones under about 25 ms never). The frame length (205 samples at 8 kHz) is the
classic Goertzel choice: a tone 3.5 % off its nominal frequency keeps under a quarter of its power, so
it fails the energy test. Which of the sixteen pairs was heard is used only to tell one held tone from
the next digit and is dropped before anything leaves this module: the results hold counts and times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

RATE = 8000
FRAME = 205  # samples per DTMF analysis frame (25.6 ms)
HOP = 102  # a frame every 12.75 ms: any 40 ms tone fully covers at least two frames (FRAME = 2 HOP + 1)
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
DOMINANCE = 0.70  # the row and column tones carry at least this share of the frame's energy
TWIST_DB = 8.0
MIN_TONE_RMS = 8.0  # about -72 dBFS: quieter than this is line noise, not a key press
GATE = (0.25, 1.8)  # the first-difference energy ratio a tone pair can have (see _tone_pairs), with margin
MIN_FRAMES = 2  # consecutive frames a tone pair must hold (>= 25.6 + 12.75 ms)
BRIDGE_FRAMES = 1  # a one-frame dropout inside a held tone does not split it into two digits
BLOCK_SECONDS = 0.5  # the unit of the activity measure
SHORTEST_JUDGED_SECONDS = 0.005  # a shorter last block is not judged: under a period of the highest voice
CHUNK_FRAMES = 4000 * 64  # sample frames read at a time (~1 MB of stereo)

_FREQUENCIES = np.array(ROWS + COLUMNS)
_n = np.arange(FRAME)
_BASIS = np.concatenate(
    [np.cos(2 * np.pi * np.outer(_n, _FREQUENCIES) / RATE), np.sin(2 * np.pi * np.outer(_n, _FREQUENCIES) / RATE)],
    axis=1,
).astype(np.float32)
_TWIST = 10 ** (TWIST_DB / 10)
NO_TONE = -1


@dataclass(frozen=True)
class Digit:
    """One key press heard: when it began and ended (seconds into the recording) and on which channel."""

    start: float
    end: float
    channel: int


@dataclass
class Level:
    peak: int = 0
    sum_squares: float = 0.0
    count: int = 0

    @property
    def rms(self) -> float:
        return float(np.sqrt(self.sum_squares / self.count)) if self.count else 0.0

    def add(self, samples: NDArray[Any]) -> None:
        if samples.size:
            self.peak = max(self.peak, int(np.max(np.abs(samples.astype(np.int32)))))
            self.sum_squares += float(np.dot(samples.astype(np.float64), samples.astype(np.float64)))
            self.count += samples.size


@dataclass
class ScanResult:
    sha256: str
    bytes_read: int
    digits: list[Digit] = field(default_factory=list)
    windows: list[list[Level]] = field(default_factory=list)  # per window, per channel
    loudest_block_rms: float = 0.0  # over the blocks outside every may-be-silent span
    active_seconds: float = 0.0  # blocks outside those spans with at least `audible_rms`
    blocks_judged: int = 0


def _frame_sums(values: NDArray[Any], count: int) -> NDArray[Any]:
    """The sum of `values` over each analysis frame: FRAME = 2 HOP + 1, so frame i is HOP-blocks i and i + 1
    and one sample more."""
    blocks = values[: (count + 1) * HOP].reshape(count + 1, HOP).sum(axis=1)
    return blocks[:-1] + blocks[1:] + values[np.arange(count) * HOP + 2 * HOP]


def _tone_pairs(x: NDArray[Any], squares: NDArray[Any]) -> NDArray[Any]:
    """Per analysis frame of one channel (samples `x` as float32, and their squares), the index (0-15) of the
    tone pair it holds, or NO_TONE.

    Only candidate frames get the Goertzel: loud enough, and with a first-difference energy ratio (the
    energy-weighted 4 sin^2(pi f / fs) of the frame's spectrum) that a row tone plus a column tone can
    give within the twist (about 0.37 to 1.41; the gate leaves room either side). Voiced speech, whose
    energy lies mostly below 600 Hz, falls under it; hiss and fricatives over it."""
    count = (x.size - FRAME) // HOP + 1
    if count <= 0:
        return np.empty(0, dtype=np.int8)
    energy = _frame_sums(squares, count)
    slope = _frame_sums(np.diff(x, prepend=x[:1]) ** 2, count)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = slope / energy
    candidates = np.flatnonzero((energy >= FRAME * MIN_TONE_RMS**2) & (ratio >= GATE[0]) & (ratio <= GATE[1]))
    pairs = np.full(count, NO_TONE, dtype=np.int8)
    if candidates.size == 0:
        return pairs
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[candidates * HOP]
    spectrum = frames @ _BASIS
    power = spectrum[:, :8] ** 2 + spectrum[:, 8:] ** 2
    share = 2.0 * power / (FRAME * energy[candidates, None])
    row, column = np.argmax(share[:, :4], axis=1), np.argmax(share[:, 4:], axis=1)
    picked = np.arange(candidates.size)
    row_share, column_share = share[picked, row], share[picked, 4 + column]
    tone = (
        (row_share + column_share >= DOMINANCE)
        & (row_share <= column_share * _TWIST)
        & (column_share <= row_share * _TWIST)
    )
    pairs[candidates[tone]] = (row * 4 + column)[tone]
    return pairs


def digits_from_frames(pairs: NDArray[Any], channel: int) -> list[Digit]:
    """Key presses from the per-frame tone pairs: runs of one pair held for MIN_FRAMES or more, a dropout of
    up to BRIDGE_FRAMES inside a run bridged."""
    digits: list[Digit] = []
    current, first, last = NO_TONE, 0, 0
    begin: int
    changes = np.flatnonzero(np.diff(pairs, prepend=NO_TONE - 1))  # where each run of equal values begins
    bounds = np.append(changes, pairs.size)
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        value = int(pairs[begin])
        if value == NO_TONE:
            continue
        if value == current and begin - last - 1 <= BRIDGE_FRAMES:
            last = end - 1
            continue
        if current != NO_TONE and last - first + 1 >= MIN_FRAMES:
            digits.append(Digit(float(first * HOP / RATE), float((last * HOP + FRAME) / RATE), channel))
        current, first, last = value, begin, end - 1
    if current != NO_TONE and last - first + 1 >= MIN_FRAMES:
        digits.append(Digit(float(first * HOP / RATE), float((last * HOP + FRAME) / RATE), channel))
    return sorted(digits, key=lambda d: d.start)


class _Analyser:
    """The per-channel analysis, fed the audio bytes in order, in pieces of whole activity blocks."""

    def __init__(
        self,
        channels: int,
        windows: Sequence[tuple[float, float]],
        may_be_silent: Sequence[tuple[float, float]],
        audible_rms: float,
        result: ScanResult,
    ):
        self.channels, self.audible_rms, self.result = channels, audible_rms, result
        self.frame_bytes = 2 * channels
        self.block = int(BLOCK_SECONDS * RATE)
        self.windows = [(int(a * RATE), int(np.ceil(b * RATE))) for a, b in windows]
        self.quiet = [(int(a * RATE) - 1, int(np.ceil(b * RATE)) + 1) for a, b in may_be_silent]
        result.windows = [[Level() for _ in range(channels)] for _ in windows]
        self.pairs: list[list[NDArray[Any]]] = [[] for _ in range(channels)]
        self.carry: NDArray[Any] = np.empty(
            (channels, 0), dtype=np.float32
        )  # samples of the frame not yet analysed, per channel
        self.pending = b""  # bytes short of a whole piece
        self.position = 0  # sample frames analysed

    def feed(self, data: bytes | memoryview, last: bool = False) -> None:
        piece = self.block * self.frame_bytes * 16
        view, at = memoryview(self.pending + bytes(data)) if self.pending else memoryview(data), 0
        while len(view) - at >= piece or (last and len(view) - at >= self.frame_bytes):
            size = min(len(view) - at, piece)
            size -= size % self.frame_bytes
            self._analyse(np.frombuffer(view[at : at + size], dtype="<i2").reshape(-1, self.channels))
            at += size
        self.pending = bytes(view[at:])

    def _analyse(self, samples: NDArray[Any]) -> None:
        start, end = self.position, self.position + samples.shape[0]
        self.position = end
        for index, (a, b) in enumerate(self.windows):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                for c in range(self.channels):
                    self.result.windows[index][c].add(samples[lo - start : hi - start, c])
        x = np.ascontiguousarray(samples.T, dtype=np.float32)  # one conversion, shared by activity and DTMF
        squares = x * x
        self._activity(squares, start)
        joined = np.concatenate([self.carry, x], axis=1)
        joined_squares = np.concatenate([self.carry * self.carry, squares], axis=1)
        consumed = joined.shape[1]
        for c in range(self.channels):
            frames = _tone_pairs(joined[c], joined_squares[c])
            self.pairs[c].append(frames)
            consumed = frames.size * HOP
        self.carry = joined[:, consumed:]

    def _activity(self, squares: NDArray[Any], start: int) -> None:
        """Per block (pieces start on a block boundary; the last block may be short), the loudest channel's
        RMS, over the blocks that touch no may-be-silent span. A last block shorter than SHORTEST_JUDGED_SECONDS is
        not judged: the one or two samples of a recording stopped as it began (a caller who hung up then) can
        be the zero crossing of a voice."""
        length = squares.shape[1]
        whole = length // self.block
        means = [squares[:, : whole * self.block].reshape(self.channels, whole, self.block).mean(axis=2)]
        if length % self.block:
            means.append(squares[:, whole * self.block :].mean(axis=1, keepdims=True))
        rms = np.sqrt(np.concatenate(means, axis=1)).max(axis=0)
        begins = start + np.arange(rms.size) * self.block
        ends = np.minimum(begins + self.block, start + length)
        judged = ends - begins >= int(SHORTEST_JUDGED_SECONDS * RATE)
        for quiet_start, quiet_end in self.quiet:
            judged &= ~((begins < quiet_end) & (ends > quiet_start))
        if judged.any():
            self.result.blocks_judged += int(judged.sum())
            self.result.loudest_block_rms = max(self.result.loudest_block_rms, float(rms[judged].max()))
            self.result.active_seconds += float(((ends - begins)[judged & (rms >= self.audible_rms)]).sum()) / RATE

    def finish(self) -> None:
        self.feed(b"", last=True)
        for c in range(self.channels):
            if self.pairs[c]:
                self.result.digits.extend(digits_from_frames(np.concatenate(self.pairs[c]), c))
        self.result.digits.sort(key=lambda d: (d.start, d.channel))


def scan(
    read: Callable[[int, int], bytes],
    size: int,
    *,
    prefix: bytes = b"",
    data_offset: int = 0,
    data_size: int = 0,
    channels: int = 0,
    windows: Sequence[tuple[float, float]] = (),
    may_be_silent: Sequence[tuple[float, float]] = (),
    audible_rms: float = 100.0,
) -> ScanResult:
    """Read [len(prefix), size) with `read` (the prefix was read already), hash all of it, and when
    `channels` is 1 or 2 analyse the 16-bit samples of [data_offset, data_offset + data_size).
    `windows` (seconds) are measured; blocks touching `may_be_silent` are left out of the activity."""
    result = ScanResult(sha256="", bytes_read=0)
    digest = hashlib.sha256(prefix)
    analyser = None
    audio_from = audio_to = 0
    if channels in (1, 2):
        audio_from = data_offset
        audio_to = data_offset + data_size - data_size % (2 * channels)
        analyser = _Analyser(channels, windows, may_be_silent, audible_rms, result)

    def take(data: bytes, offset: int) -> None:
        if analyser is not None:
            lo, hi = max(offset, audio_from), min(offset + len(data), audio_to)
            if hi > lo:
                analyser.feed(memoryview(data)[lo - offset : hi - offset])

    take(prefix, 0)
    at = len(prefix)
    while at < size:
        data = read(at, min(size, at + CHUNK_FRAMES * 4))
        if not data:
            break
        result.bytes_read += len(data)
        digest.update(data)
        take(data, at)
        at += len(data)
    if analyser is not None:
        analyser.finish()
    result.sha256 = digest.hexdigest()
    return result


def runs(digits: Sequence[Digit], gap_seconds: float) -> list[list[Digit]]:
    """Key presses grouped into runs per channel: the next press begins within `gap_seconds` of the last."""
    grouped: list[list[Digit]] = []
    for channel in sorted({d.channel for d in digits}):
        current: list[Digit] = []
        for digit in (d for d in digits if d.channel == channel):
            if current and digit.start - current[-1].end > gap_seconds:
                grouped.append(current)
                current = []
            current.append(digit)
        if current:
            grouped.append(current)
    return sorted(grouped, key=lambda run: run[0].start)
