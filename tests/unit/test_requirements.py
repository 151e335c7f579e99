"""Every requirement is an exact pin from the package index, so a fresh machine installs the same tree.

A `name @ file:///...` line (what `pip freeze` writes for a package installed from a local wheel) installs on
the machine that wrote it and nowhere else: `make` then fails on a clean clone before any test runs.
"""

import re

import pytest

from callrec.template import REPO_ROOT

REQUIREMENTS = sorted((REPO_ROOT / "requirements").glob("*.txt"))
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")


def _loose(path) -> list[tuple[int, str]]:
    """(line number, requirement) of each requirement in `path` that is not an exact pin."""
    found = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-r "):
            continue
        requirement = line.split(" --hash=", 1)[0]
        if not PIN.match(requirement):
            found.append((number, requirement))
    return found


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda path: path.name)
def test_every_requirement_is_an_exact_pin_from_the_index(path):
    loose = [f"{path.name}:{number}" for number, _ in _loose(path)]
    assert not loose, f"not an exact pin from the package index (name==version): {loose}"


def test_the_check_catches_a_pin_to_a_local_wheel(tmp_path):
    frozen = tmp_path / "constraints.txt"
    frozen.write_text("moto==5.2.5\njsonata-python @ file:///tmp/dl/jsonata_python-0.7.1-py3-none-any.whl\n")
    assert _loose(frozen) == [(2, "jsonata-python @ file:///tmp/dl/jsonata_python-0.7.1-py3-none-any.whl")]
