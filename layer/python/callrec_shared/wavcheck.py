"""Check a call recording: header, format, duration, silence where recording was suspended, card tones
(DTMF) anywhere else, and signal over the call. Each check is a named result with its detail; a check
that could not be made is `unverified`, never passed.

The header is found by walking the RIFF chunks with ranged reads (any size and order of chunks,
WAVE_FORMAT_EXTENSIBLE PCM, streaming data sizes). Then one streaming pass (callrec_shared.scan)
reads the object once, in bounded memory: its SHA-256, the level of every suspended window, the key
presses heard on every channel, and the loudest half second outside the windows. Silence is judged by
peak and RMS thresholds, so dither and line noise below them pass while speech or DTMF leaking into a
window fails.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from callrec_shared import scan

HEADER_BYTES = 4096  # the first read; chunks beyond it are reached with further ranged reads
PREFIX_LIMIT = 1 << 20  # the header walk keeps at most this much of the object's start in memory
MAX_CHUNKS = 64  # a RIFF file with more chunks before its data is not a recording
EXPECTED_RATE = 8000
CHANNELS_FOR_TRACK = {"BOTH": 2, "ALL": 2, "FROM_AGENT": 2, "TO_AGENT": 2, "INCOMING": 1, "OUTGOING": 1}
SILENT_PEAK = 64  # 16-bit samples: about -54 dBFS, above dither and line hiss, far below speech or DTMF
SILENT_RMS = 16.0
AUDIBLE_RMS = 100.0  # some half second outside the windows must carry this much signal
DTMF_RUN_LIMIT = 4  # this many key presses in a run outside every window fail the recording (card digits)
DTMF_RUN_GAP_SECONDS = 3.0  # presses further apart than this start a new run
WAVE_FORMAT_PCM, WAVE_FORMAT_EXTENSIBLE = 1, 0xFFFE
_PCM_SUBFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_PCM after its first 2 bytes
STREAMING_SIZES = (0, 0xFFFFFFFF)  # a data chunk written while streaming: its size is the rest of the object


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
    client: Any  # a boto3 S3 client
    bytes_read: int = 0

    _head: dict[str, Any] | None = None

    def head(self) -> dict[str, Any]:
        """The object's HEAD (size, content type, encryption, metadata), asked once."""
        if self._head is None:
            self._head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        return self._head

    def size(self) -> int:
        return int(self.head()["ContentLength"])

    def read(self, start: int, end: int) -> bytes:
        """[start, end) of the very version the HEAD described (a later overwrite cannot slip in mid-read)."""
        if end <= start:
            return b""
        pinned = (
            {"VersionId": self.head()["VersionId"]}
            if self.head().get("VersionId")
            else {"IfMatch": self.head()["ETag"]}
        )
        body: bytes = self.client.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}", **pinned
        )["Body"].read()
        self.bytes_read += len(body)
        return body


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    unverified: bool = False  # not ok because it could not be checked (never counted as passed)


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    bytes_read: int = 0
    size: int = 0
    sha256: str = ""
    dtmf: dict[str, Any] = field(default_factory=dict)  # counts and times of key presses heard, never the digits
    format: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    @property
    def status(self) -> str:
        """VERIFIED (every check passed), FAILED (some check failed) or UNVERIFIED (some could not be made)."""
        if self.passed:
            return "VERIFIED"
        return "FAILED" if any(not c.ok and not c.unverified for c in self.checks) else "UNVERIFIED"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": self.status,
            "failed": self.failed,
            "bytesRead": self.bytes_read,
            "size": self.size,
            "sha256": self.sha256,
            "dtmf": self.dtmf,
            "format": self.format,
            "checks": [
                {"name": c.name, "ok": c.ok, "detail": c.detail, **({"unverified": True} if c.unverified else {})}
                for c in self.checks
            ],
        }


@dataclass(frozen=True)
class WavFormat:
    format_tag: int
    channels: int
    rate: int
    bits: int
    data_offset: int
    data_size: int  # what the object holds
    declared_size: int = 0  # what the data chunk's header says it holds
    subformat: int | None = None  # WAVE_FORMAT_EXTENSIBLE: the format code of its SubFormat GUID

    @property
    def pcm(self) -> bool:
        return self.format_tag == WAVE_FORMAT_PCM or (
            self.format_tag == WAVE_FORMAT_EXTENSIBLE and self.subformat == WAVE_FORMAT_PCM
        )

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.bits // 8

    @property
    def seconds(self) -> float:
        return self.data_size // self.frame_bytes / self.rate if self.rate and self.frame_bytes else 0.0


class NotAWav(ValueError):
    """The bytes are not a RIFF/WAVE file with fmt and data chunks."""


class _Reader:
    """The object's first bytes, read once and kept: HEADER_BYTES, extended (contiguously) when the header
    walk needs more. The streaming pass goes on from where it ends, so no byte is read twice."""

    def __init__(self, source: Source, size: int):
        self.source, self.size = source, size
        self.prefix = source.read(0, min(HEADER_BYTES, size))

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if end > len(self.prefix):
            if end > PREFIX_LIMIT:  # far in (huge chunks before the data): read the range, keep nothing
                return (
                    self.source.read(start, end)
                    if start >= len(self.prefix)
                    else self.prefix[start:] + self.source.read(len(self.prefix), end)
                )
            self.prefix += self.source.read(len(self.prefix), end)
        return self.prefix[start:end]


def parse_header(head: bytes | Callable[[int, int], bytes], size: int) -> WavFormat:
    """Walk the RIFF chunks, of any size and in any order, to `fmt ` and `data`. `head` is the object's bytes
    (or their first part) or a function that reads [start, end)."""
    read = head if callable(head) else (lambda a, b: head[a:b])
    riff = read(0, 12)
    if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise NotAWav("no RIFF/WAVE header")
    offset, fmt = 12, None
    for _ in range(MAX_CHUNKS):
        header = read(offset, offset + 8)
        if len(header) < 8:
            break
        chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk == b"fmt ":
            if length < 16:
                raise NotAWav("fmt chunk too short")
            body = read(offset + 8, offset + 8 + min(length, 40))
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            subformat = None
            if tag == WAVE_FORMAT_EXTENSIBLE:
                if len(body) < 40:
                    raise NotAWav("WAVE_FORMAT_EXTENSIBLE fmt chunk too short")
                guid = body[24:40]
                subformat = struct.unpack("<H", guid[:2])[0] if guid[2:] == _PCM_SUBFORMAT_TAIL else -1
            fmt = (tag, channels, rate, bits, subformat)
        elif chunk == b"data":
            if fmt is None:
                raise NotAWav("data chunk before fmt chunk")
            data_offset = offset + 8
            held = max(0, size - data_offset)
            declared = held if length in STREAMING_SIZES else length
            tag, channels, rate, bits, subformat = fmt
            return WavFormat(
                tag,
                channels,
                rate,
                bits,
                data_offset=data_offset,
                data_size=min(declared, held),
                declared_size=declared,
                subformat=subformat,
            )
        offset += 8 + length + (length & 1)
    raise NotAWav("no data chunk" if fmt else "no fmt chunk")


Windows = Sequence[tuple[float, float]]


def _dtmf_check(
    digits: list[scan.Digit], placed: Windows, run_limit: int, gap_seconds: float
) -> tuple[Check, dict[str, Any]]:
    """Runs of `run_limit` or more key presses outside every (placed) window: card digits in the recording.
    A press inside a placed window fails that window's silence instead."""
    outside = [d for d in digits if not any(a <= d.start and d.end <= b for a, b in placed)]
    runs = scan.runs(outside, gap_seconds)
    long_runs = [run for run in runs if len(run) >= run_limit]
    summary = {
        "digits": len(digits),
        "outsideWindows": len(outside),
        "runLimit": run_limit,
        "runs": [
            {
                "start": round(run[0].start, 2),
                "end": round(run[-1].end, 2),
                "digits": len(run),
                "channel": run[0].channel,
            }
            for run in runs
        ],
    }
    where = "; ".join(
        f"{len(run)} at {run[0].start:.2f}-{run[-1].end:.2f} s on ch{run[0].channel}" for run in long_runs
    )
    detail = (
        f"{len(long_runs)} run(s) of {run_limit} or more key presses outside every window: {where}"
        if long_runs
        else f"{len(digits)} key press(es) heard, {len(outside)} outside the windows, none in a run of {run_limit} or more"
    )
    return Check("dtmf-outside-windows", not long_runs, detail), summary


def verify(
    source: Source,
    *,
    windows: Windows | Callable[[WavFormat], Windows] = (),
    track: str = "BOTH",
    expected_seconds: float | None = None,
    tolerance_seconds: float = 1.0,
    extra: Callable[[WavFormat], list[Check]] | None = None,
    may_be_silent: Windows | Callable[[WavFormat], Windows] | None = None,
    dtmf_run_limit: int = DTMF_RUN_LIMIT,
) -> Verdict:
    """Every check on one recording. The header is read with ranged reads; then one streaming pass reads the
    object once (hash, DTMF, window levels, activity). `windows` must be silent; `not-all-silent` looks for
    signal outside `may_be_silent` (default: the windows), which is wider when where the windows fall is known
    only within some uncertainty."""
    verdict = Verdict(size=source.size())
    checks = verdict.checks
    checks.append(Check("exists", verdict.size > 0, f"{verdict.size} bytes"))
    if verdict.size == 0:
        verdict.sha256 = scan.scan(source.read, 0).sha256
        return verdict
    reader = _Reader(source, verdict.size)
    try:
        wav = parse_header(reader.read, verdict.size)
    except NotAWav as err:
        checks.append(Check("wav-header", False, str(err)))
        result = scan.scan(source.read, verdict.size, prefix=reader.prefix)
        verdict.sha256, verdict.bytes_read = result.sha256, getattr(source, "bytes_read", 0)
        return verdict
    checks.append(Check("wav-header", True, f"RIFF/WAVE, data at byte {wav.data_offset}"))
    verdict.format = {
        "formatTag": wav.format_tag,
        "channels": wav.channels,
        "sampleRate": wav.rate,
        "bitsPerSample": wav.bits,
        "seconds": round(wav.seconds, 3),
    }
    checks.append(
        Check(
            "size",
            wav.data_size >= wav.declared_size,
            f"{verdict.size} bytes, {wav.data_size} of the {wav.declared_size} data bytes the header declares",
        )
    )
    format_name = f"format {wav.format_tag}" + (f" (subformat {wav.subformat})" if wav.subformat is not None else "")
    checks.append(Check("pcm-16bit", wav.pcm and wav.bits == 16, f"{format_name}, {wav.bits} bits"))
    checks.append(Check("sample-rate", wav.rate == EXPECTED_RATE, f"{wav.rate} Hz (expected {EXPECTED_RATE})"))
    wanted = CHANNELS_FOR_TRACK.get(track.upper(), 2)
    checks.append(Check("channels", wav.channels == wanted, f"{wav.channels} (track {track} needs {wanted})"))
    if expected_seconds is not None:
        checks.append(
            Check(
                "duration",
                abs(wav.seconds - expected_seconds) <= tolerance_seconds,
                f"{wav.seconds:.3f} s (expected {expected_seconds:.3f} +/- {tolerance_seconds})",
            )
        )
    if extra:
        checks.extend(extra(wav))
    readable = wav.pcm and wav.bits == 16 and wav.channels in (1, 2) and wav.rate == EXPECTED_RATE
    placed = list(windows(wav) if callable(windows) else windows) if readable else []
    quiet = placed if may_be_silent is None else list(may_be_silent(wav) if callable(may_be_silent) else may_be_silent)
    inside = [(a, min(b, wav.seconds)) for a, b in placed if a >= 0 and b > a and a < wav.seconds]
    result = scan.scan(
        reader.read,
        verdict.size,
        prefix=reader.prefix,
        data_offset=wav.data_offset,
        data_size=wav.data_size,
        channels=wav.channels if readable else 0,
        windows=inside,
        may_be_silent=quiet if readable else (),
        audible_rms=AUDIBLE_RMS,
    )
    verdict.sha256, verdict.bytes_read = result.sha256, getattr(source, "bytes_read", 0)
    if not readable:
        checks.append(
            Check(
                "audio",
                False,
                "not 16-bit PCM at 8 kHz in one or two channels: the audio cannot be "
                "scanned for silence, key presses or signal",
                unverified=True,
            )
        )
        return verdict
    levels = iter(result.windows)
    for index, (a, b) in enumerate(placed):
        if b <= a or a < 0 or a >= wav.seconds:
            checks.append(Check(f"window-{index + 1}-silent", False, f"{a:.3f}-{b:.3f} s is not inside the recording"))
            continue
        channel_levels = [(level.peak, level.rms) for level in next(levels)]
        loud = [(p, r) for p, r in channel_levels if p > SILENT_PEAK or r > SILENT_RMS]
        checks.append(
            Check(
                f"window-{index + 1}-silent",
                not loud,
                f"{a:.3f}-{min(b, wav.seconds):.3f} s: "
                + ", ".join(f"ch{c} peak {p} rms {r:.1f}" for c, (p, r) in enumerate(channel_levels)),
            )
        )
    if result.blocks_judged == 0:
        checks.append(
            Check(
                "not-all-silent",
                False,
                "no part of the recording lies surely outside the suspended windows, so its signal cannot be judged",
                unverified=True,
            )
        )
    else:
        checks.append(
            Check(
                "not-all-silent",
                result.loudest_block_rms >= AUDIBLE_RMS,
                f"{result.active_seconds:.1f} s with signal; loudest half second rms "
                f"{result.loudest_block_rms:.1f} over {result.blocks_judged} judged",
            )
        )
    dtmf_check, verdict.dtmf = _dtmf_check(result.digits, inside, dtmf_run_limit, DTMF_RUN_GAP_SECONDS)
    checks.append(dtmf_check)
    return verdict
