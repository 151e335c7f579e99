"""Fixtures shared by every tier: moto with execution on, the engine adapter, the deployed template."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from callrec import engine
from callrec.history import fetch_history, wait_for_execution
from callrec.runtime import LocalRuntime
from callrec.stack import Deployment, client, create_role

# bad-input tests: `default` for every run, `thorough` on request (pytest --hypothesis-profile=thorough)
hypothesis_settings.register_profile("default", max_examples=100, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=2000, deadline=None)

TEST_TIME_SCALE = 0.001  # a 60 s Wait takes 60 ms in tests; `make serve` runs at 1.0


@pytest.fixture
def runtime():
    """moto in-process with the engine installed and nothing deployed; all of it put back afterwards."""
    with LocalRuntime(time_scale=TEST_TIME_SCALE, deploy=False) as local:
        yield local


@pytest.fixture
def aws(runtime):
    """moto in-process with state machine execution on, and a fresh engine (tests that deploy their own)."""
    return None


def key_table(name: str) -> None:
    """A DynamoDB table keyed by a string `pk` alone, paid per request: what the engine's own tests write to."""
    client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def make_role(name: str, statements: list[dict], iam=None, service: str = "states.amazonaws.com") -> str:
    """An IAM role trusted by `service` with `statements` as its one inline policy; its ARN."""
    policy = {"Version": "2012-10-17", "Statement": statements}
    return create_role(iam or client("iam"), name, service, {f"{name}-policy": policy})


def allow_all_role(name: str = "test") -> str:
    """The role of a test's own state machine, allowed everything: tests of the engine are not about IAM
    (each function and workflow of the template acts as its own role: tests/local_stack/test_iam.py)."""
    iam = client("iam")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return make_role(name, [{"Effect": "Allow", "Action": "*", "Resource": "*"}], iam)


@contextlib.contextmanager
def ledger_without(*records: str) -> Iterator[None]:
    """The engine's ledger with `records` left out, for the block (a scenario run as moto alone would run it); the
    whole ledger again after."""
    engine.uninstall()
    engine.install(without=records)
    try:
        yield
    finally:
        engine.uninstall()
        engine.install()


@pytest.fixture
def deployment(runtime) -> Deployment:
    return runtime.deploy_template()


@pytest.fixture
def sfn(aws):
    return client("stepfunctions")


def run(sfn, state_machine_arn: str, payload: dict, **kwargs) -> tuple[dict, list[dict]]:
    """Start an execution, wait for it to end, return (describe_execution, history events)."""
    started = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(payload), **kwargs)
    described = wait_for_execution(sfn, started["executionArn"])
    return described, fetch_history(sfn, started["executionArn"])


def pytest_configure(config):
    """One folder for the run's parsed state machine programs, shared by the pytest-xdist workers (started after
    this, with this environment): each definition is parsed by one worker and loaded by the others
    (callrec.engine.interpreter.PROGRAM_STORE)."""
    import os
    import tempfile

    from callrec.engine.interpreter import PROGRAM_STORE

    if hasattr(config, "workerinput") or PROGRAM_STORE in os.environ:
        return
    config.program_store = tempfile.TemporaryDirectory(prefix="callrec-programs-")
    os.environ[PROGRAM_STORE] = config.program_store.name


def pytest_unconfigure(config):
    import os

    from callrec.engine.interpreter import PROGRAM_STORE

    store = getattr(config, "program_store", None)
    if store is not None:
        os.environ.pop(PROGRAM_STORE, None)
        store.cleanup()


def pytest_collection_finish(session):
    """Python's cyclic garbage collector, tuned for a run that builds many short-lived stacks: what is alive once
    the tests are collected (modules, moto's models, botocore's) is frozen out of every later collection, and the
    youngest generation is collected every 50,000 allocations instead of 700. Measured on four test modules:
    3.4 s of 38 s went to collections, 1.3 s after."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def pytest_collection_modifyitems(config, items):
    """Long tests first (marked `long`, in their own order), then the tests of the served endpoint (marked
    `server`): pytest-xdist hands each worker its share in collection order and idle workers take the back half of
    a busy one's, so a long test left at the end of a share keeps the whole run waiting on that worker, and the
    endpoint's tests, kept together at the front of one share, start one `callrec serve` where they were starting
    one on each worker; the one that stops the endpoint comes last of them."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("long") is None,
            item.get_closest_marker("server") is None,
            item.get_closest_marker("stops_server") is not None,  # after the endpoint's other tests
        )
    )


# --- what the tests report across workers (pytest-xdist): gathered from each test's report ------------------
# A test records a value with `record_property(name, value)`; the report carries it to the controlling
# process, where these hooks gather them. (A module global would see only one worker's tests.)

_FAULT_ROWS: list[tuple[str, ...]] = []
_STATES: dict[str, dict] = {}  # ASL file -> {"cases": all case names, "entered": {case: states}}
_UNCOVERED: list[str] = []


def record_states(record_property, machine_file: str, case: str, cases: list[str], entered: list[str]) -> None:
    """A state-machine case's entered states; when every case of the machine has passed, the session fails if
    some state of the definition was entered by none of them (the cases must cover every state)."""
    record_property("states_entered", {"machine": machine_file, "case": case, "cases": cases, "entered": entered})


def pytest_runtest_logreport(report):
    if report.when != "call" or not report.passed:
        return
    for name, value in report.user_properties:
        if name == "fault_matrix_row":
            _FAULT_ROWS.append(tuple(value))
        elif name == "states_entered":
            machine = _STATES.setdefault(value["machine"], {"cases": set(value["cases"]), "entered": {}})
            machine["entered"][value["case"]] = set(value["entered"])


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):  # a worker: the controlling process judges
        # pytest collects garbage twice as a worker ends (its unraisable-exception plugin, at cleanup and at
        # unconfigure), each pass over every object the worker's stacks left; what is left by now is frozen out
        # of those passes, as what was there at collection is. Measured from unconfigure to exit, per worker of
        # two test modules at -n 2: 0.54-0.69 s of CPU -> 0.002 s.
        gc.freeze()
        return
    from callrec.template import REPO_ROOT

    for machine_file, seen in sorted(_STATES.items()):
        if set(seen["entered"]) != seen["cases"]:
            continue  # some case failed or was not selected: its own failure (or the selection) says so
        states = set(json.loads((REPO_ROOT / "statemachines" / machine_file).read_text())["States"])
        missing = states - set().union(*seen["entered"].values())
        if missing:
            _UNCOVERED.append(f"{machine_file}: no test case enters {sorted(missing)}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    """The state coverage of the mock test cases, and the fault matrix (tests/local_stack/test_fault_matrix.py)."""
    if _STATES:
        terminalreporter.section("state coverage")
        for line in _UNCOVERED:
            terminalreporter.write_line("FAILED " + line, red=True)
        for machine_file, seen in sorted(_STATES.items()):
            complete = set(seen["entered"]) == seen["cases"]
            terminalreporter.write_line(
                f"{machine_file}: {len(seen['entered'])}/{len(seen['cases'])} cases passed"
                + ("" if complete else " (coverage judged only when all pass)")
            )
    if not _FAULT_ROWS:
        return
    terminalreporter.section("fault matrix")
    header = ("provider", "stage", "fault", "session", "verification", "alert", "outcome")
    rows = [header, *sorted(_FAULT_ROWS)]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        terminalreporter.write_line(
            "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
