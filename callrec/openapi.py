"""The recordings API as an OpenAPI 3.1 document, generated from what the API really is: the routes are
the template's `Api` events, the request bodies are the very JSON Schemas the handlers validate with
(`schemas/`, embedded as they are: OpenAPI 3.1 speaks JSON Schema 2020-12), and every route is IAM-signed.
So the document and the handlers cannot drift; tests/template checks it against both.
`make serve` serves it at GET /openapi.json on the local API.
"""

from __future__ import annotations

import json
from typing import Any

from callrec.template import REPO_ROOT, Template
from callrec_shared.consent import MODES as CONSENT_MODES
from callrec_shared.recording_state import REASONS as RECORDING_STATE_REASONS
from callrec_shared.sessions import WINDOW_REASONS

_ERROR = {"$ref": "#/components/schemas/Error"}
_SESSION = {
    "type": "object",
    "description": "The session as GET /recordings/{sessionId} shows it",
    "required": ["sessionId", "status"],
    "properties": {
        "sessionId": {"type": "string", "format": "uuid"},
        "status": {
            "enum": ["OPENED", "CONSENT_PENDING", "CONSENT_ANSWERED", "RECORDING", "RECORDED", "NOT_RECORDED", "FAILED"]
        },
        "recordingState": {
            "type": "object",
            "description": "Is the call being recorded right now, as the provider confirmed it: why, and since when "
            "(every change is a RecordingStateChanged event on the verdict bus)",
            "required": ["state", "reason"],
            "properties": {
                "state": {"enum": ["OFF", "ON", "SUSPENDED", "STOPPED"]},
                "reason": {"enum": list(RECORDING_STATE_REASONS)},
                "reasons": {"type": "array", "items": {"enum": list(WINDOW_REASONS)}},
                "since": {"type": ["string", "null"], "format": "date-time"},
                "by": {"type": "string"},
                "detail": {"type": "string"},
                "uncertain": {"type": "boolean"},
                "final": {"type": "boolean", "description": "the session has ended: this state changes no more"},
            },
        },
    },
}
_WINDOW = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["applied", "rejected", "failed", "withdrawn", "refused", "queued", "taken"]},
        "reason": {"type": "string"},
        "suspended": {"type": "boolean"},
        "resumed": {"type": "boolean", "description": "false while another reason (a hold) keeps the window open"},
        "windowStaysOpen": {"type": "boolean", "description": "this reason ended; another still suspends recording"},
    },
}
_JOIN = {
    "type": "object",
    "properties": {
        "partyId": {"type": "string", "format": "uuid", "description": "names the party in its consent answer"},
        "consent": {"enum": list(CONSENT_MODES)},
        "decision": {"enum": list(CONSENT_MODES)},
        "promptVersion": {"type": "string"},
        "suspended": {"type": "boolean"},
        "recordingStopped": {"type": "boolean"},
        "answered": {"type": "string"},
        "recording": {"enum": ["resumed", "suspended", "stopped"]},
        "reason": {"type": "string"},
    },
}
_AUDIT = {
    "type": "object",
    "description": "The audit trail and its hash chain (docs/deploy.md, Operate): holds only if every record is sealed, "
    "unchanged and present",
    "required": ["sessionId", "holds", "seals", "head", "problems", "unsealed", "records"],
    "properties": {
        "sessionId": {"type": "string", "format": "uuid"},
        "holds": {"type": "boolean"},
        "seals": {"type": "integer"},
        "head": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}},
        "unsealed": {"type": "array", "items": {"type": "string"}},
        "records": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": {"type": "string"},
                    "event": {"type": "string"},
                    "actor": {"type": "string"},
                    "state": {"enum": ["sealed", "unsealed", "changed"]},
                },
            },
        },
    },
}


def _answer(description: str, schema: dict | None = None) -> dict:
    return {"description": description, **({"content": {"application/json": {"schema": schema}}} if schema else {})}


def _errors(*codes: int) -> dict:
    meaning = {
        400: "bad input: `field` names what is wrong; nothing was started or changed",
        404: "no such session",
        409: "refused: the session has ended, or by the rules",
        503: "the provider failed or did not confirm before the deadline",
    }
    return {str(code): _answer(meaning[code], _ERROR) for code in codes}


# (method, path): operation. Paths and methods must be exactly the template's Api events.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/recordings"): {
        "operationId": "startRecording",
        "summary": "Start a recording session for a Connect contact or a Chime call",
        "request": "start_recording_request",
        "responses": {
            "201": _answer("started (or the same request again: the same session)", _SESSION),
            **_errors(400, 409),
            "503": _answer(
                "the consent policy could not decide (`ConsentPolicyFailed`): nothing was started or recorded, and "
                "the session ended FAILED, audited",
                _ERROR,
            ),
        },
    },
    ("get", "/recordings/{sessionId}"): {
        "operationId": "getRecording",
        "summary": "A session: status, consent evidence, windows, outcome, verification",
        "responses": {"200": _answer("the session", _SESSION), **_errors(400, 404)},
    },
    ("get", "/recordings/{sessionId}/audit"): {
        "operationId": "getAudit",
        "summary": "The session's audit records and whether their hash chain holds (each broken or unsealed one named)",
        "responses": {"200": _answer("the audit records and the chain's verdict", _AUDIT), **_errors(400, 404)},
    },
    ("post", "/recordings/{sessionId}/stop"): {
        "operationId": "stopRecording",
        "summary": "Stop recording (queued as a signal)",
        "responses": {"202": _answer("the stop is queued"), **_errors(400, 404, 409)},
    },
    ("post", "/recordings/{sessionId}/parties"): {
        "operationId": "partyJoins",
        "summary": "A party joins the call (transfer, conference, bridged leg): if its consent rule is stricter, "
        "recording is suspended (confirmed) and `consent` says what to play it",
        "request": "party_join_request",
        "responses": {"200": _answer("the party's rule, and what to play it", _JOIN), **_errors(400, 404, 409)},
    },
    ("post", "/recordings/{sessionId}/parties/consent"): {
        "operationId": "partyConsent",
        "summary": "What a joined party did when asked: recording resumes, or stops for the rest of the call",
        "request": "party_consent_request",
        "responses": {"200": _answer("what became of the recording", _JOIN), **_errors(400, 404, 409)},
    },
    ("post", "/recordings/{sessionId}/suspend"): {
        "operationId": "suspendRecording",
        "summary": "Open a window (sensitive input, or a hold): 200 once the provider confirmed it, or the window "
        "was already open for the other reason",
        "request": "signal_request",
        "responses": {"200": _answer("suspended: the provider confirmed", _WINDOW), **_errors(400, 404, 409, 503)},
    },
    ("post", "/recordings/{sessionId}/resume"): {
        "operationId": "resumeRecording",
        "summary": "End the window's reason: 200 once applied; the recording resumes (the provider confirmed) only "
        "when no other reason holds the window",
        "request": "signal_request",
        "responses": {"200": _answer("resumed: the provider confirmed", _WINDOW), **_errors(400, 404, 409, 503)},
    },
}


def template_routes(template: Template) -> set[tuple[str, str]]:
    return {
        (event["Properties"]["Method"].lower(), event["Properties"]["Path"])
        for resource in template.resources("AWS::Serverless::Function").values()
        for event in resource["Properties"].get("Events", {}).values()
        if event.get("Type") == "Api"
    }


def _schema(name: str) -> dict:
    schema = json.loads((REPO_ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    schema.pop("$schema", None)
    return schema


def document(template: Template | None = None) -> dict:
    template = template or Template.load()
    routes = template_routes(template)
    if routes != set(OPERATIONS):
        raise ValueError(
            f"the API's routes and the OpenAPI operations differ: template only {sorted(routes - set(OPERATIONS))}, "
            f"document only {sorted(set(OPERATIONS) - routes)}"
        )
    paths: dict[str, dict] = {}
    schemas = {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
        }
    }
    for (method, path), spec in sorted(OPERATIONS.items()):
        operation = {key: spec[key] for key in ("operationId", "summary", "responses")}
        operation["security"] = [{"sigv4": []}]
        if "{sessionId}" in path:
            operation["parameters"] = [
                {"name": "sessionId", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
            ]
        if "request" in spec:
            schemas[spec["request"]] = _schema(spec["request"])
            operation["requestBody"] = {
                "required": spec["request"] == "start_recording_request",
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{spec['request']}"}}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callrec recordings API",
            "version": "1",
            "description": "Lawful, PCI-safe call recording sessions. Every route needs SigV4 (IAM auth).",
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/v1",
                "variables": {"restApiId": {"default": "example"}, "region": {"default": "us-east-1"}},
            },
            {"url": "http://127.0.0.1:3000", "description": "make serve"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 for execute-api (API Gateway's AWS_IAM authorizer)",
                }
            },
        },
    }
