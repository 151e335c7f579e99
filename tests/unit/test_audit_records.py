"""Every audit record the workflows write is in the frame callrec.audit_records names once: insert-only, keyed by
the session and a time-ordered key, naming its execution."""

from __future__ import annotations

import json

import pytest

from callrec import audit_records, definitions

DEFINITIONS = sorted(definitions.DEFINITIONS.glob("*.asl.json"))


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda path: path.name)
def test_every_audit_record_is_in_the_frame(path):
    definition = json.loads(path.read_text())
    assert audit_records.puts(definition), "a workflow that audits nothing has no frame to keep"
    assert audit_records.applied(definition) == definition, "run: python -m callrec.audit_records --write"


def test_a_key_out_of_the_frame_is_refused_by_name():
    with pytest.raises(ValueError, match="an audit record's key must be"):
        audit_records.order_of("{% $states.context.State.EnteredTime & '#' & $uuid() %}")


def test_recording_session_knows_its_session_only_by_its_execution_name():
    """One source for the session's id: the execution's name (the entry points name it after the session), never
    a copy in the input that could say otherwise."""
    text = (definitions.DEFINITIONS / "recording_session.asl.json").read_text()
    assert "$states.input.sessionId" not in text and text.count("$states.context.Execution.Name") > 40
