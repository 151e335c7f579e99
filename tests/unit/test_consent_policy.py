"""The consent policy: the strictest rule of every party, unknown counts as all-party, config-driven."""

from __future__ import annotations

import copy

import pytest

from callrec_shared import consent, opening
from callrec_shared.validation import InvalidRequest, validate

decision_for = opening.decision_for
POLICY = consent.load_policy()


def _decide(*numbers, **hints):
    parties = [{"number": n, "role": r} for n, r in zip(numbers, ("caller", "callee", "agent"), strict=False)]
    for index, jurisdiction in hints.items():
        parties[int(index[1:])]["jurisdiction"] = jurisdiction
    return consent.decide(parties)


@pytest.mark.parametrize(
    "number, jurisdiction",
    [
        ("+14155550123", "US-CA"),
        ("+15125550100", "US-TX"),
        ("+13055550100", "US-FL"),
        ("+14165550100", "CA-ON"),
        ("+18765550100", "JM"),
        ("+442071838750", "GB"),
        ("+4930123456", "DE"),
        ("+18885550100", "unknown"),
        ("+18005550199", "US-TX"),  # the sample centre's toll-free line, declared in the policy's `numbers`
        ("+99912345", "unknown"),
    ],
)
def test_jurisdiction_from_the_number(number, jurisdiction):
    assert consent.jurisdiction_of(number, POLICY, consent.load_area_codes())[0] == jurisdiction


@pytest.mark.parametrize(
    "numbers, decision, strictest",
    [
        (("+15125550100", "+15125550199"), "notice", "US-TX"),  # one-party both sides
        (("+15125550100", "+14155550123"), "opt-in", "US-CA"),  # one all-party party is enough
        (("+14155550123", "+15125550199"), "opt-in", "US-CA"),  # whichever side it is
        (("+15125550100", "+18885550100"), "opt-in", "unknown"),  # a toll-free number: cannot tell -> all-party
        (("+15125550100", "+17025550100"), "opt-in", "US-NV"),  # disputed states count as all-party
        (("+14165550100",), "notice", "CA-ON"),  # country rule when the province is not listed
        (("+442071838750",), "opt-in", "GB"),  # not listed -> the default rule (all-party)
    ],
)
def test_the_strictest_rule_of_every_party_applies(numbers, decision, strictest):
    result = _decide(*numbers)
    assert result.decision == decision
    assert f"in {strictest}," in result.reason
    assert result.policyVersion == POLICY["version"]
    assert result.promptVersion == POLICY["prompts"][decision]["version"]


def test_a_hint_never_downgrades_what_the_number_says():
    """Reproduced before: a California caller (+1415...) with hint US-TX or US got `notice`, not `opt-in`."""
    for hint in ("US-TX", "US"):
        decision = _decide("+14155550123", "+15125550199", p0=hint)
        assert decision.decision == "opt-in", hint
        caller = decision.parties[0]
        assert (caller.jurisdiction, caller.source, caller.rule) == ("US-CA", "area-code", "all-party")
        assert [(e.jurisdiction, e.source) for e in caller.evidence] == [("US-CA", "area-code"), (hint, "hint")]
    stricter = _decide("+15125550100", "+15125550199", p0="US-CA")  # a hint may make it stricter
    assert stricter.decision == "opt-in" and stricter.parties[0].source == "hint"
    unknown = _decide("+15125550100", "+18885550100", p1="US-TX")  # nor relax a number that cannot tell
    assert unknown.decision == "opt-in"


def test_a_hint_naming_no_known_jurisdiction_counts_as_unknown():
    """Reproduced before: `US-ZZ` fell back to the country rule (one-party), `notice`."""
    decision = _decide("+15125550100", "+15125550199", p0="US-ZZ")
    assert decision.decision == "opt-in"
    assert decision.parties[0].evidence[1] == consent.Evidence("unknown", "hint", "all-party")
    assert _decide("+15125550100", "+15125550199", p0="CA-ON").decision == "notice"  # a known province


def test_a_party_without_a_number_is_an_unknown_party():
    """Reproduced before: an empty CustomerEndpoint.Address dropped the caller; the centre's number decided."""
    decision = consent.decide([{"role": "caller"}, {"number": "+15125550199", "role": "callee"}])
    assert decision.decision == "opt-in"
    assert (decision.parties[0].jurisdiction, decision.parties[0].source) == ("unknown", "unknown")


def test_the_evidence_holds_no_phone_number():
    text = str(_decide("+14155550123", "+15125550199", p0="US-TX").to_dict())
    assert "4155550123" not in text and "5125550199" not in text


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


NUMBERS = [
    "+14155550123",
    "+15125550100",
    "+13055550100",
    "+14165550100",
    "+18885550100",
    "+442071838750",
    "+4930123456",
    "+99912345",
    "+18005550199",
    "+17025550100",
]
HINTS = ["US", "US-TX", "US-CA", "US-ZZ", "CA", "CA-ON", "GB", "DE", "ZZ", "US-NV"]


def test_adding_a_hint_never_weakens_the_decision():
    """Property: for any parties, adding a jurisdiction hint to any one of them never yields a less strict
    decision (Hypothesis over numbers, hints and party counts)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    party = st.builds(
        lambda number, hint: {"number": number, **({"jurisdiction": hint} if hint else {})},
        st.sampled_from(NUMBERS + [None]),
        st.sampled_from(HINTS + [None]),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(party, min_size=1, max_size=4), st.data())
    def check(parties, data):
        parties = [{k: v for k, v in p.items() if v is not None} for p in parties]
        parties = [p if p else {"role": "caller"} for p in parties]
        before = consent.decide(parties, POLICY)
        unhinted = [i for i, p in enumerate(parties) if "jurisdiction" not in p]
        if not unhinted:
            return
        index = data.draw(st.sampled_from(unhinted))
        hinted = [dict(p) for p in parties]
        hinted[index]["jurisdiction"] = data.draw(st.sampled_from(HINTS))
        after = consent.decide(hinted, POLICY)
        assert consent.MODES.index(after.decision) >= consent.MODES.index(before.decision), (parties, hinted)

    check()
