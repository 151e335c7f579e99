"""The consent decision: which rule applies to a call, from the parties' numbers and hints.

Pure functions over two documents the deployer owns: `config/consent_policy.json` (rules per
jurisdiction, what each rule means for the caller, the prompts) and `config/nanp_area_codes.json`.
The strictest rule among all parties applies; a jurisdiction the policy does not list, or one that
cannot be told from the number, counts as the policy's `defaultRule` (all-party in the shipped one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from callrec_shared import resources
from callrec_shared.validation import validate

MODES = ("none", "notice", "opt-in")  # from least to most strict


@dataclass(frozen=True)
class PartyRule:
    role: str
    jurisdiction: str  # ISO 3166 code, or "unknown"
    source: str  # "hint", "area-code", "country-code", "unknown"
    rule: str  # "one-party" or "all-party"


@dataclass(frozen=True)
class Decision:
    decision: str  # none | notice | opt-in
    reason: str
    policyVersion: str
    promptVersion: str
    promptKey: str
    parties: tuple[PartyRule, ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "parties": [asdict(p) for p in self.parties]}


def load_policy() -> dict:
    return validate(resources.load_json("config", "consent_policy.json"), "consent_policy_document")


def load_area_codes() -> dict[str, str]:
    return resources.load_json("config", "nanp_area_codes.json")["areaCodes"]


def jurisdiction_of(number: str, policy: dict, area_codes: dict[str, str]) -> tuple[str, str]:
    """(jurisdiction, how it was told) for an E.164 number."""
    digits = number.lstrip("+")
    if digits.startswith("1") and len(digits) == 11:
        found = area_codes.get(digits[1:4])
        return (found, "area-code") if found else ("unknown", "unknown")
    for length in (3, 2, 1):
        country = policy["countryCodes"].get(digits[:length])
        if country and country != "NANP":
            return country, "country-code"
    return "unknown", "unknown"


def rule_for(jurisdiction: str, policy: dict) -> str:
    """The jurisdiction's own rule, else its country's, else the default."""
    rules = policy["jurisdictions"]
    if jurisdiction in rules:
        return rules[jurisdiction]
    country = jurisdiction.split("-")[0]
    if jurisdiction != "unknown" and country in rules:
        return rules[country]
    return policy["defaultRule"]


def decide(parties: list[dict], policy: dict | None = None, area_codes: dict[str, str] | None = None) -> Decision:
    policy = policy or load_policy()
    area_codes = area_codes if area_codes is not None else load_area_codes()
    judged = []
    for index, party in enumerate(parties):
        role = party.get("role", f"party{index + 1}")
        if party.get("jurisdiction"):
            jurisdiction, source = party["jurisdiction"], "hint"
        else:
            jurisdiction, source = jurisdiction_of(party["number"], policy, area_codes)
        judged.append(PartyRule(role, jurisdiction, source, rule_for(jurisdiction, policy)))
    strictest = max(judged, key=lambda p: MODES.index(policy["modes"][p.rule]))
    decision = policy["modes"][strictest.rule]
    reason = (
        f"{decision}: strictest rule is {strictest.rule} ({strictest.role} in {strictest.jurisdiction}, "
        f"from {strictest.source})"
    )
    prompt = policy["prompts"].get(decision, {"version": "", "key": ""})
    return Decision(decision, reason, policy["version"], prompt["version"], prompt["key"], tuple(judged))
