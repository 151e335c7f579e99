"""The consent decision: which rule applies to a call, from the parties' numbers and hints.

Pure functions over two documents the deployer owns: `config/consent_policy.json` (rules per
jurisdiction, what each rule means for the caller, the prompts) and `config/nanp_area_codes.json`.
The strictest rule applies, over every party and every source of evidence about a party: the number
and a jurisdiction hint are both weighed, so a hint can only make the rule stricter, never replace what
the number says. A party without a number, a jurisdiction that cannot be told from the number, and a
hint that names no jurisdiction this policy or the area-code table knows (`US-ZZ`) all count as unknown:
the policy's `defaultRule` (all-party in the shipped one).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from callrec_shared import resources
from callrec_shared.aws import client
from callrec_shared.validation import validate

MODES = ("none", "notice", "opt-in")  # from least to most strict


@dataclass(frozen=True)
class Evidence:
    jurisdiction: str  # ISO 3166 code, or "unknown"
    source: str  # "policy" (a declared line), "area-code", "country-code", "hint", "unknown" (no number, or none that tells)
    rule: str  # "one-party" or "all-party"


@dataclass(frozen=True)
class PartyRule:
    """One party's rule: the strictest over its evidence (which it names as jurisdiction and source)."""

    role: str
    jurisdiction: str
    source: str
    rule: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Decision:
    decision: str  # none | notice | opt-in
    reason: str
    policyVersion: str
    promptVersion: str
    promptKey: str
    parties: tuple[PartyRule, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "parties": [{**asdict(p), "evidence": [asdict(e) for e in p.evidence]} for p in self.parties],
        }


def load_policy() -> dict[str, Any]:
    return validate(resources.load_json("config", "consent_policy.json"), "consent_policy_document")


def load_area_codes() -> dict[str, str]:
    return resources.load_json("config", "nanp_area_codes.json")["areaCodes"]


def jurisdiction_of(number: str, policy: dict[str, Any], area_codes: dict[str, str]) -> tuple[str, str]:
    """(jurisdiction, how it was told) for an E.164 number: the deployer's own declared lines first."""
    declared = policy.get("numbers", {}).get(number)
    if declared:
        return declared, "policy"
    digits = number.lstrip("+")
    if digits.startswith("1") and len(digits) == 11:
        found = area_codes.get(digits[1:4])
        return (found, "area-code") if found else ("unknown", "unknown")
    for length in (3, 2, 1):
        country = policy["countryCodes"].get(digits[:length])
        if country and country != "NANP":
            return country, "country-code"
    return "unknown", "unknown"


def known(jurisdiction: str, policy: dict[str, Any], area_codes: dict[str, str]) -> bool:
    """Does this policy (or the area-code table) know the jurisdiction? `US-ZZ` is not one."""
    return (
        jurisdiction in policy["jurisdictions"]
        or jurisdiction in area_codes.values()
        or jurisdiction in policy["countryCodes"].values()
    )


def rule_for(jurisdiction: str, policy: dict[str, Any]) -> str:
    """The jurisdiction's own rule, else its country's (for a known subdivision), else the default."""
    rules = policy["jurisdictions"]
    if jurisdiction in rules:
        return rules[jurisdiction]
    country = jurisdiction.split("-")[0]
    if jurisdiction != "unknown" and country in rules:
        return rules[country]
    return policy["defaultRule"]


def _strictness(rule: str, policy: dict[str, Any]) -> int:
    return MODES.index(policy["modes"][rule])


def judge(party: dict[str, Any], role: str, policy: dict[str, Any], area_codes: dict[str, str]) -> PartyRule:
    """Every source of evidence about one party, and the strictest rule over them."""
    evidence = []
    if party.get("number"):
        jurisdiction, source = jurisdiction_of(party["number"], policy, area_codes)
    else:
        jurisdiction, source = "unknown", "unknown"
    evidence.append(Evidence(jurisdiction, source, rule_for(jurisdiction, policy)))
    if party.get("jurisdiction"):
        hinted = party["jurisdiction"] if known(party["jurisdiction"], policy, area_codes) else "unknown"
        evidence.append(Evidence(hinted, "hint", rule_for(hinted, policy)))
    strictest = max(evidence, key=lambda e: _strictness(e.rule, policy))  # the first (the number's) on a tie
    return PartyRule(role, strictest.jurisdiction, strictest.source, strictest.rule, tuple(evidence))


def decide(
    parties: list[dict[str, Any]], policy: dict[str, Any] | None = None, area_codes: dict[str, str] | None = None
) -> Decision:
    policy = policy or load_policy()
    area_codes = area_codes if area_codes is not None else load_area_codes()
    judged = [
        judge(party, party.get("role", f"party{index + 1}"), policy, area_codes) for index, party in enumerate(parties)
    ]
    strictest = max(judged, key=lambda p: _strictness(p.rule, policy))
    decision = policy["modes"][strictest.rule]
    reason = (
        f"{decision}: strictest rule is {strictest.rule} ({strictest.role} in {strictest.jurisdiction}, "
        f"from {strictest.source})"
    )
    prompt = policy["prompts"].get(decision, {"version": "", "key": ""})
    return Decision(decision, reason, policy["version"], prompt["version"], prompt["key"], tuple(judged))


def prompt_object(key: str) -> dict[str, str]:
    """The exact prompt object a decision names, as the prompt bucket (versioned) holds it now: its S3 version id
    and ETag, the evidence of which recording notice was played. If it cannot be read, why (`unavailable`)."""
    bucket = os.environ.get("PROMPT_BUCKET", "")
    if not key or not bucket:
        return {"key": key, "unavailable": "no prompt" if not key else "no prompt bucket configured"}
    try:
        head = client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        return {"bucket": bucket, "key": key, "unavailable": err.response["Error"]["Code"]}
    return {"bucket": bucket, "key": key, "versionId": head.get("VersionId", "null"), "etag": head["ETag"].strip('"')}
