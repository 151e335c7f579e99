"""What both provider twins share: the call clock, fault switches, throttling, errors, S3 delivery."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class Clock:
    """Call time, as a datetime and as seconds since the clock started.

    Manual (tests, the demo): time moves only when the simulated people do something that takes time
    (a prompt plays, digits are typed, someone talks) or when advanced explicitly, so recordings are
    exactly reproducible. Following wall time (`make serve`): it also moves with real time.
    """

    def __init__(self, start: datetime | None = None, follow_wall_time: bool = False):
        self.start = start or datetime.now(UTC)
        self.follow_wall_time = follow_wall_time
        self._offset = 0.0
        self._wall_start = time.monotonic()
        self._lock = threading.Lock()

    def _wall(self) -> float:
        return time.monotonic() - self._wall_start if self.follow_wall_time else 0.0

    def seconds(self) -> float:
        with self._lock:
            return round(self._offset + self._wall(), 6)

    def now(self) -> datetime:
        return self.at(self.seconds())

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time does not go backwards")
        with self._lock:
            self._offset += seconds
        return self.seconds()

    def advance_to(self, seconds: float) -> float:
        """Move on to `seconds` if the clock is not past it yet (others may have moved it meanwhile)."""
        with self._lock:
            self._offset = max(self._offset, seconds - self._wall())
        return self.seconds()

    def wait_until(self, seconds: float) -> float:
        """Wait in real time until the clock reaches `seconds` (a clock that follows wall time): what takes time
        in one call then takes it in that call only, as when many calls share one clock."""
        if not self.follow_wall_time:
            raise ValueError("a manual clock only moves when advanced: wait_until would never return")
        while (left := seconds - self.seconds()) > 0:
            time.sleep(min(left, 0.25))
        return self.seconds()


@dataclass
class Windows:
    """The spans in which a recording was suspended (Connect) or paused (Chime): [start, end], the last
    one open while the recording is silenced."""

    spans: list[list[float | None]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return bool(self.spans) and self.spans[-1][1] is None

    def begin(self, at: float) -> None:
        if not self.open:
            self.spans.append([at, None])

    def end(self, at: float) -> None:
        if self.open:
            self.spans[-1][1] = at

    def closed(self) -> list[tuple[float, float]]:
        return [(a, b) for a, b in self.spans if b is not None]

    def to_list(self) -> list[list[float | None]]:
        return [list(span) for span in self.spans]


@dataclass
class Fault:
    """A fault switch: make `operation` of `service` fail with `error`, for one call (`key`) or all."""

    service: str
    operation: str
    error: str
    key: str | None = None  # ContactId / TransactionId; None: any call
    times: int | None = 1  # how many requests it fails; None: until cleared
    message: str = ""
    id: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class Faults:
    """The fault switches of the simulator, per call or global, consumed as they fire."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def inject(self, fault: Fault) -> Fault:
        fault.id = fault.id or str(uuid.uuid4())
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, service: str, operation: str, key: str | None) -> Fault | None:
        """The first switch for this operation and call, consumed as it fires."""
        with self._lock:
            for fault in self._faults:
                if fault.service == service and fault.operation == operation and fault.key in (None, key):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)


class TokenBucket:
    """A request quota: `rate` requests per second with bursts of `burst`, per process, by `clock` (real time unless
    given another: the twins count in the workflows' time once registered with the engine)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


DELIVER = "DeliverRecording"  # the fault-switch operation for a recording's landing in S3
DELIVERY_FAULTS = ("NeverLands", "CorruptHeader", "LeakIntoWindow")  # LeakIntoWindow is applied by the twin's render


class Delivery:
    """Writes finished recordings to S3 after a delay (real seconds), as the providers do after a call.

    Fault switches on operation `DeliverRecording`: `NeverLands` drops the object, `CorruptHeader`
    overwrites its RIFF/fmt header; `LeakIntoWindow` (the twins render the suspended spans unsilenced)."""

    def __init__(self, s3_client_factory: Callable[[], object], delay_seconds: float = 0.0):
        self._s3 = s3_client_factory
        self.delay_seconds = delay_seconds
        self._pending: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self.delivered: list[dict] = []
        self.dropped: list[dict] = []

    def deliver(self, put_object_request: dict, fault: Fault | None = None) -> None:
        where = {"Bucket": put_object_request["Bucket"], "Key": put_object_request["Key"]}
        if fault is not None and fault.error == "NeverLands":
            with self._lock:
                self.dropped.append(where)
            return
        if fault is not None and fault.error == "CorruptHeader":
            body = put_object_request["Body"]
            put_object_request = {**put_object_request, "Body": bytes(44) + body[44:]}
        if self.delay_seconds <= 0:
            self._put(put_object_request)
            return
        timer = threading.Timer(self.delay_seconds, self._put, args=(put_object_request,))
        timer.daemon = True
        with self._lock:
            self._pending.add(timer)
        timer.start()

    def _put(self, request: dict) -> None:
        self._s3().put_object(**request)
        with self._lock:
            self.delivered.append({"Bucket": request["Bucket"], "Key": request["Key"]})
            self._pending.discard(threading.current_thread())

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every scheduled delivery has landed."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for thread in pending:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise TimeoutError("recordings still not delivered")
