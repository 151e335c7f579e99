"""What an entry point hands RecordingSession (callrec_shared.opening): every bad field of a request is named,
good requests get a stable session id and their consent decided."""

from __future__ import annotations

import copy

import pytest

from callrec_shared import consent, opening
from callrec_shared.identity import session_id_for
from callrec_shared.validation import InvalidRequest, validate

normalise = opening.normalise

CONNECT = {
    "provider": "connect",
    "call": {"InstanceId": "inst", "ContactId": "c-2", "InitialContactId": "c-1"},
    "parties": [{"number": "+14155550100", "role": "caller", "jurisdiction": "US-CA"}],
}
CHIME = {
    "provider": "chime",
    "call": {"SipMediaApplicationId": "sma", "TransactionId": "t-1", "CallId": "call-1"},
    "parties": [{"number": "+442071838750"}],
}


@pytest.fixture(autouse=True)
def deployment_records_these_calls(monkeypatch):
    """The entry points accept only the deployment's providers, Connect instance and SMA (the functions'
    environment): here, both providers and the ones CONNECT and CHIME name, whatever an earlier test left in
    os.environ."""
    monkeypatch.setenv("CONNECT_INSTANCE_ARN", "arn:aws:connect:us-east-1:123456789012:instance/inst")
    monkeypatch.setenv("SIP_MEDIA_APPLICATION_ID", "sma")
    monkeypatch.setenv("PROVIDERS", "connect,chime")


def _with(request: dict, path: str, value) -> dict:
    changed = copy.deepcopy(request)
    *parents, leaf = path.split(".")
    target = changed
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return changed


@pytest.mark.parametrize(
    "request_, field",
    [
        (_with(CONNECT, "provider", KeyError), "provider"),
        (_with(CONNECT, "provider", "twilio"), "provider"),
        (_with(CONNECT, "call.InstanceId", KeyError), "call.InstanceId"),
        (_with(CONNECT, "call.ContactId", ""), "call.ContactId"),
        (_with(CONNECT, "call.ContactId", "x" * 257), "call.ContactId"),
        (_with(CONNECT, "call.InstanceId", "x" * 101), "call.InstanceId"),
        (_with(CONNECT, "call.ContactId", 42), "call.ContactId"),
        (_with(CONNECT, "call.Extra", "x"), "call.Extra"),
        (_with(CONNECT, "parties", []), "parties"),
        (_with(CONNECT, "parties.0.number", "4155550100"), "parties.0.number"),
        (_with(CONNECT, "parties.0.jurisdiction", "California"), "parties.0.jurisdiction"),
        (_with(CONNECT, "surprise", True), "surprise"),
        (_with(CHIME, "call.CallId", KeyError), "call.CallId"),
        (_with(CHIME, "call.InstanceId", "inst"), "call.InstanceId"),
    ],
)
def test_bad_requests_name_the_field(request_, field):
    with pytest.raises(InvalidRequest) as raised:
        validate(request_, "start_recording_request")
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_good_requests_pass_unchanged():
    assert validate(CONNECT, "start_recording_request") is CONNECT
    assert validate(CHIME, "start_recording_request") is CHIME


def test_session_id_is_stable_per_call_and_distinct_between_calls():
    transferred = _with(CONNECT, "call.ContactId", "c-3")  # same initial contact after a transfer
    assert session_id_for(CONNECT) == session_id_for(transferred)
    assert session_id_for(CONNECT) != session_id_for(_with(CONNECT, "call.InitialContactId", "c-9"))
    assert session_id_for(CHIME) != session_id_for(_with(CHIME, "call.TransactionId", "t-2"))
    assert normalise(CONNECT)["sessionId"] == session_id_for(CONNECT)


def test_only_the_deployments_instance_and_sma_are_accepted():
    with pytest.raises(InvalidRequest) as raised:
        normalise(_with(CONNECT, "call.InstanceId", "another-instance"))
    assert (raised.value.field, raised.value.message) == ("call.InstanceId", "is not the one this deployment records")
    with pytest.raises(InvalidRequest) as raised:
        normalise(_with(CHIME, "call.SipMediaApplicationId", "another-sma"))
    assert raised.value.field == "call.SipMediaApplicationId"


def test_session_identity_has_no_separator_collisions():
    """Reproduced before: parts joined with "/" made (instance x, contact y/z) and (x/y, z) one session."""

    def connect(instance: str, contact: str) -> str:
        return session_id_for({"provider": "connect", "call": {"InstanceId": instance, "InitialContactId": contact}})

    assert connect("x", "y/z") != connect("x/y", "z")
    assert connect("x", "y") == connect("x", "y")


def test_patterns_match_the_whole_value_and_errors_never_echo_it():

    request = {
        "provider": "chime",
        "call": {"SipMediaApplicationId": "s", "TransactionId": "t", "CallId": "c"},
        "parties": [{"number": "+14155550123\n"}],
    }
    with pytest.raises(InvalidRequest) as raised:
        validate(request, "start_recording_request")
    assert (raised.value.field, raised.value.message) == ("parties.0.number", "does not match the expected format")
    request["parties"] = [{"number": "+4111111111111111"}, {"number": 4111111111111111}]
    with pytest.raises(InvalidRequest) as raised:
        validate(request, "start_recording_request")
    assert "4111" not in str(raised.value) and raised.value.field == "parties.1.number"


def test_lone_surrogates_and_deep_nesting_are_refused_naming_the_field():
    from callrec_shared.validation import InvalidRequest, parse_json, validate

    with pytest.raises(InvalidRequest) as raised:
        validate(parse_json('{"provider": "chime", "call": {"TransactionId": "\\ud800"}}'), "start_recording_request")
    assert (raised.value.field, raised.value.message) == ("call.TransactionId", "is not valid Unicode text")
    with pytest.raises(InvalidRequest) as raised:
        parse_json("[" * 100_000 + "]" * 100_000)
    assert raised.value.field == "(body)"
    with pytest.raises(InvalidRequest) as raised:
        validate(
            {"parties": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
            "start_recording_request",
        )
    assert raised.value.field == "(payload)"


def test_a_valid_request_comes_back_with_its_consent_decided():
    """Validated and decided in one step: the strictest rule over the parties (a Californian: opt-in)."""
    session = opening.opened(CONNECT)
    assert session["sessionId"] == session_id_for(CONNECT)
    decision = session["consent"]["decision"]
    assert decision["decision"] == "opt-in"
    assert decision["promptObject"]["key"] == decision["promptKey"]
    assert "unavailable" in decision["promptObject"]  # no prompt bucket here: said so, never left out


def test_a_policy_that_cannot_decide_fails_as_consent_policy_failed_and_an_invalid_request_stays_invalid(monkeypatch):
    """The failure is named by its kind only: what it said may hold a value of the request (before, the message
    was kept, and the session's outcome reason, written from it, could hold the caller's number in clear)."""

    def broken(parties):
        raise KeyError(parties[0]["number"])

    monkeypatch.setattr(consent, "decide", broken)
    with pytest.raises(opening.ConsentPolicyFailed, match="^KeyError$"):
        opening.opened(CONNECT)
    with pytest.raises(InvalidRequest, match="provider"):  # validation comes first, and is not a policy failure
        opening.opened(_with(CONNECT, "provider", "twilio"))
