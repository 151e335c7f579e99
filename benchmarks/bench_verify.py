"""Recording checks, measured in this run: bytes read and time for stereo recordings of 10, 60 and 240
minutes with two 60 s suspended windows, sampled (the default) against a full read."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "layer" / "python")]

from benchmarks.figures import figure  # noqa: E402
from callrec.sim import audio  # noqa: E402
from callrec_shared.wavcheck import FileSource, verify  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for minutes in (10, 60, 240):
            seconds = minutes * 60.0
            windows = [(seconds * 0.25, seconds * 0.25 + 60), (seconds * 0.75, seconds * 0.75 + 60)]
            customer, agent = audio.Channel("customer"), audio.Channel("agent")
            customer.join(0.0)
            agent.join(0.0)
            left, right = customer.render(0.0, seconds), agent.render(0.0, seconds)
            audio.silence(left, 0.0, windows)
            audio.silence(right, 0.0, windows)
            path = Path(folder) / f"{minutes}.wav"
            path.write_bytes(audio.wav_bytes([left, right]))
            del left, right
            results = {}
            for mode in ("sampled", "full"):
                source = FileSource(str(path))
                began = time.perf_counter()
                verdict = verify(source, windows=windows, expected_seconds=seconds, full=mode == "full")
                results[mode] = (time.perf_counter() - began, source.bytes_read, verdict.passed)
            (ts, bs, ok_s), (tf, bf, ok_f) = results["sampled"], results["full"]
            size = path.stat().st_size
            print(f"verify: {minutes:>3}-min stereo, 2 windows: sampled {bs / 1e6:7.2f} MB in {ts * 1000:7.1f} ms "
                  f"({bs / size:.1%} of {size / 1e6:.0f} MB) | full {bf / 1e6:7.1f} MB in {tf * 1000:8.1f} ms | "
                  f"sampled/full time {ts / tf:.3f} | passed {ok_s and ok_f}")
            figure("verification", f"{minutes}-min stereo recording, 2 windows: bytes read", round(bs / 1e6, 2), "MB",
                   f"{bs / size:.1%} of {size / 1e6:.0f} MB (a full read)")
            figure("verification", f"{minutes}-min stereo recording, 2 windows: time", round(ts * 1000, 1), "ms",
                   f"{ts / tf:.3f} x a full read ({tf * 1000:.0f} ms)" + ("" if ok_s and ok_f else "; NOT PASSED"))
            path.unlink()


if __name__ == "__main__":
    main()
