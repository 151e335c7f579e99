"""The trail closes at its verdict: the seal that covers the record VerifyRecording wrote in the transaction that set
the session's `verifiedAt` (callrec_shared.audit_chain.closed). A record that only claims to be a verdict (its
actor) does not close it, so AuditSealer goes on sealing until the real verdict is sealed."""

from __future__ import annotations

import json

from callrec_shared import audit_chain

VERIFIED_AT = "2026-11-30T12:00:05.000Z"


def _record(at: str, actor: str) -> dict:
    return {"sessionId": {"S": "s-1"}, "at": {"S": at}, "event": {"S": "RECORDING_VERIFIED"}, "actor": {"S": actor}}


def _seal(seq: int, *records: dict) -> dict:
    covers = [[r["at"]["S"], audit_chain.record_hash(r)] for r in records]
    return {
        "sessionId": {"S": "s-1"},
        "at": {"S": f"{audit_chain.SEAL_PREFIX}{seq:06d}"},
        "covers": {"S": json.dumps(covers)},
    }


def test_the_sealed_verdict_closes_the_trail():
    verdict = _record(f"{VERIFIED_AT}#RECORDING_VERIFIED#u1", "VerifyRecording")
    assert not audit_chain.closed([verdict], VERIFIED_AT)  # saved, not sealed yet
    assert audit_chain.closed([verdict, _seal(1, verdict)], VERIFIED_AT)


def test_a_record_that_only_claims_to_be_the_verdict_does_not_close_it():
    forged = _record("2026-11-30T12:00:01.000Z#RECORDING_VERIFIED#u0", "VerifyRecording")  # sealed mid-call
    wrong_actor = _record(f"{VERIFIED_AT}#RECORDING_VERIFIED#u2", "intruder")
    items = [forged, wrong_actor, _seal(1, forged, wrong_actor)]
    assert not audit_chain.closed(items, VERIFIED_AT)
