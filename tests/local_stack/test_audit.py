"""The audit trail is insert-only in practice: every write the workflows make is conditional (it never
replaces a record) and its key carries a random part. Reproduced before: the workflow's keys were
`EnteredTime#StateName`, readable from the execution history, and its puts had no condition, so anyone
holding the audit table's PutItem replaced a RECORDING_STARTED record with CONSENT_DECLINED."""

from __future__ import annotations

import json

from callrec import demo
from callrec.stack import client
from callrec.template import REPO_ROOT


def _audit_puts(definition: dict):
    def walk(node):
        if isinstance(node, dict):
            put = node.get("Put")
            if isinstance(put, dict) and put.get("TableName") == "${AuditTableName}":
                yield put
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    return list(walk(definition))


def test_every_audit_write_of_the_workflows_is_conditional_with_an_unguessable_key():
    for name in ("recording_session", "verify_recording"):
        puts = _audit_puts(json.loads((REPO_ROOT / "statemachines" / f"{name}.asl.json").read_text()))
        assert puts, name
        for put in puts:
            assert put["ConditionExpression"] == "attribute_not_exists(sessionId)", name
            key = put["Item"]["at"].get("S.$") or put["Item"]["at"]["S"]  # JSONPath or JSONata
            assert "States.UUID()" in key or "$uuid()" in key, name


def test_a_record_cannot_be_replaced_by_the_key_the_history_shows(centre):
    call = demo.connect_notice(centre)
    _, history = centre.finish(call.session_id)
    centre.verification(call.session_id)  # its verdict's audit record is written too: count after it
    started = next(
        e for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "Record Recording Started"
    )
    table = centre.deployment.physical("AuditTable")
    before = centre.audit(call.session_id)
    original = next(a for a in before if a["event"] == "RECORDING_STARTED")
    guessed = f"{started['timestamp'] if isinstance(started['timestamp'], str) else started['timestamp'].isoformat()}#Record Recording Started"
    client("dynamodb").put_item(
        TableName=table,
        Item={
            "sessionId": {"S": call.session_id},
            "at": {"S": guessed},
            "event": {"S": "CONSENT_DECLINED"},
            "actor": {"S": "intruder"},
        },
    )
    after = centre.audit(call.session_id)
    assert next(a for a in after if a["at"] == original["at"]) == original  # still there, unchanged
    assert len(after) == len(before) + 1 and original["at"] != guessed and original["at"].count("#") == 2


def test_the_consent_evidence_is_in_the_audit_trail_without_a_phone_number(centre):
    """The decision (the rule, each party's jurisdiction and where it came from) and the answer (which key,
    by whom, when) are in the insert-only audit, not only on the session record, which changes."""
    call = demo.chime_opt_in("1")(centre)
    centre.finish(call.session_id)
    audit = {a["event"]: a for a in centre.audit(call.session_id)}
    decision = json.loads(audit["CONSENT_DECIDED"]["decision"])
    assert decision["decision"] == "opt-in" and decision["policyVersion"]
    assert {(p["role"], p["jurisdiction"], p["source"]) for p in decision["parties"]} >= {
        ("caller", "US-CA", "area-code")
    }
    answer = json.loads(audit["CONSENT_ANSWERED"]["answer"])
    assert (answer["answer"], answer["by"], answer["digit"]) == ("accepted", "sma", "1") and answer["at"]
    everything = json.dumps(centre.audit(call.session_id))
    for number in (demo.CALIFORNIA_CALLER, demo.CALIFORNIA_CALLER.lstrip("+"), demo.CENTRE_TEXAS.lstrip("+")):
        assert number not in everything
