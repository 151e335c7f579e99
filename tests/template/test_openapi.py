"""The OpenAPI document cannot drift from the API: it is a valid OpenAPI 3.1 document, its operations are
exactly the template's Api events, every one is IAM-signed, and the handler enforces the request schema
it documents (an undocumented property and each missing required property are refused with the field)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from callrec import openapi
from callrec.template import Template

DOCUMENT = openapi.document()
SESSION = "0b7f6a52-5b0c-5d3e-9e4a-2f1d3c4b5a69"


def test_it_is_a_valid_openapi_document():
    validate(DOCUMENT)


def test_its_operations_are_exactly_the_template_routes_and_all_need_sigv4():
    documented = {(method, path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert documented == openapi.template_routes(Template.load())
    for item in DOCUMENT["paths"].values():
        for operation in item.values():
            assert operation["security"] == [{"sigv4": []}]


def _bodies(schema: dict):
    """(body, fields of which the handler must name one) pairs that the documented schema refuses."""
    required = set(schema.get("required", []))
    yield {"unexpected": 1}, {"unexpected"} | required
    if required:
        yield {}, required


@pytest.mark.parametrize(
    "method, path", sorted((m, p) for (m, p), spec in openapi.OPERATIONS.items() if "request" in spec)
)
def test_the_handler_refuses_what_its_documented_schema_refuses(deployment, method, path):
    from callrec import engine

    api = engine.settings.functions[deployment.physical("Api")]
    ref = DOCUMENT["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]]
    for body, fields in _bodies(schema):
        event = {
            "resource": path,
            "path": path.replace("{sessionId}", SESSION),
            "httpMethod": method.upper(),
            "headers": {},
            "pathParameters": {"sessionId": SESSION} if "{sessionId}" in path else None,
            "requestContext": {"resourcePath": path, "httpMethod": method.upper(), "stage": "v1"},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
        answer = api.invoke(event)["Payload"]
        assert answer["statusCode"] == 400, (path, body, answer)
        assert json.loads(answer["body"])["field"] in fields, (path, body, answer)
