"""Telephony simulator figures, measured in this run: how fast it renders recordings, and API overhead.

The ratio that compares across machines: render time per minute of stereo audio against the time to
write the same bytes with the `wave` module alone.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.figures import figure  # noqa: E402
from callrec.sim import audio  # noqa: E402
from callrec.sim.connect import ConnectTwin  # noqa: E402
from callrec.sim.core import Clock, Delivery, Faults  # noqa: E402


def bench_render() -> None:
    for minutes in (10, 60):
        seconds = minutes * 60.0
        began = time.perf_counter()
        customer, agent = audio.Channel("customer"), audio.Channel("agent")
        customer.join(0.0)
        agent.join(0.0)
        customer.overlay(30.0, audio.dtmf("4111111111111111"))
        left, right = customer.render(0.0, seconds), agent.render(0.0, seconds)
        audio.silence(left, 0.0, [(60.0, 120.0), (seconds - 120.0, seconds - 60.0)])
        audio.silence(right, 0.0, [(60.0, 120.0), (seconds - 120.0, seconds - 60.0)])
        data = audio.wav_bytes([left, right])
        rendered = time.perf_counter() - began
        began = time.perf_counter()
        audio.wav_bytes([left, right])
        write_only = time.perf_counter() - began
        print(
            f"sim: render {minutes:>3}-min stereo WAV (2 windows)   {rendered * 1000:8.1f} ms  "
            f"{len(data) / 1e6:6.1f} MB  ({rendered / write_only:.1f} x writing the bytes alone)"
        )
        figure(
            "simulator",
            f"render a {minutes}-min stereo WAV with 2 windows",
            round(rendered * 1000, 1),
            "ms",
            f"{rendered / write_only:.1f} x writing the bytes alone",
        )


def bench_connect_calls(n: int = 2000) -> None:
    twin = ConnectTwin(Clock(), Faults(), Delivery(lambda: None), throttling=False)
    twin.create_instance("bench", "bucket", instance_id="i")
    contact = twin.start_contact("i")
    twin.agent_joins(contact)
    ids = {"InstanceId": "i", "ContactId": contact, "InitialContactId": contact}
    twin.call("StartContactRecording", {**ids, "VoiceRecordingConfiguration": {"VoiceRecordingTrack": "ALL"}})
    began = time.perf_counter()
    for i in range(n):
        twin.call("SuspendContactRecording" if i % 2 == 0 else "ResumeContactRecording", dict(ids))
    per_call = (time.perf_counter() - began) / n
    print(f"sim: Connect suspend/resume in-process                 {per_call * 1e6:8.1f} us per call (n={n})")


if __name__ == "__main__":
    bench_render()
    bench_connect_calls()
