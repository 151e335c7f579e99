"""The README's picture is generated from the definition, and the docs point only at the repository and at
public AWS documentation."""

from __future__ import annotations

import json
import re

from callrec import diagram
from callrec.template import REPO_ROOT


def test_every_state_is_in_exactly_one_phase_in_the_definitions_order():
    for machine_file, phases in json.loads(diagram.PHASES.read_text()).items():
        if machine_file.startswith("_"):
            continue
        states = json.loads((REPO_ROOT / "statemachines" / machine_file).read_text())["States"]
        placed = [state for names in phases.values() for state in names]
        assert sorted(placed) == sorted(states), machine_file
        assert placed == list(states), f"{machine_file} lists its states in another order than its phases (flow order)"


def test_the_readme_picture_is_the_generated_one():
    assert diagram.block() in (REPO_ROOT / "README.md").read_text(), "regenerate it: python -m callrec.diagram"


def test_docs_point_only_inside_the_repository():
    outside = re.compile(r"\.\./shared|seed document|\bissue \d+|\(#\d+\)")
    files = [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md", *(REPO_ROOT / "docs").glob("*.md")]
    for path in files:
        for line_number, line in enumerate(path.read_text().splitlines(), 1):
            assert not outside.search(line), f"{path.name}:{line_number}: {line.strip()}"
    for link in re.findall(r"\]\(([^)#]+)\)", (REPO_ROOT / "README.md").read_text()):
        if not link.startswith("http"):
            assert (REPO_ROOT / link).exists(), link
