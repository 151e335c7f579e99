"""The consent policy: the strictest rule of every party, unknown counts as all-party, config-driven."""

from __future__ import annotations

import copy

import pytest

from callrec.stack import load_handler
from callrec.template import REPO_ROOT
from callrec_shared import consent
from callrec_shared.validation import InvalidRequest, validate

decision_for = load_handler(REPO_ROOT / "functions" / "consent_policy", "app.decision_for", "ConsentPolicy")
POLICY = consent.load_policy()


def _decide(*numbers, **hints):
    parties = [{"number": n, "role": r} for n, r in zip(numbers, ("caller", "callee", "agent"))]
    for index, jurisdiction in hints.items():
        parties[int(index[1:])]["jurisdiction"] = jurisdiction
    return consent.decide(parties)


@pytest.mark.parametrize("number, jurisdiction", [
    ("+14155550123", "US-CA"), ("+15125550100", "US-TX"), ("+13055550100", "US-FL"), ("+14165550100", "CA-ON"),
    ("+18765550100", "JM"), ("+442071838750", "GB"), ("+4930123456", "DE"), ("+18005550199", "unknown"),
    ("+99912345", "unknown"),
])
def test_jurisdiction_from_the_number(number, jurisdiction):
    assert consent.jurisdiction_of(number, POLICY, consent.load_area_codes())[0] == jurisdiction


@pytest.mark.parametrize("numbers, decision, strictest", [
    (("+15125550100", "+15125550199"), "notice", "US-TX"),        # one-party both sides
    (("+15125550100", "+14155550123"), "opt-in", "US-CA"),        # one all-party party is enough
    (("+14155550123", "+15125550199"), "opt-in", "US-CA"),        # whichever side it is
    (("+15125550100", "+18005550199"), "opt-in", "unknown"),      # a toll-free number: cannot tell -> all-party
    (("+15125550100", "+17025550100"), "opt-in", "US-NV"),        # disputed states count as all-party
    (("+14165550100",), "notice", "CA-ON"),                       # country rule when the province is not listed
    (("+442071838750",), "opt-in", "GB"),                         # not listed -> the default rule (all-party)
])
def test_the_strictest_rule_of_every_party_applies(numbers, decision, strictest):
    result = _decide(*numbers)
    assert result.decision == decision
    assert f"in {strictest}," in result.reason
    assert result.policyVersion == POLICY["version"]
    assert result.promptVersion == POLICY["prompts"][decision]["version"]


def test_a_hint_overrides_the_number():
    assert _decide("+15125550100", "+18005550199", p1="US-TX").decision == "notice"
    assert _decide("+15125550100", p0="US-CA").parties[0].source == "hint"


def test_the_policy_is_configuration(monkeypatch):
    strict = copy.deepcopy(POLICY)
    strict["modes"]["one-party"] = "opt-in"  # a deployer who wants opt-in everywhere
    assert consent.decide([{"number": "+15125550100"}], policy=strict).decision == "opt-in"
    lenient = copy.deepcopy(POLICY)
    lenient["modes"]["one-party"] = "none"
    assert consent.decide([{"number": "+15125550100"}], policy=lenient).decision == "none"
    assert consent.decide([{"number": "+15125550100"}], policy=lenient).promptKey == ""


def test_the_shipped_documents_match_their_schemas():
    validate(POLICY, "consent_policy_document")
    broken = copy.deepcopy(POLICY)
    broken["modes"]["all-party"] = "maybe"
    with pytest.raises(InvalidRequest) as raised:
        validate(broken, "consent_policy_document")
    assert raised.value.field == "modes.all-party"
    assert all(len(code) == 3 for code in consent.load_area_codes())


def test_the_function_validates_its_input_and_output():
    with pytest.raises(InvalidRequest) as raised:
        decision_for({"parties": [{"number": "5125550100"}]})
    assert raised.value.field == "parties.0.number"
    with pytest.raises(InvalidRequest):
        decision_for({"parties": []})
    assert decision_for({"parties": [{"number": "+15125550100"}], "provider": "connect"})["decision"] == "notice"
