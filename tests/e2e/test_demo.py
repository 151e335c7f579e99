"""`make demo` end to end: every scenario ends where it should, read back from history and the tables."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from callrec import demo
from callrec.stack import client
from callrec.template import REPO_ROOT

EXPECTED = {
    "connect-session-opened": ("SUCCEEDED", "Session Opened", ["SESSION_OPENED"]),
    "chime-session-opened": ("SUCCEEDED", "Session Opened", ["SESSION_OPENED"]),
    "duplicate-start": ("SUCCEEDED", "Session Already Open", ["SESSION_OPENED"]),
    "invalid-request": ("FAILED", "Request Rejected", []),
}


def test_every_demo_scenario_ends_in_its_state(aws):
    out = io.StringIO()
    results = demo.run(out=out)

    assert {r["scenario"] for r in results} == set(EXPECTED)
    for result in results:
        status, final_state, audit = EXPECTED[result["scenario"]]
        assert (result["execution_status"], result["final_state"], result["audit_records"]) == (status, final_state, audit)
        assert result["lambda_invocations"] == 1
        assert result["state_transitions"] == result["timeline"].count("StateEntered")
    printed = out.getvalue()
    for scenario in EXPECTED:
        assert f"== {scenario} " in printed
    assert "error InvalidRequest" in printed


def test_demo_json_is_one_object_per_call():
    completed = subprocess.run(
        [sys.executable, "-m", "callrec.cli", "demo", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    calls = json.loads(completed.stdout)
    assert [c["scenario"] for c in calls] == list(EXPECTED)
    for call in calls:
        assert {"scenario", "provider", "final_state", "state_transitions", "lambda_invocations"} <= set(call)
        assert call["final_state"] == EXPECTED[call["scenario"]][1]


def test_the_session_table_holds_one_record_per_opened_call(aws):
    demo.run(out=io.StringIO())
    # the demo ran inside this moto context: its tables are still here
    tables = client("dynamodb").list_tables()["TableNames"]
    sessions = next(t for t in tables if t.endswith("SessionsTable"))
    items = client("dynamodb").scan(TableName=sessions)["Items"]
    assert sorted(item["status"]["S"] for item in items) == ["OPENED"] * 3
