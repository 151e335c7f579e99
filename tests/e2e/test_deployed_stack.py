"""Against a deployed stack: the API refuses what it must, and answers a session it does not know."""

from __future__ import annotations

import json
import uuid

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


def _signed(method: str, url: str, body: dict | None = None) -> requests.Response:
    session = boto3.Session()
    data = json.dumps(body) if body is not None else None
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(session.get_credentials(), "execute-api", session.region_name).add_auth(request)
    return requests.request(method, url, data=data, headers=dict(request.headers), timeout=30)


def test_an_unsigned_request_is_refused(outputs):
    assert (
        requests.get(f"{outputs['RecordingsApiUrl'].rstrip('/')}/recordings/{uuid.uuid4()}", timeout=30).status_code
        == 403
    )


def test_an_unknown_session_is_not_found(outputs):
    answer = _signed("GET", f"{outputs['RecordingsApiUrl'].rstrip('/')}/recordings/{uuid.uuid4()}")
    assert answer.status_code == 404, answer.text


def test_a_bad_start_names_the_field_and_starts_nothing(outputs):
    answer = _signed("POST", f"{outputs['RecordingsApiUrl'].rstrip('/')}/recordings", {"provider": "connect"})
    assert answer.status_code == 400 and answer.json().get("field") == "call", answer.text
