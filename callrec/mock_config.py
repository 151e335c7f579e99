"""Step Functions Local's `MockConfigFile`, read from the same file format and `SFN_MOCK_CONFIG`.

moto ships the interpreter side of mocked service integrations (it answers a mocked state from the
test case's responses, one per retry attempt) but its loader is stubbed out. This module reads the
file, checks its shape with clear errors, and hands moto's own builder the attribute-shaped objects
it expects (in LocalStack those are pydantic models), so range rules (`"0"`, `"1-2"`, consecutive
numbering) are enforced by the same code that evaluates them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.stepfunctions.parser.mocking import mock_config as moto_mock_config

ENV_VAR = "SFN_MOCK_CONFIG"


class MockConfigError(ValueError):
    """The mock config file is missing, malformed, or has no such state machine or test case."""


@dataclass(frozen=True)
class _Payload:
    value: Any

    def model_dump(self) -> Any:
        return self.value


@dataclass(frozen=True)
class _Throw:
    Error: str
    Cause: str


@dataclass(frozen=True)
class _Response:
    Return: _Payload | None
    Throw: _Throw | None


@dataclass(frozen=True)
class _TestCase:
    root: dict[str, str]


@dataclass(frozen=True)
class _StateMachine:
    TestCases: dict[str, _TestCase]


@dataclass(frozen=True)
class _Raw:
    StateMachines: dict[str, _StateMachine]
    MockedResponses: dict[str, dict[str, _Response]]


def _response(where: str, entry: Any) -> _Response:
    if not isinstance(entry, dict) or len(entry.keys() & {"Return", "Throw"}) != 1 or len(entry) != 1:
        raise MockConfigError(f"{where}: must be an object with exactly one of 'Return' or 'Throw'")
    if "Return" in entry:
        return _Response(Return=_Payload(entry["Return"]), Throw=None)
    throw = entry["Throw"]
    if not isinstance(throw, dict) or not isinstance(throw.get("Error"), str):
        raise MockConfigError(f"{where}.Throw: needs a string 'Error' (and optionally 'Cause')")
    return _Response(Return=None, Throw=_Throw(Error=throw["Error"], Cause=str(throw.get("Cause", ""))))


def _parse(document: Any, source: str) -> _Raw:
    if not isinstance(document, dict):
        raise MockConfigError(f"{source}: the top level must be an object")
    machines = document.get("StateMachines")
    responses = document.get("MockedResponses")
    if not isinstance(machines, dict) or not isinstance(responses, dict):
        raise MockConfigError(f"{source}: needs the objects 'StateMachines' and 'MockedResponses'")
    parsed_machines = {}
    for machine_name, machine in machines.items():
        cases = machine.get("TestCases") if isinstance(machine, dict) else None
        if not isinstance(cases, dict):
            raise MockConfigError(f"{source}: StateMachines.{machine_name} needs an object 'TestCases'")
        parsed_cases = {}
        for case_name, states in cases.items():
            if not isinstance(states, dict) or not all(isinstance(v, str) for v in states.values()):
                raise MockConfigError(
                    f"{source}: StateMachines.{machine_name}.TestCases.{case_name} must map state names "
                    "to mocked response names"
                )
            for state_name, response_name in states.items():
                if response_name not in responses:
                    raise MockConfigError(
                        f"{source}: test case {machine_name}#{case_name} mocks state {state_name!r} with "
                        f"{response_name!r}, which is not in MockedResponses"
                    )
            parsed_cases[case_name] = _TestCase(root=dict(states))
        parsed_machines[machine_name] = _StateMachine(TestCases=parsed_cases)
    parsed_responses = {}
    for response_name, attempts in responses.items():
        if not isinstance(attempts, dict) or not attempts:
            raise MockConfigError(f"{source}: MockedResponses.{response_name} must map attempt ranges to responses")
        parsed_responses[response_name] = {
            attempt: _response(f"{source}: MockedResponses.{response_name}.{attempt}", entry)
            for attempt, entry in attempts.items()
        }
    return _Raw(StateMachines=parsed_machines, MockedResponses=parsed_responses)


class MockConfig:
    """One parsed MockConfigFile."""

    def __init__(self, document: Any, source: str = "<mock config>"):
        self.source = source
        self._raw = _parse(document, source)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> MockConfig:
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MockConfigError(f"mock config file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise MockConfigError(f"mock config file {path} is not valid JSON: {err}") from err
        return cls(document, source=str(path))

    @classmethod
    def from_environment(cls) -> MockConfig:
        path = os.environ.get(ENV_VAR)
        if not path:
            raise MockConfigError(
                f"a test case was asked for (stateMachineArn#TestCase) but {ENV_VAR} names no mock config file"
            )
        return cls.from_file(path)

    def test_case(self, state_machine_name: str, test_case_name: str) -> moto_mock_config.MockTestCase:
        machine = self._raw.StateMachines.get(state_machine_name)
        if machine is None:
            raise MockConfigError(f"{self.source}: no state machine {state_machine_name!r} in StateMachines")
        if test_case_name not in machine.TestCases:
            raise MockConfigError(
                f"{self.source}: state machine {state_machine_name!r} has no test case {test_case_name!r}"
            )
        try:
            return moto_mock_config._mock_test_case_from_raw(
                state_machine_name=state_machine_name,
                test_case_name=test_case_name,
                raw_mock_config=self._raw,
            )
        except (RuntimeError, ValueError) as err:
            raise MockConfigError(f"{self.source}: {state_machine_name}#{test_case_name}: {err}") from err

    def test_cases(self) -> dict[str, list[str]]:
        """State machine name -> its test case names (tests use this to prove none is orphaned)."""
        return {name: list(machine.TestCases) for name, machine in self._raw.StateMachines.items()}
