"""Recording checks, measured in this run.

- The full check of stereo recordings of 10, 60 and 240 minutes with two 60 s suspended windows (header
  by ranged reads, then one streaming pass: SHA-256, DTMF on both channels, window levels, activity),
  against just reading and hashing the same bytes; real-time factor; peak memory of the check
  (tracemalloc: Python's and numpy's allocations).
- DTMF detection: a 16-digit run typed into a pause of real speech (espeak-ng, when installed: `make
  speech`; otherwise the simulator's speech-like voice) at 0 dB and -30 dB against the speech's level;
  and false key presses over 60 minutes of speech with no tones.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]

from benchmarks.figures import figure  # noqa: E402
from callrec.sim import audio  # noqa: E402
from callrec_shared import scan  # noqa: E402
from callrec_shared.wavcheck import FileSource, verify  # noqa: E402

CARD = "4111111111111111"


def _read_and_hash(path: Path) -> float:
    began = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(scan.CHUNK_FRAMES * 4), b""):
            digest.update(piece)
    return time.perf_counter() - began


def full_check(folder: Path) -> None:
    for minutes in (10, 60, 240):
        seconds = minutes * 60.0
        windows = [(seconds * 0.25, seconds * 0.25 + 60), (seconds * 0.75, seconds * 0.75 + 60)]
        customer, agent = audio.Channel("customer"), audio.Channel("agent")
        customer.join(0.0)
        agent.join(0.0)
        left, right = customer.render(0.0, seconds), agent.render(0.0, seconds)
        audio.silence(left, 0.0, windows)
        audio.silence(right, 0.0, windows)
        path = folder / f"{minutes}.wav"
        path.write_bytes(audio.wav_bytes([left, right]))
        del left, right
        hashed = min(_read_and_hash(path) for _ in range(2))
        tracemalloc.start()
        began = time.perf_counter()
        verdict = verify(FileSource(str(path)), windows=windows, expected_seconds=seconds)
        took = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        size = path.stat().st_size
        print(
            f"verify: {minutes:>3}-min stereo ({size / 1e6:.0f} MB), 2 windows: full check {took:6.2f} s = "
            f"{took / hashed:.2f} x read+hash ({hashed:.2f} s), {seconds / took:,.0f} x real time, peak memory "
            f"{peak / 1e6:.1f} MB, status {verdict.status}"
        )
        figure(
            "verification",
            f"{minutes}-min stereo recording: full check (hash, DTMF, windows, activity)",
            round(took, 2),
            "s",
            f"{took / hashed:.2f} x reading and hashing it ({hashed:.2f} s)"
            + ("" if verdict.passed else "; NOT PASSED"),
        )
        figure("verification", f"{minutes}-min stereo recording: speed", round(seconds / took), "x real time")
        figure(
            "verification",
            f"{minutes}-min stereo recording: peak memory of the check",
            round(peak / 1e6, 1),
            "MB",
            f"{peak / size:.1%} of the recording's {size / 1e6:.0f} MB",
        )
        path.unlink()


def speech(folder: Path, seconds: float) -> tuple[np.ndarray, str]:
    """`seconds` of speech at 8 kHz: espeak-ng reading varied sentences, or the twin's voice without it."""
    if shutil.which("espeak-ng"):
        text = (
            "Thank you for calling. Your account number ends in four one one one. I can help you with that "
            "payment today. Could you please confirm your name and the billing address on the card? "
            "One moment while I look up the last six transactions, zero, nine, eight, seven. "
        ) * 4
        pieces = []
        for voice, speed in (("en-us", 150), ("en-gb", 175), ("en-us+f3", 165), ("en-us+m3", 140)):
            raw = folder / f"{voice}.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True, capture_output=True
            )
            wav = scan_wav(raw.read_bytes())
            pieces.append(wav[:: max(1, round(22050 / 8000))] if len(wav) else wav)  # espeak-ng speaks at 22.05 kHz
        one = np.concatenate(pieces).astype(np.float64)
        one = one / (np.sqrt(np.mean(one * one)) or 1) * 3000  # about -20 dBFS
        kind = "espeak-ng speech"
    else:
        one = np.array(audio.voice("customer", audio.samples(60.0)), dtype=np.float64)
        kind = "the simulator's voice (espeak-ng not installed: make speech)"
    whole = np.resize(one, int(seconds * audio.SAMPLE_RATE))
    return np.clip(whole, -32768, 32767).astype(np.int16), kind


def scan_wav(data: bytes) -> np.ndarray:
    """Mono 16-bit samples of a WAV file (espeak-ng's output)."""
    import io
    import wave

    with wave.open(io.BytesIO(data)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        if wav.getframerate() != 22050:
            raise ValueError(f"espeak-ng spoke at {wav.getframerate()} Hz")
    # 22050 -> 8000 Hz: low-pass by a moving average, then resample by interpolation
    smooth = np.convolve(frames.astype(np.float64), np.ones(3) / 3, mode="same")
    at = np.arange(0, len(smooth) - 1, 22050 / 8000)
    return np.interp(at, np.arange(len(smooth)), smooth)


def _digits(samples: np.ndarray) -> int:
    data = samples.astype("<i2").tobytes()
    return len(scan.scan(lambda a, b: data[a:b], len(data), data_size=len(data), channels=1).digits)


def detection(folder: Path) -> None:
    talk, kind = speech(folder, 60.0)
    level = float(np.sqrt(np.mean(talk.astype(np.float64) ** 2)))
    tones = np.array(audio.dtmf(CARD), dtype=np.float64)
    tone_level = float(np.sqrt(np.mean(tones[tones != 0] ** 2)))
    rng = np.random.default_rng(7)
    for db in (0, -30):
        call = talk.astype(np.float64).copy()
        start = 20 * audio.SAMPLE_RATE
        call[start : start + len(tones) + 8000] = rng.normal(0, 2.0, len(tones) + 8000)  # a pause with line noise
        call[start + 4000 : start + 4000 + len(tones)] += tones / tone_level * level * 10 ** (db / 20)
        found = _digits(np.clip(call, -32768, 32767).astype(np.int16))
        print(f"dtmf: 16 digits typed at {db:+d} dB against {kind} (rms {level:.0f}): {found} key presses found")
        figure(
            "verification", f"DTMF: a 16-digit run at {db:+d} dB against the speech level", found, "of 16 found", kind
        )
    hour, kind = speech(folder, 3600.0)
    began = time.perf_counter()
    false = _digits(hour)
    took = time.perf_counter() - began
    print(f"dtmf: 60 minutes of {kind} with no tones: {false} false key presses ({took:.2f} s)")
    figure("verification", "DTMF: false key presses over 60 minutes of speech", false, "", kind)


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        full_check(folder)
        detection(folder)


if __name__ == "__main__":
    main()
