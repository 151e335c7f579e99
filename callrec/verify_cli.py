"""`callrec verify PATH_OR_S3_URI --suspended START-END ...`: check one recording an engineer downloaded
(or one in S3), with the same checks VerifyRecording uses, card tones included. Exit 0 on pass, 1 on fail or
unverified, 2 if unreadable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_LAYER = Path(__file__).resolve().parent.parent / "layer" / "python"
if str(_LAYER) not in sys.path:  # the checks live in the shared layer, as the Lambda uses them
    sys.path.insert(0, str(_LAYER))

from callrec_shared.wavcheck import CHANNELS_FOR_TRACK, DTMF_RUN_LIMIT, FileSource, S3Source, verify  # noqa: E402


def _window(text: str) -> tuple[float, float]:
    try:
        start, end = (float(part) for part in text.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a window is START-END in seconds, e.g. 12.5-40") from None
    if end <= start or start < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the end must come after the start")
    return start, end


def add_parser(commands: argparse._SubParsersAction) -> None:
    verify_parser = commands.add_parser("verify", help="check one recording: format, duration, silent windows")
    verify_parser.add_argument("location", help="a WAV file, or s3://bucket/key")
    verify_parser.add_argument(
        "--suspended",
        type=_window,
        action="append",
        default=[],
        metavar="START-END",
        help="a span (seconds from the start) that must be silent; repeatable",
    )
    verify_parser.add_argument("--track", default="BOTH", type=str.upper, choices=sorted(CHANNELS_FOR_TRACK))
    verify_parser.add_argument("--duration", type=float, help="the expected duration in seconds")
    verify_parser.add_argument("--tolerance", type=float, default=1.0, help="allowed duration difference (s)")
    verify_parser.add_argument(
        "--dtmf-run-limit",
        type=int,
        default=DTMF_RUN_LIMIT,
        metavar="N",
        help=f"fail on N or more key presses in a run outside the windows (default {DTMF_RUN_LIMIT})",
    )
    verify_parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.location.startswith("s3://"):
        import boto3

        bucket, _, key = args.location[5:].partition("/")
        source = S3Source(bucket, key, boto3.client("s3"))
    else:
        source = FileSource(args.location)
    try:
        verdict = verify(
            source,
            windows=args.suspended,
            track=args.track,
            expected_seconds=args.duration,
            tolerance_seconds=args.tolerance,
            dtmf_run_limit=args.dtmf_run_limit,
        )
    except Exception as err:  # noqa: BLE001 - an unreadable location is its own exit code
        print(f"callrec verify: cannot read {args.location}: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        for check in verdict.checks:
            print(
                f"{'PASS' if check.ok else 'UNVERIFIED' if check.unverified else 'FAIL'}  {check.name:<20} {check.detail}"
            )
        print(f"{verdict.status} ({verdict.bytes_read} of {verdict.size} bytes read, sha256 {verdict.sha256})")
    return 0 if verdict.passed else 1
