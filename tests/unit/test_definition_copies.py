"""A state a definition holds twice on purpose (to end one path where another goes on) is the same state: a
change to one that is not made to the other fails here."""

from __future__ import annotations

import json

import pytest

from callrec.template import REPO_ROOT

# (definition, the state, its copy): they may differ only in where they go next and in their comments
COPIES = [("verify_recording.asl.json", "Save Verdict", "Save Verdict For Alert")]
ROUTING = {"Next", "End", "Comment"}


@pytest.mark.parametrize(("definition", "source", "copy"), COPIES)
def test_a_copied_state_does_what_its_source_does(definition, source, copy):
    states = json.loads((REPO_ROOT / "statemachines" / definition).read_text())["States"]
    same = {key: value for key, value in states[source].items() if key not in ROUTING}
    assert {key: value for key, value in states[copy].items() if key not in ROUTING} == same
    assert states[source].get("Next") != states[copy].get("Next")  # else the copy has no reason to exist
