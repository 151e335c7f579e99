"""Bad input, generated: every entry point gets arbitrary JSON, deep nesting, oversized and unicode values,
wrong encodings and near-miss mutations of valid requests. Each must answer with a clear error (naming
the field where there is one) or a valid result - never an unhandled exception - and no execution may
start for input that is not valid. Hypothesis profiles: `default` (100 cases per entry point) and
`thorough` (2,000; `pytest --hypothesis-profile=thorough tests/badinput`)."""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrec import engine
from callrec.runtime import LocalRuntime
from callrec.stack import client
from callrec.template import Template

pytestmark = pytest.mark.filterwarnings("ignore")
FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KEY = re.compile(r"^[A-Za-z0-9_-]+$")
SESSION_ID = "0b7f6a52-5b0c-5d3e-9e4a-2f1d3c4b5a69"

# --- strategies --------------------------------------------------------------------------------------------
texts = st.one_of(
    st.text(max_size=40),
    st.text(min_size=300, max_size=2000),
    st.sampled_from(
        [
            "",
            " ",
            "\u0000",
            "\ud7ff\ufffd",
            "connect",
            "chime",
            "start",
            "suspend",
            "+15125550100",
            "💳4111",
            "ᚠᛇᚻ",
            "NaN",
            "+15125550100\n",  # a trailing newline (Python's $ let it through a pattern)
            "US-CA\n",
            "\ud800",  # a lone surrogate (not encodable as UTF-8)
            "x/y",  # a separator inside an id
            "4111111111111111",  # a card-number-shaped value: never echoed, never logged
        ]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=30,
)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


deep = st.integers(min_value=50, max_value=400).map(_nested)
CONFIGURED_INSTANCE = Template.load().parameter_values()["ConnectInstanceArn"].rsplit("/", 1)[1]
START = {  # valid for the deployed stack, so that each mutation is the one thing wrong
    "provider": "connect",
    "call": {"InstanceId": CONFIGURED_INSTANCE, "ContactId": "c-1", "InitialContactId": "c-1"},
    "parties": [{"number": "+15125550100", "role": "caller", "jurisdiction": "US-TX"}],
    "recording": {"track": "ALL"},
}
HOSTILE = {  # what an attacker appends to a string field
    "newline": lambda value: value + "\n",
    "surrogate": lambda value: value + "\ud800",
    "separator": lambda value: value[:1] + "/" + value[1:],
    "other-instance": lambda value: "00000000-0000-4000-8000-0000000000ff",
}


@st.composite
def broken(draw, valid: dict) -> dict:
    """A valid request with one thing wrong: a field removed, of the wrong type, or an unknown field added."""
    request = copy.deepcopy(valid)
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, item in node.items():
                paths.append(path + [key])
                walk(item, path + [key])
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, path + [index])

    walk(request, [])
    path = draw(st.sampled_from(paths))
    parent = request
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["remove", "retype", "extra", *HOSTILE]))
    if how in HOSTILE and isinstance(parent[path[-1]], str):
        parent[path[-1]] = HOSTILE[how](parent[path[-1]])
    elif how in HOSTILE:
        parent[draw(texts.filter(lambda k: k not in parent))] = draw(json_values)
    elif how == "remove":
        del parent[path[-1]]
    elif how == "retype":
        original = parent[path[-1]]
        parent[path[-1]] = draw(json_values.filter(lambda v: type(v) is not type(original)))
    else:
        parent[draw(texts.filter(lambda k: k not in parent))] = draw(json_values)
    return request


bodies = st.one_of(
    json_values.map(json.dumps),
    deep.map(json.dumps),
    broken(START).map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    texts,
)


# --- the stack, once for the module -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack():
    with LocalRuntime(time_scale=0.001, parameters={"LogLevel": "ERROR"}) as runtime:
        yield runtime.deployment


def _function(stack, logical_id: str):
    return engine.settings.functions[stack.physical(logical_id)]


def _executions(stack) -> int:
    return len(
        client("stepfunctions").list_executions(stateMachineArn=stack.physical("RecordingSession"))["executions"]
    )


def _rest(method: str, resource: str, body: str | None, session_id: str = SESSION_ID) -> dict:
    return {
        "resource": resource,
        "path": resource.replace("{sessionId}", session_id),
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": None,
        "pathParameters": {"sessionId": session_id} if "{sessionId}" in resource else None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1"},
        "body": body,
        "isBase64Encoded": False,
    }


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _clear_error(answer: dict, body: str | None = None) -> None:
    """A clear error, naming the field for bad input, and never echoing a value that was sent."""
    assert answer["statusCode"] in (400, 404, 409), answer
    error = json.loads(answer["body"])
    assert error["error"] and error["message"], error
    if answer["statusCode"] == 400:
        assert error["field"], error
        try:
            sent = _strings(json.loads(body)) if body else []
        except ValueError:
            sent = []
        echoed = [value for value in sent if len(value.strip()) >= 6 and value.strip() in error["message"]]
        assert not echoed, (error, echoed)


# --- the API ---------------------------------------------------------------------------------------------
@FIXTURES
@given(body=bodies)
def test_api_start_answers_bad_bodies_with_the_field_and_starts_nothing(stack, body):
    before = _executions(stack)
    answer = _function(stack, "Api").invoke(_rest("POST", "/recordings", body))["Payload"]
    assert "FunctionError" not in answer, answer
    if answer["statusCode"] == 201:  # a mutation may still be valid (e.g. an optional role removed)
        return
    _clear_error(answer, body)
    assert _executions(stack) == before


@FIXTURES
@given(
    body=st.one_of(bodies, st.none()),
    session_id=st.one_of(
        st.just(SESSION_ID), texts.filter(lambda t: t and "/" not in t)
    ),  # API Gateway routes no empty segment
    route=st.sampled_from(
        [
            "/recordings/{sessionId}/suspend",
            "/recordings/{sessionId}/resume",
            "/recordings/{sessionId}/stop",
            "/recordings/{sessionId}",
        ]
    ),
)
def test_api_session_routes_never_fail_unhandled(stack, body, session_id, route):
    method = "GET" if route == "/recordings/{sessionId}" else "POST"
    answer = _function(stack, "Api").invoke(_rest(method, route, body, session_id))["Payload"]
    assert "FunctionError" not in answer, answer
    _clear_error(answer)  # no such session, or bad input: never a 5xx


# --- the contact-flow Lambda -------------------------------------------------------------------------------
FLOW = {
    "Name": "ContactFlowEvent",
    "Details": {
        "ContactData": {
            "ContactId": "c-1",
            "InitialContactId": "c-1",
            "Channel": "VOICE",
            "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-00000000c0de",
            "CustomerEndpoint": {"Address": "+15125550100", "Type": "TELEPHONE_NUMBER"},
            "SystemEndpoint": {"Address": "+15125550199", "Type": "TELEPHONE_NUMBER"},
        },
        "Parameters": {"operation": "start"},
    },
}
flow_events = st.one_of(
    json_values,
    deep,
    broken(FLOW).filter(lambda e: e != FLOW),
    st.builds(
        lambda op, extra: {**FLOW, "Details": {**FLOW["Details"], "Parameters": {"operation": op, **extra}}},
        texts,
        st.dictionaries(texts, json_values, max_size=3),
    ),
)


@FIXTURES
@given(event=flow_events)
def test_contact_flow_answers_a_flat_string_map_and_starts_nothing_on_bad_input(stack, event):
    before = _executions(stack)
    answer = _function(stack, "ContactFlow").invoke(event)
    assert "FunctionError" not in answer, answer
    payload = answer["Payload"]
    assert isinstance(payload, dict) and all(KEY.match(k) and isinstance(v, str) for k, v in payload.items()), payload
    assert len(json.dumps(payload)) < 32 * 1024
    if "error" in payload:
        assert payload["message"]
        assert _executions(stack) == before


# --- the SMA Lambda -----------------------------------------------------------------------------------------
SMA = {
    "SchemaVersion": "1.0",
    "Sequence": 1,
    "InvocationEventType": "NEW_INBOUND_CALL",
    "CallDetails": {
        "TransactionId": "t-1",
        "AwsAccountId": "123456789012",
        "AwsRegion": "us-east-1",
        "SipMediaApplicationId": "00000000-0000-4000-8000-0000000005aa",
        "Participants": [
            {
                "CallId": "call-1",
                "ParticipantTag": "LEG-A",
                "To": "+15125550199",
                "From": "+14155550123",
                "Direction": "Inbound",
                "StartTimeInMilliseconds": "1700000000000",
                "Status": "Connected",
            }
        ],
    },
}
sma_events = st.one_of(
    json_values,
    deep,
    broken(SMA),
    st.builds(
        lambda kind, data: {**SMA, "InvocationEventType": kind, "ActionData": data},
        st.sampled_from(
            [
                "ACTION_SUCCESSFUL",
                "ACTION_FAILED",
                "ACTION_INTERRUPTED",
                "HANGUP",
                "CALL_UPDATE_REQUESTED",
                "INVALID_LAMBDA_RESPONSE",
                "DIGITS_RECEIVED",
                "RINGING",
            ]
        ),
        json_values,
    ),
)


@FIXTURES
@given(event=sma_events)
def test_the_sma_handler_always_answers_a_valid_sma_response(stack, event):
    answer = _function(stack, "SmaHandler").invoke(event)
    assert "FunctionError" not in answer, answer
    payload = answer["Payload"]
    assert payload["SchemaVersion"] == "1.0" and isinstance(payload["Actions"], list) and len(payload["Actions"]) <= 10
    assert isinstance(payload.get("TransactionAttributes", {}), dict)


# --- what the entry points hand the workflow: the request validated, its consent decided --------------------
@FIXTURES
@given(request=st.one_of(json_values, deep, broken(START)))
def test_opening_a_request_rejects_it_with_invalid_request_naming_the_field(stack, request):
    from callrec_shared import opening
    from callrec_shared.validation import InvalidRequest

    try:
        opened = opening.opened(request)
    except InvalidRequest as err:
        assert ":" in str(err)
    else:
        assert opened["sessionId"] and opened["consent"]["decision"]["decision"] in ("none", "notice", "opt-in")
