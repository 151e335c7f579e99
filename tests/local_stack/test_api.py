"""The recordings API over HTTP on `callrec serve` (IAM auth: requests are SigV4-signed), driving a real
call on the telephony twin: idempotent start, read, stop; and every bad request refused, nothing started."""

from __future__ import annotations

import pytest
import requests

from callrec.server import CONNECT_INSTANCE_ID
from callrec.template import Template
from tests.eventually import eventually
from tests.local_stack.conftest import endpoint_client, physical, signed

pytestmark = pytest.mark.server


def _executions(endpoint) -> int:
    sfn = endpoint_client(endpoint, "stepfunctions")
    return len(sfn.list_executions(stateMachineArn=physical(endpoint, "RecordingSession"))["executions"])


def _contact(endpoint) -> str:
    contact = requests.post(
        f"{endpoint['url']}/_sim/connect/contacts", json={"instanceId": CONNECT_INSTANCE_ID}, timeout=30
    ).json()
    requests.post(f"{endpoint['url']}/_sim/connect/contacts/{contact['ContactId']}/agent-joins", timeout=30)
    return contact["ContactId"]


def _request(contact_id: str) -> dict:
    return {
        "provider": "connect",
        "call": {"InstanceId": CONNECT_INSTANCE_ID, "ContactId": contact_id, "InitialContactId": contact_id},
        "parties": [{"number": "+15125550100", "role": "caller"}, {"number": "+15125550199", "role": "callee"}],
    }


def _wait_status(endpoint, session_id, *statuses):
    return eventually(
        lambda: signed("GET", f"{endpoint['api']}/recordings/{session_id}").json(),
        lambda view: view.get("status") in statuses,
        what=f"status {statuses}",
    )


def test_requests_without_iam_auth_are_refused(endpoint):
    assert requests.post(f"{endpoint['api']}/recordings", json={}, timeout=30).status_code == 403
    assert requests.get(f"{endpoint['api']}/recordings/x", timeout=30).json() == {
        "message": "Missing Authentication Token"
    }


def test_start_is_idempotent_then_read_then_stop(endpoint):
    request = _request(_contact(endpoint))
    first = signed("POST", f"{endpoint['api']}/recordings", request)
    again = signed("POST", f"{endpoint['api']}/recordings", request)
    assert first.status_code == again.status_code == 201
    assert first.json()["sessionId"] == again.json()["sessionId"]
    assert first.json()["executionArn"] == again.json()["executionArn"]
    session_id = first.json()["sessionId"]

    view = _wait_status(endpoint, session_id, "AWAITING_CONSENT")  # Texas to Texas: the flow must play a notice
    assert view["consent"]["decision"] == "notice" and view["consent"]["policyVersion"]
    assert "waitToken" not in view

    stopped = signed("POST", f"{endpoint['api']}/recordings/{session_id}/stop")
    assert stopped.status_code == 202
    assert {k: stopped.json()[k] for k in ("sessionId", "kind", "seq", "duplicate")} == {
        "sessionId": session_id,
        "kind": "stop",
        "seq": 1,
        "duplicate": False,
    }
    ended = _wait_status(endpoint, session_id, "NOT_RECORDED")
    assert ended["outcomeReason"] == "the call ended before recording started (StopRequested)"
    again = signed("POST", f"{endpoint['api']}/recordings/{session_id}/stop")
    assert again.status_code == 409 and again.json()["error"] == "SessionEnded"
    # a client's retry of the start after the session ended is still the same session, not a conflict
    retried = signed("POST", f"{endpoint['api']}/recordings", request)
    assert retried.status_code == 201 and retried.json()["executionArn"] == first.json()["executionArn"]


def test_a_different_request_for_the_same_call_is_a_conflict(endpoint):
    request = _request(_contact(endpoint))
    assert signed("POST", f"{endpoint['api']}/recordings", request).status_code == 201
    changed = {**request, "parties": [{"number": "+14155550123"}]}
    conflict = signed("POST", f"{endpoint['api']}/recordings", changed)
    assert conflict.status_code == 409 and conflict.json()["error"] == "SessionConflict"


CONNECT_CALL = {
    "provider": "connect",
    "parties": [{"number": "+15125550100"}],
    "call": {
        "InstanceId": Template.load().parameter_values()["ConnectInstanceArn"].rsplit("/", 1)[1],
        "ContactId": "c-hostile",
        "InitialContactId": "c-hostile",
    },
}


@pytest.mark.parametrize(
    "body, field",
    [
        ("not json", "(body)"),
        ({}, "provider"),
        (
            {
                "provider": "connect",
                "call": {"InstanceId": "i", "ContactId": "c"},
                "parties": [{"number": "+15125550100"}],
            },
            "call.InitialContactId",
        ),
        (
            {
                "provider": "connect",
                "call": {"InstanceId": "i" * 101, "ContactId": "c", "InitialContactId": "c"},
                "parties": [{"number": "+15125550100"}],
            },
            "call.InstanceId",
        ),
        (
            {
                "provider": "connect",
                "call": {"InstanceId": 7, "ContactId": "c", "InitialContactId": "c"},
                "parties": [{"number": "+15125550100"}],
            },
            "call.InstanceId",
        ),
        (
            {
                "provider": "chime",
                "call": {"SipMediaApplicationId": "s", "TransactionId": "t", "CallId": "c"},
                "parties": [{"number": "+15125550100"}],
                "extra": 1,
            },
            "extra",
        ),
        (
            {
                "provider": "chime",
                "call": {"SipMediaApplicationId": "s", "TransactionId": "t", "CallId": "c"},
                "parties": [],
            },
            "parties",
        ),
        # hostile input (each started an execution or crashed the API with 502 before)
        ({**CONNECT_CALL, "parties": [{"number": "+15125550100\n"}]}, "parties.0.number"),  # Python's $ let it through
        (
            '{"provider": "connect", "call": {"InstanceId": "\\ud800", "ContactId": "c", "InitialContactId": "c"}}',
            "call.InstanceId",
        ),
        ('{"provider": ' + "[" * 5000 + "]" * 5000 + "}", "(body)"),  # RecursionError: 502 before
        ('{"provider": ' + "[" * 100 + "]" * 100 + "}", "(payload)"),
        ({**CONNECT_CALL, "call": {**CONNECT_CALL["call"], "InstanceId": "someone-else"}}, "call.InstanceId"),
    ],
)
def test_bad_requests_name_the_field_and_start_nothing(endpoint, body, field):
    before = _executions(endpoint)
    response = signed("POST", f"{endpoint['api']}/recordings", body)
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["error"] == "InvalidRequest"
    assert "5125550100" not in response.json()["message"] and "someone-else" not in response.text  # never echoed
    assert _executions(endpoint) == before


def test_bad_and_unknown_session_ids(endpoint):
    assert signed("GET", f"{endpoint['api']}/recordings/not-a-session").status_code == 400
    newline = signed("GET", f"{endpoint['api']}/recordings/00000000-0000-4000-8000-000000000000%0A")  # 200 before
    assert newline.status_code == 400 and newline.json()["field"] == "sessionId"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert signed("GET", f"{endpoint['api']}/recordings/{unknown}").status_code == 404
    assert signed("POST", f"{endpoint['api']}/recordings/{unknown}/stop").status_code == 404


def test_the_openapi_document_is_served_and_is_the_generated_one(endpoint):
    from callrec import openapi

    served = requests.get(f"{endpoint['api']}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == openapi.document()


def _signed_headers(url: str, body: str, secret: str = "testing", key: str = "testing") -> dict:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers)


def test_a_forged_or_tampered_signature_is_refused_and_starts_nothing(endpoint):
    """API Gateway's IAM authorizer verifies SigV4: the header's shape is not enough."""
    import json

    url = f"{endpoint['api']}/recordings"
    body = json.dumps(_request(_contact(endpoint)))
    before = _executions(endpoint)

    forged = requests.post(url, data=body, headers=_signed_headers(url, body, secret="guessed"), timeout=30)
    unknown = requests.post(url, data=body, headers=_signed_headers(url, body, key="AKIAUNKNOWN"), timeout=30)
    tampered = requests.post(
        url, data=body.replace("+15125550100", "+14155550100"), headers=_signed_headers(url, body), timeout=30
    )
    hand_written = requests.post(
        url,
        data=body,
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/execute-api/aws4_request"},
        timeout=30,
    )

    assert forged.status_code == tampered.status_code == unknown.status_code == hand_written.status_code == 403
    assert "signature we calculated does not match" in forged.json()["message"]
    assert "signature we calculated does not match" in tampered.json()["message"]
    assert unknown.json() == {"message": "The security token included in the request is invalid."}
    assert hand_written.json() == {"message": "Missing Authentication Token"}
    assert _executions(endpoint) == before
    assert requests.post(url, data=body, headers=_signed_headers(url, body), timeout=30).status_code == 201
