"""The end-to-end tier: the whole local stack, including `callrec serve` in a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from callrec.local_api import signed  # noqa: F401 - the tests sign their API requests with it
from callrec.template import REPO_ROOT


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: every probe stays bound until all are chosen (two probes one after the other
    can be handed the same port, which once made the endpoint and the API collide)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@contextlib.contextmanager
def serve_endpoint(*extra_args: str) -> Iterator[dict]:
    """Start `callrec serve` on a free port; yield its url, process and printed lines; stop it after."""
    port, api_port = _free_ports(2)
    process = subprocess.Popen(
        [sys.executable, "-m", "callrec.cli", "serve", "--port", str(port), "--api-port", str(api_port), *extra_args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Use it with"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120):
        process.kill()
        pytest.fail("the endpoint did not come up:\n" + "".join(lines))
    yield {"url": f"http://127.0.0.1:{port}", "api": f"http://127.0.0.1:{api_port}", "process": process, "lines": lines}
    if process.poll() is None:
        process.kill()
        process.wait(10)


SMA_HANDLER = f"test-sma={REPO_ROOT / 'tests' / 'local_stack' / 'sma_handler.py'}:lambda_handler"


@pytest.fixture(scope="session")
def _served() -> Iterator[dict]:
    """The worker's `callrec serve` (`endpoint`: the one started last), stopped at the end of the session."""
    with contextlib.ExitStack() as stack:
        yield {"stack": stack, "endpoint": None}


@pytest.fixture
def endpoint(_served: dict) -> dict:
    """One `callrec serve` per worker, shared by the modules that talk to it (test_api, test_server, test_sim_wire;
    the wire tests' SMA handler is among its functions): each start deploys the template in a new process (about
    3.5 s of CPU), and pytest-xdist spreads a module's tests over its workers, so an endpoint per module made
    about seven a run. The test that stops it with Ctrl-C runs after the others (marked `stops_server`); a test
    that comes after it on the same worker starts another."""
    if _served["endpoint"] is None or _served["endpoint"]["process"].poll() is not None:
        _served["endpoint"] = _served["stack"].enter_context(serve_endpoint("--function", SMA_HANDLER))
    return _served["endpoint"]


def endpoint_client(endpoint: dict, service: str, retries: bool = True, validate: bool = True):
    """A plain boto3 client aimed at the endpoint: only endpoint_url (and test credentials) set."""
    config = Config(
        retries={"total_max_attempts": 1} if not retries else {"mode": "standard"},
        parameter_validation=validate,
    )
    return boto3.client(
        service,
        endpoint_url=endpoint["url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def physical(endpoint: dict, logical_id: str) -> str:
    """The physical id `callrec serve` printed for a template resource."""
    line = next(line for line in endpoint["lines"] if f" {logical_id} " in line)
    return line.split()[-1]


@pytest.fixture
def centre(deployment):
    """A whole contact centre on the in-process local stack (see callrec.callcentre)."""
    from callrec.callcentre import LocalCallCentre

    centre = LocalCallCentre(deployment)
    yield centre
    assert centre.sim.chime.errors == [], "the Chime twin met a bug of its own (e.g. an undocumented event)"


@pytest.fixture
def alerts(deployment):
    """What arrives on the alert topic during the test (an SQS queue subscribed before the call)."""
    from tests.local_stack.defined_end import alert_queue

    return alert_queue(deployment)


@pytest.fixture
def api(centre):
    """The template's REST API on a free local port, in front of `centre`'s stack (HTTP, SigV4)."""
    from callrec.local_api import LocalApiServer

    server = LocalApiServer.for_deployment(centre.deployment, port=0)
    server.start()
    yield server.url
    server.stop()


@contextlib.contextmanager
def slow_connect(centre, action: str, seconds: float) -> Iterator[None]:
    """The Connect twin answers `action` only after `seconds` of real time (a busy provider), until the block ends."""
    twin = centre.sim.connect
    original = twin.call

    def call(name: str, parameters: dict) -> dict:
        if name == action:
            time.sleep(seconds)
        return original(name, parameters)

    twin.call = call
    try:
        yield
    finally:
        twin.call = original


@contextlib.contextmanager
def slow_sma(answers: Callable[[dict], bool], seconds: float) -> Iterator[None]:
    """The SMA handler completes the workflow's task only after `seconds` of real time for the answers `answers`
    picks (e.g. `"location" in output`: StartCallRecording's), until the block ends: a busy Chime leg."""
    from callrec_shared import sessions

    complete = sessions.complete_task

    def late(token: str, output: dict) -> None:
        if answers(output):
            time.sleep(seconds)
        complete(token, output)

    sessions.complete_task = late
    try:
        yield
    finally:
        sessions.complete_task = complete
