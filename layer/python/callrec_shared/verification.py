"""What VerifyRecording checks about one session's recording, read from the session record and S3.

- Where it lands: Chime names the object in `CallRecordingDestination` (kept on the session); Connect
  names it only in the contact record, so it is found by its documented layout under the instance's
  prefix: `<prefix>/YYYY/MM/DD/<contactId>_<YYYYMMDDTHH:MM>_UTC.wav`.
- Where the suspended windows fall in it: the session's times and the recording share one clock.
  A window is checked from the provider's confirmation of the suspension to the request to resume
  (the caller types only in between), narrowed by a guard at each end for clock and delivery jitter.
  The origin is the recording's start; a Connect voice recording started before the agent joined
  begins at the join (which the workflow does not see), so when a Connect recording is shorter than the
  session's span, it is placed by its end instead (both providers end it at the stop or hang-up).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from callrec_shared import clock
from callrec_shared.wavcheck import Check, S3Source, WavFormat, verify

CONTENT_TYPES = ("audio/wav", "audio/x-wav", "audio/wave")
# RecordingSession's outcome reason when its stop call failed (statemachines/recording_session.asl.json):
# the recording then goes on until the call ends, later than the session's end.
STOP_FAILED = "stop failed"
CHIME_METADATA = ("transaction-id", "call-id", "recording-duration", "recording-audio-file-format")


@dataclass(frozen=True)
class Config:
    bucket: str  # the recording bucket (Connect's instance stores there too)
    kms_key_arn: str  # "" to accept any SSE-KMS key
    connect_prefix: str  # the Connect instance's call-recording prefix, e.g. connect/<alias>/CallRecordings
    tolerance_seconds: float  # duration against the session's timeline
    guard_seconds: float  # each window is checked this far inside its recorded times

    @staticmethod
    def from_environment() -> "Config":
        return Config(
            bucket=os.environ.get("RECORDING_BUCKET", ""),
            kms_key_arn=os.environ.get("RECORDING_KEY_ARN", ""),
            connect_prefix=os.environ.get("CONNECT_RECORDING_PREFIX", "").strip("/"),
            tolerance_seconds=float(os.environ.get("VERIFY_TOLERANCE_SECONDS", "3")),
            guard_seconds=float(os.environ.get("VERIFY_GUARD_SECONDS", "0.25")),
        )


@dataclass(frozen=True)
class Expectation:
    """What the session says the recording must be."""

    session_id: str
    provider: str
    call: dict
    track: str
    started: datetime
    ended: datetime
    location: str | None  # Chime: bucket/key; Connect: None (found by layout)
    windows: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    ends_with_call: bool = False  # the stop failed: the recording runs on to the call's end
    start_requested: datetime | None = None  # when the workflow asked the provider to start recording
    end_requested: datetime | None = None  # when an entry point first asked for the end (stop or hang-up)

    # The provider acted between the workflow's request and the workflow's record of it: the recording began
    # in [earliest_start, started] and ended in [earliest_end, ended]. On a busy stack these are seconds apart.
    @property
    def earliest_start(self) -> datetime:
        return min(self.start_requested, self.started) if self.start_requested else self.started

    @property
    def earliest_end(self) -> datetime:
        return min(self.end_requested, self.ended) if self.end_requested else self.ended

    @property
    def span_seconds(self) -> float:
        """The longest the recording can be."""
        return (self.ended - self.earliest_start).total_seconds()

    @property
    def shortest_span_seconds(self) -> float:
        return (self.earliest_end - self.started).total_seconds()


class NotVerifiable(ValueError):
    """The session has no recording to verify (it never started one, or has not ended)."""


def expectation(session: dict) -> Expectation:
    for needed in ("recordingStartedAt", "endedAt"):
        if needed not in session:
            raise NotVerifiable(f"session {session.get('sessionId')} has no {needed}")
    windows = [(clock.parse(w["suspendConfirmedAt"]), clock.parse(w["resumeRequestedAt"]) if "resumeRequestedAt" in w else None)
               for w in session.get("windows", []) if "suspendConfirmedAt" in w]
    provider = session["provider"]
    location = session.get("recordingLocation", "")
    return Expectation(
        session_id=session["sessionId"], provider=provider, call=session.get("call", {}),
        track=session.get("recordingTrack", "BOTH" if provider == "chime" else "ALL"),
        started=clock.parse(session["recordingStartedAt"]), ended=clock.parse(session["endedAt"]),
        location=location if provider == "chime" and "/" in location else None, windows=windows,
        ends_with_call=session.get("outcomeReason", "").startswith(STOP_FAILED),
        start_requested=clock.parse(session["recordingRequestedAt"]) if "recordingRequestedAt" in session else None,
        end_requested=clock.parse(session["endRequestedAt"]) if "endRequestedAt" in session else None)


def connect_prefixes(expected: Expectation, config: Config) -> list[str]:
    """Where Connect puts this contact's recording: under the day (UTC) the recording started, or the
    day after when a call crosses midnight."""
    days = sorted({expected.started.date(), expected.ended.date()})
    contact = expected.call["ContactId"]
    return [f"{config.connect_prefix}/{day:%Y/%m/%d}/{contact}_" for day in days]


def locate(expected: Expectation, config: Config, s3) -> tuple[str, str] | None:
    """(bucket, key) of the landed object, or None if it is not there (yet)."""
    if expected.provider == "chime":
        bucket, _, key = (expected.location or "").partition("/")
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return bucket, key
    for prefix in connect_prefixes(expected, config):
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=config.bucket, Prefix=prefix).get("Contents", [])
                      if o["Key"].endswith(".wav"))
        if keys:
            return config.bucket, keys[0]
    return None


def _origins(expected: Expectation, seconds: float, config: Config) -> tuple[datetime, datetime]:
    """The earliest and latest moment the recording can have begun (see place_windows)."""
    late_start = (expected.provider == "connect" and not expected.ends_with_call
                  and seconds < expected.shortest_span_seconds - config.tolerance_seconds)
    if late_start:
        return expected.earliest_end - timedelta(seconds=seconds), expected.ended - timedelta(seconds=seconds)
    return expected.earliest_start, expected.started


def window_reach(expected: Expectation, seconds: float, config: Config) -> list[tuple[float, float]]:
    """Where each window may lie in the recording at the widest (the guards outside it): audio there may be
    silent, so signal is looked for elsewhere."""
    earliest_origin, latest_origin = _origins(expected, seconds, config)
    return [((start - latest_origin).total_seconds() - config.guard_seconds,
             ((end or expected.ended) - earliest_origin).total_seconds() + config.guard_seconds)
            for start, end in expected.windows]


def place_windows(expected: Expectation, seconds: float, config: Config) -> tuple[list[tuple[float, float]], list[Check]]:
    """The windows as seconds into a recording `seconds` long, and a note for any not placed in it.

    A recording begins when the provider started it, which lies between the workflow's request and its record
    of the start. A Connect recording shorter than the session's shortest possible span began later (the
    agent joined late) and is placed by its end instead, which is known as closely as the start. Each window
    is narrowed by that uncertainty, so that only audio surely inside it is checked."""
    earliest_origin, latest_origin = _origins(expected, seconds, config)
    spans, notes = [], []
    for index, (start, end) in enumerate(expected.windows, 1):
        a = (start - earliest_origin).total_seconds() + config.guard_seconds
        b = ((end or expected.ended) - latest_origin).total_seconds() - config.guard_seconds
        a, b = max(a, 0.0), min(b, seconds)
        if b <= a:
            notes.append(Check(f"window-{index}-silent", True, "not checked: not in the recording (it began later), or "
                                                               "shorter than the guards and the provider's timing uncertainty"))
            continue
        spans.append((a, b))
    return spans, notes


def _s3_checks(expected: Expectation, head: dict, config: Config) -> list[Check]:
    content_type = head.get("ContentType", "")
    checks = [Check("content-type", content_type in CONTENT_TYPES, content_type or "(none)")]
    sse, key_id = head.get("ServerSideEncryption", ""), head.get("SSEKMSKeyId", "")
    key_ok = not config.kms_key_arn or key_id in (config.kms_key_arn, config.kms_key_arn.rsplit("/", 1)[-1])
    checks.append(Check("encryption", sse == "aws:kms" and key_ok,
                        f"{sse or 'none'}" + (f" with {key_id}" if key_id else "")
                        + ("" if key_ok else f" (expected {config.kms_key_arn})")))
    if expected.provider == "chime":
        metadata = head.get("Metadata", {})
        wrong = [name for name, want in (("transaction-id", expected.call.get("TransactionId")),
                                         ("call-id", expected.call.get("CallId")),
                                         ("recording-audio-file-format", "audio/wav"))
                 if metadata.get(name) != want]
        missing = [name for name in CHIME_METADATA if name not in metadata]
        checks.append(Check("metadata", not wrong and not missing,
                            "missing " + ", ".join(missing) if missing else
                            ("does not match the session: " + ", ".join(wrong) if wrong else
                             ", ".join(f"{k}={metadata[k]}" for k in CHIME_METADATA))))
    return checks


def check(expected: Expectation, bucket: str, key: str, s3, config: Config, full: bool = False) -> dict:
    """Every check on the landed object, as a verdict dict (see schemas/recording_verdict)."""
    source = S3Source(bucket, key, s3)
    head = source.head()
    first = _s3_checks(expected, head, config)
    notes: list[Check] = []

    def windows(wav: WavFormat) -> list[tuple[float, float]]:
        spans, placed_notes = place_windows(expected, wav.seconds, config)
        notes.extend(placed_notes)
        return spans

    def more(wav: WavFormat) -> list[Check]:
        checks = [_duration(expected, wav.seconds, config)]
        if expected.provider == "chime" and "recording-duration" in head.get("Metadata", {}):
            stated = float(head["Metadata"]["recording-duration"])
            checks.append(Check("metadata-duration", abs(stated - wav.seconds) <= config.tolerance_seconds,
                                f"metadata says {stated:.3f} s, the audio is {wav.seconds:.3f} s"))
        return checks

    verdict = verify(source, windows=windows, track=expected.track, extra=more, full=full,
                     may_be_silent=lambda wav: window_reach(expected, wav.seconds, config))
    verdict.checks[1:1] = first
    verdict.checks.extend(notes)
    return {**verdict.to_dict(), "bucket": bucket, "key": key}


def _duration(expected: Expectation, seconds: float, config: Config) -> Check:
    shortest, span, tolerance = expected.shortest_span_seconds, expected.span_seconds, config.tolerance_seconds
    recorded = f"{span:.3f} s" if span - shortest < 0.001 else f"{shortest:.3f}-{span:.3f} s"
    if shortest - tolerance <= seconds <= span + tolerance:
        return Check("duration", True, f"{seconds:.3f} s; the session recorded for {recorded} (+/- {tolerance})")
    if expected.ends_with_call and seconds > span:
        return Check("duration", True, f"{seconds:.3f} s: the stop failed at about {span:.3f} s, so the recording ran on "
                                       "to the end of the call")
    if expected.provider == "connect" and seconds < shortest:
        return Check("duration", True, f"{seconds:.3f} s of the session's {recorded}: Connect begins an agent "
                                       "recording when the agent joins")
    return Check("duration", False, f"{seconds:.3f} s, but the session recorded for {recorded} (+/- {tolerance})")
