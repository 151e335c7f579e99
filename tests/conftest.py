"""Fixtures shared by every tier: moto with execution on, the engine adapter, the deployed template."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from callrec import engine
from callrec_shared import clock as shared_clock
from callrec.demo import MOTO_CONFIG
from callrec.history import fetch_history, wait_for_execution
from callrec.stack import Deployment, LocalStack, client

from hypothesis import settings as hypothesis_settings

# bad-input tests: `default` for every run, `thorough` on request (pytest --hypothesis-profile=thorough)
hypothesis_settings.register_profile("default", max_examples=100, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=2000, deadline=None)

TEST_TIME_SCALE = 0.001  # a 60 s Wait takes 60 ms in tests; `make serve` runs at 1.0


@pytest.fixture
def aws():
    """moto in-process with state machine execution on, and a fresh engine adapter."""
    engine.reset()
    engine.install()
    engine.settings.time_scale = TEST_TIME_SCALE
    with mock_aws(config=MOTO_CONFIG):
        yield
    engine.reset()
    shared_clock.use(None)  # a LocalCallCentre points the Lambda code at its call clock


@pytest.fixture
def deployment(aws) -> Deployment:
    return LocalStack(parameter_overrides={"LogLevel": "WARNING"}).deploy()


@pytest.fixture
def sfn(aws):
    return client("stepfunctions")


def run(sfn, state_machine_arn: str, payload: dict, **kwargs) -> tuple[dict, list[dict]]:
    """Start an execution, wait for it to end, return (describe_execution, history events)."""
    started = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(payload), **kwargs)
    described = wait_for_execution(sfn, started["executionArn"])
    return described, fetch_history(sfn, started["executionArn"])


def states_entered(events: list[dict]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def pytest_terminal_summary(terminalreporter):
    """The fault matrix (tests/e2e/test_fault_matrix.py), as a table at the end of the report."""
    import sys

    matrix = sys.modules.get("tests.e2e.test_fault_matrix")
    if not matrix or not matrix.ROWS:
        return
    terminalreporter.section("fault matrix")
    header = ("provider", "stage", "fault", "session", "verification", "alert", "outcome")
    widths = [max(len(str(row[i])) for row in [header, *matrix.ROWS]) for i in range(len(header) - 1)]
    for row in [header, *matrix.ROWS]:
        terminalreporter.write_line("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + row[-1])
