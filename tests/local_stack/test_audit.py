"""The audit trail is insert-only in practice: every write the workflows make is conditional (it never
replaces a record) and its key carries a random part. Reproduced before: the workflow's keys were
`EnteredTime#StateName`, readable from the execution history, and its puts had no condition, so anyone
holding the audit table's PutItem replaced a RECORDING_STARTED record with CONSENT_DECLINED."""

from __future__ import annotations

import json
import threading

import pytest

from callrec import demo
from callrec.stack import client
from callrec.template import REPO_ROOT
from callrec_shared import audit_chain
from tests.eventually import eventually
from tests.local_stack.streams import unread


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
    started = next(e for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "Save Recording Started")
    table = centre.deployment.physical("AuditTable")
    before = centre.audit(call.session_id)
    original = next(a for a in before if a["event"] == "RECORDING_STARTED")
    guessed = f"{started['timestamp'] if isinstance(started['timestamp'], str) else started['timestamp'].isoformat()}#Save Recording Started"
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


@pytest.mark.parametrize(
    ("play", "rule", "caller", "answered"),
    [
        (demo.chime_opt_in("1"), "opt-in", ("caller", "US-CA", "area-code"), ("accepted", "sma", "1")),
        (demo.connect_notice, "notice", ("caller", "US-TX", "area-code"), ("heard", "contact-flow", None)),
    ],
    ids=["chime", "connect"],
)
def test_the_consent_evidence_is_in_the_audit_trail_without_a_phone_number(centre, play, rule, caller, answered):
    """The decision (the rule, each party's jurisdiction and where it came from) and the answer (which key,
    by whom, when) are in the insert-only audit, not only on the session record, which changes: on both
    providers (a Connect call's audit once held no decision at all)."""
    call = play(centre)
    centre.finish(call.session_id)
    audit = {a["event"]: a for a in centre.audit(call.session_id)}
    decision = json.loads(audit["CONSENT_DECIDED"]["decision"])
    assert decision["decision"] == rule and decision["policyVersion"]
    assert {(p["role"], p["jurisdiction"], p["source"]) for p in decision["parties"]} >= {caller}
    answer = json.loads(audit["CONSENT_ANSWERED"]["answer"])
    assert (answer["answer"], answer["by"], answer.get("digit")) == answered and answer["at"]
    everything = json.dumps(centre.audit(call.session_id))
    for number in (demo.CALIFORNIA_CALLER, demo.TEXAS_CALLER, demo.CENTRE_TEXAS, demo.CENTRE_TOLL_FREE):
        assert number not in everything and number.lstrip("+") not in everything


def _decided_prompt(centre, session_id: str) -> dict:
    audit = {a["event"]: a for a in centre.audit(session_id)}
    return json.loads(audit["CONSENT_DECIDED"]["decision"])["promptObject"]


def test_the_consent_evidence_names_the_exact_prompt_object_played(centre):
    """Not only a version string from the policy: the prompt object's S3 version id and ETag as the versioned
    prompt bucket held it. A prompt replaced later is a new version; the earlier call's evidence still names
    the one its caller heard."""
    first = demo.chime_opt_in("1")(centre)
    centre.finish(first.session_id)
    heard = _decided_prompt(centre, first.session_id)
    s3 = client("s3")
    head = s3.head_object(Bucket=heard["bucket"], Key=heard["key"])
    assert (heard["versionId"], heard["etag"]) == (head["VersionId"], head["ETag"].strip('"'))
    assert heard["key"] == "prompts/recording-opt-in-v1.wav" and heard["versionId"] != "null"

    replaced = s3.put_object(
        Bucket=heard["bucket"],
        Key=heard["key"],
        Body=s3.get_object(Bucket=heard["bucket"], Key=heard["key"])["Body"].read() + b"\0\0",
    )
    second = demo.chime_opt_in("1")(centre)
    centre.finish(second.session_id)

    assert _decided_prompt(centre, second.session_id)["versionId"] == replaced["VersionId"] != heard["versionId"]
    assert _decided_prompt(centre, first.session_id) == heard  # the evidence of the first call is unchanged


def _played_and_verified(centre):
    call = demo.connect_payment(centre)
    centre.finish(call.session_id)
    centre.verification(call.session_id)
    return call.session_id


def _items(centre, session_id: str) -> list[dict]:
    """The session's audit items as stored (records and seals)."""
    return client("dynamodb").query(
        TableName=centre.deployment.physical("AuditTable"),
        KeyConditionExpression="sessionId = :s",
        ExpressionAttributeValues={":s": {"S": session_id}},
    )["Items"]


def _seals(centre, session_id: str) -> list[dict]:
    """The session's seals as stored, in order."""
    return [item for item in _items(centre, session_id) if audit_chain.is_seal(item)]


def _record(centre, session_id: str, event: str) -> dict:
    return next(item for item in _items(centre, session_id) if item["event"]["S"] == event)


def _verify_cli(centre, session_id: str, capsys) -> tuple[int, str]:
    from callrec import cli

    code = cli.main(
        [
            "audit",
            "verify",
            session_id,
            "--audit-table",
            centre.deployment.physical("AuditTable"),
            "--sessions-table",
            centre.deployment.physical("SessionsTable"),
        ]
    )
    return code, capsys.readouterr().out


def test_the_audit_chain_holds_and_the_attestation_carries_its_head(centre, capsys):
    session_id = _played_and_verified(centre)

    report = centre.audit_chain(session_id)

    assert report.problems == [] and report.seals >= 2, report.to_dict()
    sealed = {r["event"] for r in report.records if r["state"] == "sealed"}
    # the entry points' records, the workflow's before the verification, and the verdict (sealed after it)
    assert {"START_REQUESTED", "SIGNAL_RECEIVED", "RECORDING_STARTED", "RECORDING_VERIFIED"} <= sealed
    # a record the workflow writes after the last seal (the call went on after the verification) is reported
    # unsealed - unverified - never as holding
    assert report.holds == (report.unsealed == [])
    code, out = _verify_cli(centre, session_id, capsys)
    assert (code, "chain holds" in out) == ((0, True) if report.holds else (1, False))


def test_the_trail_is_chained_as_it_is_written_while_the_call_goes_on(centre):
    """Before, the records were sealed only as the call ended: during a call (minutes to hours) none was chained,
    and one changed then was never named. Now the audit table's stream seals each new record moments after its
    write (AuditSealer): mid-call the chain holds, and a record changed mid-call is named."""
    from callrec_shared import sessions

    call = centre.connect_call_recording(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    eventually(lambda: centre.audit_chain(call.session_id), lambda report: report.holds, what="the trail chained")
    sessions.signal(call.session_id, "suspend", actor="api", wait_seconds=5.0)  # a window: new records mid-call
    report = eventually(
        lambda: centre.audit_chain(call.session_id),
        lambda report: report.holds and "WINDOW_OPENED" in {r["event"] for r in report.records},
        what="the window's records chained",
    )
    assert centre.session(call.session_id)["status"] == "RECORDING"  # all of it before the call ended
    assert "AuditSealer" in {item.get("actor", {}).get("S") for item in _items(centre, call.session_id)}
    assert centre.session(call.session_id)["auditHead"] == report.head
    opened = _record(centre, call.session_id, "WINDOW_OPENED")  # changed mid-call: named at once
    client("dynamodb").put_item(
        TableName=centre.deployment.physical("AuditTable"), Item={**opened, "event": {"S": "WINDOW_CLOSED"}}
    )
    assert centre.audit_chain(call.session_id).problems == [f"record {opened['at']['S']}: changed after it was sealed"]


def test_the_verdict_closes_the_trail_and_a_record_inserted_after_it_is_never_sealed(centre):
    """The workflows no longer seal after the verdict (a Lambda and a state each): the audit table's stream brings
    the verdict's record to AuditSealer, whose seal covers it and closes the trail. A record inserted after that
    comes to the sealer too, and is left unsealed: reported, never chained in as if it belonged."""
    from callrec import engine

    session_id = _played_and_verified(centre)  # waits for the trail to close
    verdict = _record(centre, session_id, "RECORDING_VERIFIED")
    assert audit_chain.is_closed(session_id, centre.session(session_id))
    sealed = _seals(centre, session_id)
    assert sealed[-1]["actor"]["S"] == "AuditSealer"
    assert verdict["at"]["S"] in {at for at, _ in json.loads(sealed[-1]["covers"]["S"])}

    sealer = next(m for m in engine.settings.pollers if m.function.name.endswith("AuditSealer"))
    late = {**verdict, "at": {"S": "9999" + verdict["at"]["S"][4:]}, "event": {"S": "RECORDING_VERIFIED"}}
    client("dynamodb").put_item(TableName=centre.deployment.physical("AuditTable"), Item=late)
    eventually(lambda: unread(sealer), lambda left: left <= 0, what="the late record at the sealer")

    report = centre.audit_chain(session_id)
    assert report.unsealed == [late["at"]["S"]] and report.problems == []
    assert [s["at"]["S"] for s in _seals(centre, session_id)] == [s["at"]["S"] for s in sealed]


def test_a_recorded_call_s_end_is_chained_while_its_verification_still_looks(centre):
    """A recorded call's workflow no longer seals its end (the verification does, before it signs): the stream
    seals it, moments after the write, and not only once the recording lands (up to twice LandingWaitSeconds
    later; here it never does)."""
    never_lands = next(s for s in demo.SCENARIOS if s.name == "connect-recording-never-lands")
    call = never_lands.play(centre)
    centre.finish(call.session_id)
    eventually(
        lambda: centre.audit_chain(call.session_id),
        lambda report: report.holds and "CALL_ENDED" in {r["event"] for r in report.records},
        what="the call's end chained",
    )
    assert "verifiedAt" not in centre.session(call.session_id)  # all of it while the verification still looks
    centre.verification(call.session_id)
    assert centre.session(call.session_id)["verification"] == "MISSING" and centre.audit_chain(call.session_id).holds


def test_an_overwritten_record_is_named(centre, capsys):
    session_id = _played_and_verified(centre)
    original = _record(centre, session_id, "RECORDING_STARTED")
    table = centre.deployment.physical("AuditTable")
    client("dynamodb").put_item(TableName=table, Item={**original, "event": {"S": "CONSENT_DECLINED"}})

    report = centre.audit_chain(session_id)

    assert not report.holds
    assert report.problems == [f"record {original['at']['S']}: changed after it was sealed"]
    code, out = _verify_cli(centre, session_id, capsys)
    assert code == 1 and f"BROKEN    record {original['at']['S']}: changed" in out


def test_a_deleted_or_moved_record_is_named(centre):
    session_id = _played_and_verified(centre)
    table = centre.deployment.physical("AuditTable")
    deleted = _record(centre, session_id, "RECORDING_STARTED")
    moved = _record(centre, session_id, "START_REQUESTED")
    dynamodb = client("dynamodb")
    dynamodb.delete_item(TableName=table, Key={"sessionId": deleted["sessionId"], "at": deleted["at"]})
    dynamodb.delete_item(TableName=table, Key={"sessionId": moved["sessionId"], "at": moved["at"]})
    later = "9999" + moved["at"]["S"][4:]  # reordered: the same record, now sorting after everything
    dynamodb.put_item(TableName=table, Item={**moved, "at": {"S": later}})

    report = centre.audit_chain(session_id)

    assert not report.holds
    missing = sorted(p for p in report.problems if "missing" in p)
    assert missing == sorted(
        f"record {at}: missing (deleted, or moved to another key) - sealed by {seal}"
        for at, seal in _sealed_by(centre, session_id, deleted["at"]["S"], moved["at"]["S"])
    )
    assert later in report.unsealed


def _sealed_by(centre, session_id: str, *keys: str) -> list[tuple[str, str]]:
    seals = _seals(centre, session_id)
    return [
        (key, next(s["at"]["S"] for s in seals if key in {at for at, _ in json.loads(s["covers"]["S"])}))
        for key in keys
    ]


def test_a_replaced_seal_or_a_moved_head_is_named(centre):
    session_id = _played_and_verified(centre)
    table = centre.deployment.physical("AuditTable")
    first = next(item for item in _items(centre, session_id) if item["at"]["S"] == "SEAL#000001")
    covered = [at for at, _ in json.loads(first["covers"]["S"])]
    client("dynamodb").put_item(TableName=table, Item={**first, "covers": {"S": "[]"}})  # forget what it covered

    report = centre.audit_chain(session_id)

    assert report.problems == ["seal SEAL#000001: changed (its hash does not match what it covers)"]
    assert sorted(report.unsealed) == sorted(covered)  # what it covered is covered by nothing now

    client("dynamodb").put_item(TableName=table, Item=first)  # put back; now the session's head is moved
    client("dynamodb").update_item(
        TableName=centre.deployment.physical("SessionsTable"),
        Key={"sessionId": {"S": session_id}},
        UpdateExpression="SET auditHead = :h",
        ExpressionAttributeValues={":h": {"S": first["hash"]["S"]}},
    )
    assert centre.audit_chain(session_id).problems == [
        "the session's auditHead is not the last seal (a seal was removed or replaced)"
    ]


def test_get_audit_answers_the_records_and_names_what_broke(centre, api):
    from callrec.local_api import signed

    session_id = _played_and_verified(centre)
    before = signed("GET", f"{api}/recordings/{session_id}/audit").json()
    original = _record(centre, session_id, "RECORDING_STARTED")
    client("dynamodb").put_item(
        TableName=centre.deployment.physical("AuditTable"), Item={**original, "actor": {"S": "intruder"}}
    )

    after = signed("GET", f"{api}/recordings/{session_id}/audit")

    assert before["problems"] == [] and before["seals"] >= 2
    assert after.status_code == 200 and after.json()["holds"] is False
    assert after.json()["problems"] == [f"record {original['at']['S']}: changed after it was sealed"]
    assert signed("GET", f"{api}/recordings/00000000-0000-4000-8000-000000000000/audit").status_code == 404


def test_a_new_record_is_sealed_without_reading_the_whole_trail_again(centre, monkeypatch):
    """AuditSealer seals what the stream brings it: it reads the session's records from the earliest of its batch
    on, and its seals from the newest back to the first that covers none of them, not the whole trail again.
    Before, each seal read every record (n*n/2 reads in all: a 2,000-record call read two million items), and then
    every seal (the last part of a call's cost that grew with its length)."""
    from callrec import engine
    from callrec_shared import sessions

    session_id = "00000000-0000-4000-8000-0000000000a1"
    trail = 60
    for index in range(trail):  # sealed one by one: a trail of about as many seals as records
        sessions.audit(session_id, "SIGNAL_REJECTED", "api", signal="resume", reason=f"flood {index}")
        audit_chain.seal(session_id, "api")
    eventually(
        lambda: centre.audit_chain(session_id),
        lambda report: report.holds and len(report.records) == trail,
        what="the trail sealed",
    )
    assert len(_seals(centre, session_id)) >= trail / 2
    sealer = next(m for m in engine.settings.pollers if m.function.name.endswith("AuditSealer"))
    table = centre.deployment.physical("AuditTable")
    eventually(  # and every record and seal brought to the sealer (a batch may still read what is sealed)
        lambda: (sealer.delivered, client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]),
        lambda counts: counts[0] == counts[1],
        what="the stream read to its end",
    )
    read: list[tuple[int, int]] = []  # (records, seals) each seal's reads of the trail returned
    sealing = threading.local()
    seal, dynamodb = audit_chain.seal, audit_chain.client("dynamodb")

    class Counted:  # the sealer's DynamoDB client, counting what its queries return while it seals
        def __getattr__(self, name):
            return getattr(dynamodb, name)

        def query(self, **request):
            page = dynamodb.query(**request)
            if getattr(sealing, "now", None) is not None:
                items = page["Items"]
                sealing.now[0] += sum(not audit_chain.is_seal(item) for item in items)
                sealing.now[1] += sum(audit_chain.is_seal(item) for item in items)
            return page

    def sealed(*args, **kwargs):
        sealing.now = [0, 0]
        try:
            return seal(*args, **kwargs)
        finally:
            read.append(tuple(sealing.now))
            sealing.now = None

    monkeypatch.setattr(audit_chain, "client", lambda service: Counted() if service == "dynamodb" else None)
    monkeypatch.setattr(audit_chain, "seal", sealed)
    centre.sim.clock.advance(1.0)  # a moment later (the call clock stands still unless moved)
    sessions.audit(session_id, "SIGNAL_REJECTED", "api", signal="resume", reason="one more")
    eventually(
        lambda: audit_chain.verify(session_id, None),
        lambda report: report.holds and len(report.records) == trail + 1,
        what="the new record sealed",
    )
    assert read and max(records for records, _ in read) == 1  # the new record, not the 60 before it
    assert max(seals for _, seals in read) <= audit_chain.SEALS_PER_READ  # a page of the newest seals, not all 60


def test_a_record_written_after_its_time_may_be_covered_twice_and_the_chain_still_holds(centre):
    """AuditSealer reads the newest seals only, back to the first that covers only records of an earlier time than
    its batch's. A record keyed at one time and sealed, then one keyed earlier written later (a stalled writer) and
    sealed, then the first brought again (Lambda reads a batch again after a failure): the sealer sees only the
    last seal, and covers the first record again. `verify` holds: the same record under the same hash twice."""
    from callrec import engine
    from callrec_shared import sessions

    next(m for m in engine.settings.pollers if m.function.name.endswith("AuditSealer")).stop()  # sealed here only
    session_id = "00000000-0000-4000-8000-0000000000a2"
    earlier = sessions._audit_item(session_id, "SIGNAL_REJECTED", "api", signal="resume", reason="stalled")
    centre.sim.clock.advance(1.0)
    sessions.audit(session_id, "SIGNAL_REJECTED", "api", signal="resume", reason="on time")
    audit_chain.seal(session_id, "api")
    client("dynamodb").put_item(TableName=centre.deployment.physical("AuditTable"), Item=earlier)
    audit_chain.seal(session_id, "api")
    on_time = next(
        item["at"]["S"] for item in _items(centre, session_id) if item.get("reason", {}).get("S") == "on time"
    )

    audit_chain.seal(session_id, "AuditSealer", since=on_time)  # the batch that brought it, read again

    covers = [[at for at, _ in json.loads(seal["covers"]["S"])] for seal in _seals(centre, session_id)]
    assert covers == [[on_time], [earlier["at"]["S"]], [on_time]]
    report = audit_chain.verify(session_id, None)
    assert report.holds and report.seals == 3 and len(report.records) == 2


@pytest.mark.long
def test_a_long_trail_is_sealed_in_seals_that_stay_below_the_item_size_limit(centre):
    """DynamoDB items are at most 400 KB: a seal covers at most PER_SEAL records, and one call seals them all (what
    the stream's sealer has not sealed yet as they were written)."""
    from callrec_shared import sessions

    session_id = "00000000-0000-4000-8000-00000000beef"
    for index in range(audit_chain.PER_SEAL * 2 + 5):
        sessions.audit(session_id, "SIGNAL_REJECTED", "api", signal="resume", reason=f"flood {index}")

    head = audit_chain.seal(session_id, "api")

    report = audit_chain.verify(session_id, None)
    seals = _seals(centre, session_id)
    covered = [len(json.loads(item["covers"]["S"])) for item in seals]
    assert report.holds and head == seals[-1]["hash"]["S"] == report.head
    assert sum(covered) == audit_chain.PER_SEAL * 2 + 5 and max(covered) <= audit_chain.PER_SEAL
    assert max(len(json.dumps(item)) for item in seals) < 400_000 / 2
