"""The contact-flow and SMA Lambdas in-process against the deployed stack: bad input gets a clear
answer naming what is wrong, and no execution is started; the SMA handler never raises."""

from __future__ import annotations

import copy

import pytest

from callrec.stack import client


def _executions(centre) -> int:
    return len(
        client("stepfunctions").list_executions(
            stateMachineArn=centre.deployment.state_machine_arn("RecordingSession")
        )["executions"]
    )


def _flow_event(operation="start", **parameters):
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "ContactId": "c-1",
                "InitialContactId": "c-1",
                "PreviousContactId": "c-0",
                "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-00000000c0de",
                "Channel": "VOICE",
                "InitiationMethod": "INBOUND",
                "Queue": None,
                "SomeFutureField": {"x": 1},
                "CustomerEndpoint": {"Address": "+15125550100", "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+15125550199", "Type": "TELEPHONE_NUMBER"},
                "Attributes": {},
            },
            "Parameters": {"operation": operation, **parameters},
        },
    }


def _without(event, *path):
    changed = copy.deepcopy(event)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


@pytest.mark.parametrize(
    "event, field",
    [
        (_without(_flow_event(), "Details", "ContactData", "ContactId"), "Details.ContactData.ContactId"),
        (_without(_flow_event(), "Details", "Parameters", "operation"), "Details.Parameters.operation"),
        (_flow_event("dance"), "Details.Parameters.operation"),
        (_flow_event("consent"), "Details.Parameters.answer"),
        (_flow_event("consent", answer="maybe"), "Details.Parameters.answer"),
        (_flow_event(customerJurisdiction="Texas"), "Details.Parameters.customerJurisdiction"),
        ({**_flow_event(), "Name": "SomethingElse"}, "Name"),
    ],
)
def test_contact_flow_rejects_bad_input_and_starts_nothing(centre, event, field):
    before = _executions(centre)
    answer = centre.function("ContactFlow").invoke(event)["Payload"]
    assert answer["error"] == "InvalidRequest" and answer["field"] == field
    assert all(isinstance(v, str) for v in answer.values())  # a flat string map, as Connect requires
    assert _executions(centre) == before


def test_contact_flow_without_a_caller_number_decides_for_an_unknown_party(centre):
    """Reproduced before: an empty or null CustomerEndpoint.Address dropped the caller from the parties, so
    the centre's Texas number decided alone: `notice` instead of the all-party rule for an unknown party."""
    for address in ("", None):
        event = _flow_event()
        event["Details"]["ContactData"]["CustomerEndpoint"]["Address"] = address
        event["Details"]["ContactData"]["ContactId"] = event["Details"]["ContactData"]["InitialContactId"] = (
            f"c-{address!r}"
        )
        answer = centre.function("ContactFlow").invoke(event)["Payload"]
        assert answer.get("consent") == "opt-in", (address, answer)


def test_contact_flow_rejects_a_bad_number_and_starts_nothing(centre):
    event = _flow_event()
    event["Details"]["ContactData"]["CustomerEndpoint"]["Address"] = "anonymous"
    answer = centre.function("ContactFlow").invoke(event)["Payload"]
    assert (answer["error"], answer["field"]) == ("InvalidRequest", "parties.0.number")
    assert _executions(centre) == 0


def test_contact_flow_accepts_unknown_contact_data_and_answers_consent_decision(centre):
    answer = centre.function("ContactFlow").invoke(_flow_event(centreJurisdiction="US-TX"))["Payload"]
    assert answer["consent"] == "notice" and answer["promptVersion"] == "notice-v1"
    assert set(answer) == {"sessionId", "consent", "promptVersion", "status"}


def test_contact_flow_consent_for_a_session_that_is_not_waiting(centre):
    event = _flow_event("consent", answer="heard")
    # a contact no other test starts: an execution another test left parked must not answer for it
    event["Details"]["ContactData"]["ContactId"] = event["Details"]["ContactData"]["InitialContactId"] = (
        "c-never-started"
    )
    answer = centre.function("ContactFlow").invoke(event)["Payload"]
    assert answer["error"] == "SessionNotFound"


def _sma_event(kind="NEW_INBOUND_CALL", **extra):
    return {
        "SchemaVersion": "1.0",
        "Sequence": 1,
        "InvocationEventType": kind,
        "CallDetails": {
            "TransactionId": "txn-x",
            "AwsAccountId": "123456789012",
            "AwsRegion": "us-east-1",
            "SipRuleId": "rule-1",
            "SipMediaApplicationId": "sma-x",
            "Participants": [
                {
                    "CallId": "call-x",
                    "ParticipantTag": "LEG-A",
                    "To": "+15125550199",
                    "From": "+14155550123",
                    "Direction": "Inbound",
                    "StartTimeInMilliseconds": "1",
                    "Status": "Connected",
                }
            ],
        },
        **extra,
    }


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "NEW_INBOUND_CALL",
        {},
        _without(_sma_event(), "CallDetails"),
        _without(_sma_event(), "CallDetails", "Participants"),
        _sma_event("SOMETHING_NEW"),
        _sma_event("ACTION_FAILED"),  # no ActionData
        {**_sma_event(), "Sequence": "one"},
    ],
    ids=[
        "none",
        "list",
        "string",
        "empty",
        "no-call-details",
        "no-participants",
        "unknown-event",
        "no-action-data",
        "bad-sequence",
    ],
)
def test_sma_handler_never_raises_and_starts_nothing(centre, event):
    before = _executions(centre)
    answer = centre.function("SmaHandler").invoke(event)
    assert "FunctionError" not in answer
    assert answer["Payload"]["SchemaVersion"] == "1.0" and answer["Payload"]["Actions"] == []
    assert _executions(centre) == before


def test_sma_handler_accepts_extra_fields_and_starts_a_session(centre):
    event = _sma_event()
    event["CallDetails"]["SipMediaApplicationId"] = centre.sma.id
    answer = centre.function("SmaHandler").invoke(event)["Payload"]
    # the call's consent prompt, played at once (its policy asks this caller to opt in)
    assert [action["Type"] for action in answer["Actions"]] == ["PlayAudioAndGetDigits"]
    assert "sessionId" in answer["TransactionAttributes"]
    assert _executions(centre) == 1


@pytest.mark.parametrize(
    "kind, data, error, cause",
    [
        ("ACTION_INTERRUPTED", {"Type": "PlayAudio"}, "ActionInterrupted", "PlayAudio was interrupted"),
        ("INVALID_LAMBDA_RESPONSE", {"ErrorMessage": "bad action"}, "InvalidLambdaResponse", "bad action"),
    ],
)
def test_an_action_that_did_not_complete_fails_what_waits_on_it(centre, monkeypatch, kind, data, error, cause):
    """The consent prompt played on arrival is reported as the answer `failed`; a workflow task's token fails."""
    import callrec_shared.sessions as sessions

    seen = []
    monkeypatch.setattr(sessions, "fail_task", lambda token, e, c: seen.append(("task", token, e, c)))
    monkeypatch.setattr(sessions, "answer_consent", lambda sid, answer, actor, **ev: seen.append((sid, answer, ev)))
    for attributes in ({"pending": "consent", "sessionId": "s"}, {"token": "t-1", "pending": "x", "sessionId": "s"}):
        event = _sma_event(kind, ActionData=data)
        event["CallDetails"]["TransactionAttributes"] = attributes
        answer = centre.function("SmaHandler").invoke(event)["Payload"]
        assert answer["TransactionAttributes"] == {"sessionId": "s"}  # nothing left pending
    assert seen == [("s", "failed", {"error": error, "cause": cause}), ("task", "t-1", error, cause)]


def test_only_the_configured_connect_instance_and_sma_are_recorded(centre):
    """Reproduced before: any instance or SMA started a session (only IAM on AWS would have stopped it)."""
    answer = centre.function("SmaHandler").invoke(_sma_event())["Payload"]  # sma-x: not this deployment's
    assert answer["Actions"] == [] and "sessionId" not in answer["TransactionAttributes"]
    event = _flow_event()
    event["Details"]["ContactData"]["InstanceARN"] = "arn:aws:connect:us-east-1:123456789012:instance/someone-else"
    flow = centre.function("ContactFlow").invoke(event)["Payload"]
    assert (flow["error"], flow["field"], flow["message"]) == (
        "InvalidRequest",
        "call.InstanceId",
        "is not the one this deployment records",
    )
    assert _executions(centre) == 0


def test_sma_handler_reads_both_shapes_of_action_failed(centre):
    failures = []
    import callrec_shared.sessions as sessions

    original = sessions.fail_task
    sessions.fail_task = lambda token, error, cause: failures.append((token, error, cause))
    try:
        for data in (
            {"Type": "StartCallRecording", "Error": "NoAccessToDestination: Error while accessing destination"},
            {
                "Type": "PauseCallRecording",
                "ErrorType": "SystemException",
                "ErrorMessage": "System error while executing an action.",
            },
        ):
            event = _sma_event("ACTION_FAILED", ActionData=data)
            event["CallDetails"]["TransactionAttributes"] = {"token": "t-1", "pending": "x", "sessionId": "s"}
            answer = centre.function("SmaHandler").invoke(event)["Payload"]
            assert answer["TransactionAttributes"] == {"sessionId": "s"}  # the token is used once
    finally:
        sessions.fail_task = original
    assert failures == [
        ("t-1", "RecordingStartFailed", "NoAccessToDestination: Error while accessing destination"),
        ("t-1", "SuspendFailed", "SystemException: System error while executing an action."),
    ]


def test_a_policy_that_cannot_decide_starts_nothing_and_leaves_the_session_failed_and_audited(centre, api):
    """The entry points decide the consent policy before they start the workflow (callrec_shared.opening): when it
    cannot decide, each answers so plainly and starts nothing, and the session ends FAILED, audited and sealed, so
    nothing is recorded on a guess. The refusal is final: a later start of the same call, the policy back, is
    refused the same way."""
    from unittest import mock

    from callrec.local_api import signed
    from callrec_shared import consent
    from callrec_shared.identity import session_id_for

    sma_event = _sma_event()
    sma_event["CallDetails"]["SipMediaApplicationId"] = centre.sma.id
    request = {
        "provider": "connect",
        "call": {"InstanceId": _flow_event()["Details"]["ContactData"]["InstanceARN"].rsplit("/", 1)[1]}
        | {"ContactId": "c-api", "InitialContactId": "c-api"},
        "parties": [{"number": "+14155550123", "role": "caller"}],
    }
    with mock.patch.object(consent, "decide", side_effect=RuntimeError("the policy document could not be read")):
        flow = centre.function("ContactFlow").invoke(_flow_event())["Payload"]
        sma = centre.function("SmaHandler").invoke(sma_event)
        answer = signed("POST", f"{api}/recordings", request)
    assert flow["error"] == "ConsentPolicyFailed" and "consent" not in flow
    assert "FunctionError" not in sma and sma["Payload"]["Actions"] == []
    assert "sessionId" not in sma["Payload"]["TransactionAttributes"]
    assert (answer.status_code, answer.json()["error"]) == (503, "ConsentPolicyFailed")
    assert _executions(centre) == 0
    for session_id in (flow["sessionId"], session_id_for(request)):
        session = centre.session(session_id)
        assert session["status"] == "FAILED" and "the consent policy could not decide" in session["outcomeReason"]
        assert [a["event"] for a in centre.audit(session_id) if a.get("status")] == ["CONSENT_POLICY_FAILED"]
        assert centre.audit_chain(session_id).holds
    again = centre.function("ContactFlow").invoke(_flow_event())["Payload"]
    assert again["error"] == "ConsentPolicyFailed" and _executions(centre) == 0
    assert centre.session(flow["sessionId"])["status"] == "FAILED"
