"""A report a person would rather look at than read: one self-contained HTML page per call.

Each page has the call's timeline (consent, recording, each suspended window, the verdict) as a strip on
the session's clock, and the waveform of both channels of the recording with the suspended windows
shaded where VerifyRecording placed them (the same `place_windows`) and the spans where the caller
pressed keys marked, so a leak shows as sound inside a shaded band. Inline SVG, no scripts, no files
beside it. `make demo` writes one per call and an index.
"""

from __future__ import annotations

import html
import math
from array import array
from pathlib import Path
from typing import Any

from callrec_shared import clock, verification
from callrec_shared.wavcheck import parse_header

WIDTH, LANE = 960, 90
COLOURS = {"consent": "#7b61ff", "recording": "#2e7d32", "window": "#f9a825", "typed": "#c62828", "verdict": "#1565c0"}


def envelope(wav_bytes: bytes, columns: int = WIDTH) -> tuple[list[list[tuple[int, int]]], float]:
    """Per channel, (min, max) of the samples in each of `columns` slices; and the duration in seconds."""
    wav = parse_header(wav_bytes[:4096], len(wav_bytes))
    samples = array("h", wav_bytes[wav.data_offset : wav.data_offset + wav.data_size - wav.data_size % wav.frame_bytes])
    frames = len(samples) // wav.channels
    per = max(1, math.ceil(frames / columns))
    lanes = []
    for channel in range(wav.channels):
        values = samples[channel :: wav.channels]
        lanes.append([(min(values[i : i + per]), max(values[i : i + per])) for i in range(0, frames, per)])
    return lanes, wav.seconds


def _svg_waveform(
    lanes: list[list[tuple[int, int]]],
    seconds: float,
    windows: list[tuple[float, float]],
    typed: list[tuple[float, float]],
) -> str:
    height = LANE * len(lanes) + 24
    x = (lambda t: WIDTH * t / seconds) if seconds else (lambda t: 0.0)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="waveform">',
        f'<rect width="{WIDTH}" height="{height}" fill="#fafafa"/>',
    ]
    for a, b in windows:
        parts.append(
            f'<rect x="{x(a):.1f}" y="0" width="{max(1.0, x(b) - x(a)):.1f}" height="{height - 24}" '
            f'fill="{COLOURS["window"]}" opacity="0.3"><title>suspended {a:.2f}-{b:.2f} s (checked)</title></rect>'
        )
    for a, b in typed:
        parts.append(
            f'<rect x="{x(a):.1f}" y="{height - 24}" width="{max(1.0, x(b) - x(a)):.1f}" height="6" '
            f'fill="{COLOURS["typed"]}"><title>caller pressed keys {a:.2f}-{b:.2f} s</title></rect>'
        )
    names = ["customer / incoming (L)", "agent / outgoing (R)"] if len(lanes) == 2 else ["mono"]
    for index, lane in enumerate(lanes):
        middle, scale = index * LANE + LANE / 2, (LANE / 2 - 4) / 32768
        path = " ".join(
            f"M{i * WIDTH / len(lane):.1f},{middle - hi * scale:.1f}V{middle - lo * scale:.1f}"
            for i, (lo, hi) in enumerate(lane)
        )
        parts.append(f'<path d="{path}" stroke="#37474f" stroke-width="1" fill="none"/>')
        parts.append(f'<text x="4" y="{index * LANE + 14}" font-size="11" fill="#555">{names[index]}</text>')
    for tick in range(0, int(seconds) + 1, max(1, int(seconds // 10) or 1)):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 4}" font-size="10" fill="#777">{tick}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_timeline(session: dict) -> str:
    """Consent, recording and windows on the session's own clock (seconds from when it opened)."""
    opened = clock.parse(session["openedAt"])
    end_at = session.get("verifiedAt") or session.get("endedAt") or session.get("updatedAt")
    total = max(1.0, (clock.parse(end_at) - opened).total_seconds()) if end_at else 1.0
    x = lambda stamp: WIDTH * (clock.parse(stamp) - opened).total_seconds() / total  # noqa: E731
    rows: list[tuple[str, str, str | None, str]] = []
    answer = session.get("consentAnswer") or {}
    if answer.get("at"):
        rows.append(("consent", answer["at"], None, f"consent: {answer.get('answer')}"))
    if session.get("recordingStartedAt"):
        rows.append(("recording", session["recordingStartedAt"], session.get("endedAt"), "recording"))
    for number, window in enumerate(session.get("windows", []), 1):
        if window.get("suspendConfirmedAt"):
            rows.append(
                (
                    "window",
                    window["suspendConfirmedAt"],
                    window.get("resumeRequestedAt") or session.get("endedAt"),
                    f"window {number}",
                )
            )
    if session.get("verifiedAt"):
        rows.append(("verdict", session["verifiedAt"], None, f"verdict: {session.get('verification')}"))
    height = 22 * len(rows) + 8
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="timeline">']
    for row, (kind, start, end, label) in enumerate(rows):
        y, a = 4 + row * 22, x(start)
        width = max(3.0, x(end) - a) if end else 3.0
        parts.append(
            f'<rect x="{a:.1f}" y="{y}" width="{width:.1f}" height="16" fill="{COLOURS[kind]}" opacity="0.85"/>'
        )
        parts.append(
            f'<text x="{min(a + width + 4, WIDTH - 160):.1f}" y="{y + 12}" font-size="11">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def call_page(result: dict[str, Any], session: dict, wav_bytes: bytes | None, typed: list[tuple[float, float]]) -> str:
    """One call's page. `typed`: when the caller pressed keys, in seconds into the recording."""
    checks = session.get("verificationChecks") or []
    verdict = session.get("verification", "not verified (no recording)")
    rows = "".join(
        f'<tr class="{"ok" if c["ok"] else "bad"}"><td>{"PASS" if c["ok"] else "FAIL"}</td>'
        f"<td>{html.escape(c['name'])}</td><td>{html.escape(c['detail'])}</td></tr>"
        for c in checks
    )
    waveform = "<p>No recording object to draw.</p>"
    if wav_bytes:
        try:
            lanes, seconds = envelope(wav_bytes)
            placed = (
                verification.place_windows(
                    verification.expectation(session), seconds, verification.Config.from_environment()
                )[0]
                if session.get("endedAt")
                else []
            )
            waveform = _svg_waveform(lanes, seconds, placed, typed)
        except ValueError as err:  # e.g. a corrupted header: say so instead of drawing
            waveform = f"<p>The object is not a readable WAV: {html.escape(str(err))}.</p>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(result["scenario"])}</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;max-width:1000px}}td{{padding:2px 8px;vertical-align:top}}
.ok td:first-child{{color:#2e7d32}}.bad td:first-child{{color:#c62828;font-weight:bold}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}}</style></head><body>
<h1>{html.escape(result["scenario"])} <small>({html.escape(result["provider"])})</small></h1>
<p>{html.escape(result["description"])}</p>
<p><b>Session</b> {html.escape(str(result["session_id"]))}: {html.escape(str(result["session_status"]))} -
{html.escape(str(result["outcome_reason"]))}. <b>Verification:</b> {html.escape(str(verdict))}
{html.escape(" - " + session["verificationReason"]) if session.get("verificationReason") else ""}</p>
<div class="legend">{"".join(f'<span style="background:{c}"></span>{k}' for k, c in COLOURS.items())}</div>
<h2>Timeline</h2>{_svg_timeline(session) if session.get("openedAt") else ""}
<h2>Recording</h2><p>{html.escape(str(result.get("recording_location") or "none"))}</p>{waveform}
<h2>Checks</h2><table>{rows or "<tr><td>none</td></tr>"}</table>
<h2>Audit trail</h2><ol>{"".join(f"<li>{html.escape(a)}</li>" for a in result["audit"])}</ol>
</body></html>"""


def write(directory: Path, pages: dict[str, str]) -> Path:
    """Write each page and an index; returns the index's path."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, page in pages.items():
        (directory / f"{name}.html").write_text(page, encoding="utf-8")
    links = "".join(f'<li><a href="{html.escape(name)}.html">{html.escape(name)}</a></li>' for name in pages)
    index = directory / "index.html"
    index.write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><title>callrec demo</title></head>'
        f"<body><h1>callrec demo calls</h1><ul>{links}</ul></body></html>",
        encoding="utf-8",
    )
    return index
