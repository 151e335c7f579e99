"""What VerifyRecording checks about one session's recording, read from the session record and S3.

- Where it lands: Chime names the object in `CallRecordingDestination` (kept on the session); Connect
  names it in the contact record (`DescribeContact`'s `Recordings[].Location`, which the check, RecordingChecks,
  reads at each look). Only when the record has no location is the object looked
  for by its documented layout, `<prefix>/YYYY/MM/DD/<contactId>_<YYYYMMDDTHH:MM>_UTC.wav`, and then only an
  exact match counts: none is "not landed yet", two or more is AMBIGUOUS (alerted), never a guess.
- Where the suspended windows fall in it: the session's times and the recording share one clock.
  A window is checked from the provider's confirmation of the suspension to the request to resume
  (the caller types only in between), narrowed by a guard at each end for clock and delivery jitter.
  The origin is the recording's start; a Connect voice recording started before the agent joined
  begins at the join, which the contact record measures (`AgentInfo.ConnectedToAgentTimestamp`). When
  that is unknown, a Connect recording shorter than the session cannot be placed: its duration and
  windows are reported unverified, never passed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from callrec_shared import clock
from callrec_shared.wavcheck import DTMF_RUN_LIMIT, Check, S3Source, WavFormat, verify

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
    landing_limit_seconds: float = 1800.0  # an object must have landed within this long after the call ended
    landing_wait_seconds: float = 900.0  # VerifyRecording looks again until it has waited this long (then: missing)
    dtmf_run_limit: int = DTMF_RUN_LIMIT

    @staticmethod
    def from_environment() -> Config:
        landing_wait = float(os.environ.get("LANDING_WAIT_SECONDS", "900"))
        return Config(
            bucket=os.environ.get("RECORDING_BUCKET", ""),
            kms_key_arn=os.environ.get("RECORDING_KEY_ARN", ""),
            connect_prefix=os.environ.get("CONNECT_RECORDING_PREFIX", "").strip("/"),
            tolerance_seconds=float(os.environ.get("VERIFY_TOLERANCE_SECONDS", "3")),
            guard_seconds=float(os.environ.get("VERIFY_GUARD_SECONDS", "0.25")),
            # VerifyRecording gives up after at most twice LandingWaitSeconds
            landing_limit_seconds=2 * landing_wait,
            landing_wait_seconds=landing_wait,
            dtmf_run_limit=int(os.environ.get("DTMF_RUN_LIMIT", str(DTMF_RUN_LIMIT))),
        )


@dataclass(frozen=True)
class Expectation:
    """What the session says the recording must be."""

    session_id: str
    provider: str
    call: dict[str, Any]
    track: str
    started: datetime
    ended: datetime
    location: str | None  # Chime: bucket/key; Connect: None (found by layout)
    windows: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    ends_with_call: bool = False  # the stop failed: the recording runs on to the call's end
    start_requested: datetime | None = None  # when the workflow asked the provider to start recording
    end_requested: datetime | None = None  # when an entry point first asked for the end (stop or hang-up)
    contact: dict[str, Any] | None = (
        None  # Connect: the contact record (DescribeContact's Contact), when it could be read
    )
    uncertain: bool = False  # the provider may have started recording, but never confirmed it
    window_end_unknown: bool = False  # the store failed while a resume was applied: an open window may have ended
    key_prefix: str = ""  # Chime: the per-call prefix under the bucket ("" is the SMA's default prefix)

    @property
    def agent_joined(self) -> datetime | None:
        stamp = ((self.contact or {}).get("AgentInfo") or {}).get("ConnectedToAgentTimestamp")
        return _timestamp(stamp) if stamp is not None else None

    @property
    def audio_recording(self) -> dict[str, Any]:
        """Connect: the contact record's audio recording stored in S3 and not deleted ({} if it has none)."""
        for recording in (self.contact or {}).get("Recordings") or []:
            if (
                recording.get("MediaStreamType", "AUDIO") == "AUDIO"
                and recording.get("StorageType", "S3") == "S3"
                and recording.get("Status") != "DELETED"
            ):
                return recording
        return {}

    @property
    def recorded_start(self) -> datetime | None:
        """Connect: when the provider says the audio recording started (its StartTimestamp)."""
        stamp = self.audio_recording.get("StartTimestamp")
        return _timestamp(stamp) if stamp is not None else None

    @property
    def recorded_location(self) -> str | None:
        """Connect: the audio recording's S3 location in the contact record (bucket/key), if it has one."""
        location = self.audio_recording.get("Location")
        return location.removeprefix("s3://") if location else None

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


def _timestamp(value: str | int | float | datetime) -> datetime:
    """A timestamp of the contact record: a datetime (boto3), ISO-8601 or epoch seconds."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    return clock.parse(value)


def expectation(session: dict[str, Any], contact: dict[str, Any] | None = None) -> Expectation:
    for needed in ("recordingStartedAt", "endedAt"):
        if needed not in session:
            raise NotVerifiable(f"session {session.get('sessionId')} has no {needed}")
    windows = [
        (
            clock.parse(w["suspendConfirmedAt"]),
            clock.parse(w["resumeRequestedAt"]) if "resumeRequestedAt" in w else None,
        )
        for w in session.get("windows", [])
        if "suspendConfirmedAt" in w
    ]
    provider = session["provider"]
    location = session.get("recordingLocation", "")
    return Expectation(
        session_id=session["sessionId"],
        provider=provider,
        call=session.get("call", {}),
        track=session.get("recordingTrack", "BOTH" if provider == "chime" else "ALL"),
        started=clock.parse(session["recordingStartedAt"]),
        ended=clock.parse(session["endedAt"]),
        location=location if provider == "chime" and "/" in location else None,
        windows=windows,
        ends_with_call=session.get("outcomeReason", "").startswith(STOP_FAILED),
        start_requested=clock.parse(session["recordingRequestedAt"]) if "recordingRequestedAt" in session else None,
        end_requested=clock.parse(session["endRequestedAt"]) if "endRequestedAt" in session else None,
        contact=contact if provider == "connect" else None,
        uncertain=bool(session.get("recordingUncertain", False)),
        window_end_unknown=bool(session.get("windowEndUnknown", False)),
        key_prefix=session.get("recordingKeyPrefix", ""),
    )


def connect_prefixes(expected: Expectation, config: Config) -> list[str]:
    """Where Connect puts this contact's recording: under the day (UTC) the recording started, or the
    day after when a call crosses midnight."""
    days = sorted({expected.started.date(), expected.ended.date()})
    contact = expected.call["ContactId"]
    return [f"{config.connect_prefix}/{day:%Y/%m/%d}/{contact}_" for day in days]


@dataclass(frozen=True)
class Located:
    bucket: str
    key: str
    how: str  # "destination" (Chime), "contact record" or "layout" (Connect)


@dataclass(frozen=True)
class Ambiguous:
    candidates: int


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def layout_pattern(expected: Expectation, config: Config) -> re.Pattern[str]:
    """The one name Connect's documented layout gives this contact's recording (no further `/`)."""
    contact = re.escape(expected.call["ContactId"])
    return re.compile(
        rf"^{re.escape(config.connect_prefix)}/\d{{4}}/\d{{2}}/\d{{2}}/{contact}_\d{{8}}T\d{{2}}:\d{{2}}_UTC\.wav$"
    )


CHIME_DEFAULT_PREFIX = "Amazon-Chime-SMA-Call-Recordings"


def chime_layout_pattern(expected: Expectation) -> re.Pattern[str]:
    """The one name the Chime SDK's documented layout gives this call leg's recording when the workflow's
    destination is the bucket alone: the default prefix, the leg's date, then `<date-time>_<transactionId>_<callId>.wav`
    (Amazon Chime SDK Developer Guide, "Using the StartCallRecording action")."""
    transaction, call = re.escape(expected.call["TransactionId"]), re.escape(expected.call["CallId"])
    prefix = re.escape(expected.key_prefix or CHIME_DEFAULT_PREFIX)
    return re.compile(rf"^{prefix}/\d{{4}}/\d{{2}}/\d{{2}}/\d{{4}}(?:-\d{{2}}){{5}}-\d{{3}}_{transaction}_{call}\.wav$")


def locate(expected: Expectation, config: Config, s3: Any) -> Located | Ambiguous | None:
    """Where the recording landed; None if it is not there (yet); Ambiguous if the layout gives several."""
    if expected.provider == "chime" and expected.location:
        bucket, _, key = expected.location.partition("/")
        return Located(bucket, key, "destination") if _exists(s3, bucket, key) else None
    if expected.provider == "chime":  # an uncertain start: no destination was reported, so the layout names it
        days = sorted({(expected.started - timedelta(days=1)).date(), expected.started.date(), expected.ended.date()})
        prefix = expected.key_prefix or CHIME_DEFAULT_PREFIX
        return _by_layout(
            s3, config.bucket, [f"{prefix}/{day:%Y/%m/%d}/" for day in days], chime_layout_pattern(expected)
        )
    recorded = expected.recorded_location
    if recorded:
        bucket, _, key = recorded.partition("/")
        return Located(bucket, key, "contact record") if _exists(s3, bucket, key) else None
    return _by_layout(s3, config.bucket, connect_prefixes(expected, config), layout_pattern(expected, config))


def _by_layout(s3: Any, bucket: str, prefixes: list[str], pattern: re.Pattern[str]) -> Located | Ambiguous | None:
    """The one object the documented layout names; none yet; or several, which is never a guess."""
    keys = sorted(
        {
            o["Key"]
            for prefix in prefixes
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
            if pattern.match(o["Key"])
        }
    )
    if len(keys) > 1:
        return Ambiguous(len(keys))
    return Located(bucket, keys[0], "layout") if keys else None


def _origins(expected: Expectation, tolerance_seconds: float = 0.0) -> tuple[datetime, datetime]:
    """The earliest and latest moment the recording can have begun: when the provider started it (between the
    workflow's request and its record of the start), or for Connect, when the agent joined if that was later.
    When Connect's contact record states the start and it lies in that span (give or take the tolerance), that
    is the moment: the provider's own record narrows the uncertainty of a busy stack to nothing."""
    earliest, latest = expected.earliest_start, expected.started
    joined = expected.agent_joined
    if joined is not None:
        earliest, latest = max(earliest, joined), max(latest, joined)
    stated = expected.recorded_start
    slack = timedelta(seconds=tolerance_seconds)
    if stated is not None and earliest - slack <= stated <= latest + slack:
        return stated, stated
    return earliest, latest


def _placeable(expected: Expectation, seconds: float, config: Config) -> bool:
    """Can the recording be laid on the session's timeline? Not a Connect recording shorter than the session
    when the agent's join (which would explain it) is unknown."""
    return not (
        expected.provider == "connect"
        and expected.agent_joined is None
        and not expected.ends_with_call
        and seconds < expected.shortest_span_seconds - config.tolerance_seconds
    )


def window_reach(expected: Expectation, seconds: float, config: Config) -> list[tuple[float, float]]:
    """Where each window may lie in the recording at the widest (the guards outside it): audio there may be
    silent, so signal is looked for elsewhere."""
    earliest_origin, latest_origin = _origins(expected, config.tolerance_seconds)
    if not _placeable(expected, seconds, config):
        return [(-config.guard_seconds, seconds + config.guard_seconds)]  # anywhere
    return [
        (
            (start - latest_origin).total_seconds() - config.guard_seconds,
            ((end or expected.ended) - earliest_origin).total_seconds() + config.guard_seconds,
        )
        for start, end in expected.windows
    ]


def place_windows(
    expected: Expectation, seconds: float, config: Config
) -> tuple[list[tuple[float, float]], list[Check]]:
    """The windows as seconds into a recording `seconds` long, and a failing (unverified) check for each window
    that cannot be placed in it.

    A recording begins when the provider started it, which lies between the workflow's request and its record
    of the start (for Connect, no earlier than the agent's join). Each window is narrowed by that uncertainty,
    so that only audio surely inside it is checked; a window narrowed to nothing cannot be checked."""
    earliest_origin, latest_origin = _origins(expected, config.tolerance_seconds)
    spans, unplaced = [], []
    for index, (start, end) in enumerate(expected.windows, 1):
        name = f"window-{index}-silent"
        if not _placeable(expected, seconds, config):
            unplaced.append(
                Check(
                    name,
                    False,
                    "cannot be placed: the recording is shorter than the session and the agent's join time is unknown",
                    unverified=True,
                )
            )
            continue
        if end is None and expected.window_end_unknown:
            unplaced.append(
                Check(
                    name,
                    False,
                    "its end is unknown: the session store failed while the window was being closed, and the "
                    "provider may have resumed recording before the call ended",
                    unverified=True,
                )
            )
            continue
        finish = end or expected.ended
        if (finish - earliest_origin).total_seconds() <= 0 or (start - latest_origin).total_seconds() >= seconds:
            # before the recording began, or after it ended, however the provider's timing fell
            unplaced.append(
                Check(
                    name,
                    True,
                    "entirely outside the recording (before it began or after it ended): none of it was recorded",
                )
            )
            continue
        a = (start - earliest_origin).total_seconds() + config.guard_seconds
        b = (finish - latest_origin).total_seconds() - config.guard_seconds
        a, b = max(a, 0.0), min(b, seconds)
        length = (finish - start).total_seconds()
        if b <= a and length < 2 * config.guard_seconds:
            # e.g. a suspension confirmed just as its resume came: nothing sensitive fits in it, and key presses
            # anywhere in the recording fail dtmf-outside-windows
            unplaced.append(
                Check(
                    name,
                    True,
                    f"{length * 1000:.0f} ms long, shorter than the guards: too short to hold "
                    "sensitive input; key presses anywhere are caught by dtmf-outside-windows",
                )
            )
            continue
        # at most this much of the window can be in the recording, however the provider's timing fell
        recorded = min((finish - earliest_origin).total_seconds(), seconds) - max(
            (start - latest_origin).total_seconds(), 0.0
        )
        if b <= a and recorded < 2 * config.guard_seconds:
            # e.g. a suspension confirmed just before the stop took effect: too little of it was recorded to hold
            # sensitive input, and key presses there are caught by dtmf-outside-windows
            unplaced.append(
                Check(
                    name,
                    True,
                    f"at most {recorded * 1000:.0f} ms of it in the recording, shorter than the guards: too short "
                    "to hold sensitive input; key presses anywhere are caught by dtmf-outside-windows",
                )
            )
            continue
        if b <= a:
            unplaced.append(
                Check(
                    name,
                    False,
                    "cannot be placed: not in the recording, or shorter than the guards and "
                    "the provider's timing uncertainty",
                    unverified=True,
                )
            )
            continue
        spans.append((a, b))
    return spans, unplaced


def _landed(expected: Expectation, head: dict[str, Any], config: Config) -> Check:
    """The object was written after the recording began and within the landing limit after the call ended: an
    object planted before the call, or rewritten long after, is not this call's recording."""
    modified = head.get("LastModified")
    if modified is None:
        return Check("landed", False, "the object has no LastModified", unverified=True)
    modified = _timestamp(modified)
    earliest = expected.earliest_start - timedelta(seconds=config.tolerance_seconds + 1)  # S3 keeps whole seconds
    latest = expected.ended + timedelta(seconds=config.landing_limit_seconds)
    ok = earliest <= modified <= latest
    return Check(
        "landed",
        ok,
        f"written {clock.stamp(modified)}"
        + ("" if ok else f", outside {clock.stamp(earliest)} .. {clock.stamp(latest)}"),
    )


def _s3_checks(expected: Expectation, head: dict[str, Any], config: Config) -> list[Check]:
    content_type = head.get("ContentType", "")
    checks = [Check("content-type", content_type in CONTENT_TYPES, content_type or "(none)")]
    sse, key_id = head.get("ServerSideEncryption", ""), head.get("SSEKMSKeyId", "")
    key_ok = not config.kms_key_arn or key_id in (config.kms_key_arn, config.kms_key_arn.rsplit("/", 1)[-1])
    checks.append(
        Check(
            "encryption",
            sse == "aws:kms" and key_ok,
            f"{sse or 'none'}"
            + (f" with {key_id}" if key_id else "")
            + ("" if key_ok else f" (expected {config.kms_key_arn})"),
        )
    )
    if expected.provider == "chime":
        metadata = head.get("Metadata", {})
        wrong = [
            name
            for name, want in (
                ("transaction-id", expected.call.get("TransactionId")),
                ("call-id", expected.call.get("CallId")),
                ("recording-audio-file-format", "audio/wav"),
            )
            if metadata.get(name) != want
        ]
        missing = [name for name in CHIME_METADATA if name not in metadata]
        checks.append(
            Check(
                "metadata",
                not wrong and not missing,
                "missing " + ", ".join(missing)
                if missing
                else (
                    "does not match the session: " + ", ".join(wrong)
                    if wrong
                    else ", ".join(f"{k}={metadata[k]}" for k in CHIME_METADATA)
                ),
            )
        )
    return checks


def check(expected: Expectation, found: Located, s3: Any, config: Config) -> dict[str, Any]:
    """Every check on the landed object, as a verdict dict (see schemas/recording_verdict)."""
    source = S3Source(found.bucket, found.key, s3)
    head = source.head()
    first = [
        Check(
            "location",
            found.bucket == config.bucket or not config.bucket,
            f"s3://{found.bucket}/{found.key} (from the {found.how})"
            + (
                ""
                if found.bucket == config.bucket or not config.bucket
                else f"; not the recording bucket {config.bucket}"
            ),
        ),
        *_s3_checks(expected, head, config),
        _landed(expected, head, config),
    ]
    if expected.provider == "connect":
        first.insert(
            1,
            Check(
                "contact-record",
                expected.contact is not None,
                "the provider's record of the contact"
                if expected.contact is not None
                else "DescribeContact could not be read: the object was found by the documented layout and the "
                "agent's join time is unknown",
                unverified=expected.contact is None,
            ),
        )
    unplaced: list[Check] = []
    placed: list[tuple[float, float]] = []

    def windows(wav: WavFormat) -> list[tuple[float, float]]:
        spans, not_placed = place_windows(expected, wav.seconds, config)
        unplaced.extend(not_placed)
        placed.extend(spans)
        return spans

    def more(wav: WavFormat) -> list[Check]:
        checks = [_duration(expected, wav.seconds, config)]
        if expected.provider == "chime" and "recording-duration" in head.get("Metadata", {}):
            stated = float(head["Metadata"]["recording-duration"])
            checks.append(
                Check(
                    "metadata-duration",
                    abs(stated - wav.seconds) <= config.tolerance_seconds,
                    f"metadata says {stated:.3f} s, the audio is {wav.seconds:.3f} s",
                )
            )
        return checks

    verdict = verify(
        source,
        windows=windows,
        track=expected.track,
        extra=more,
        may_be_silent=lambda wav: window_reach(expected, wav.seconds, config),
        dtmf_run_limit=config.dtmf_run_limit,
    )
    verdict.checks[1:1] = first
    verdict.checks.extend(unplaced)
    return {
        **verdict.to_dict(),
        "windows": [[round(a, 3), round(b, 3)] for a, b in placed],
        "bucket": found.bucket,
        "key": found.key,
        "versionId": head.get("VersionId", ""),
        "etag": head.get("ETag", "").strip('"'),
        "kmsKeyId": head.get("SSEKMSKeyId", ""),
    }


def _duration(expected: Expectation, seconds: float, config: Config) -> Check:
    """Two-sided: the recording lasts from when it began (see _origins) to the stop or hang-up, within the
    tolerance; longer only when the stop failed (it ran on to the call's end)."""
    tolerance = config.tolerance_seconds
    if not _placeable(expected, seconds, config):
        return Check(
            "duration",
            False,
            f"{seconds:.3f} s, shorter than the session's {expected.shortest_span_seconds:.3f} s, "
            "and the agent's join time (which would explain it) is unknown",
            unverified=True,
        )
    earliest_origin, latest_origin = _origins(expected, config.tolerance_seconds)
    shortest = (expected.earliest_end - latest_origin).total_seconds()
    longest = (expected.ended - earliest_origin).total_seconds()
    recorded = f"{longest:.3f} s" if longest - shortest < 0.001 else f"{shortest:.3f}-{longest:.3f} s"
    joined = expected.agent_joined
    since = " (from the agent's join)" if joined is not None and joined > expected.earliest_start else ""
    if shortest - tolerance <= seconds <= longest + tolerance:
        return Check("duration", True, f"{seconds:.3f} s; the session recorded for {recorded}{since} (+/- {tolerance})")
    if expected.ends_with_call and seconds > longest:
        return Check(
            "duration",
            True,
            f"{seconds:.3f} s: the stop failed at about {longest:.3f} s, so the recording ran on "
            "to the end of the call",
        )
    return Check(
        "duration", False, f"{seconds:.3f} s, but the session recorded for {recorded}{since} (+/- {tolerance})"
    )
