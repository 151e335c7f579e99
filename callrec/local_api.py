"""The recordings API locally: API Gateway (REST, IAM auth) in front of the template's functions.

Routes come from the functions' `Api` events in template.yaml. A request must carry a SigV4
`Authorization` header, as API Gateway's AWS_IAM authorizer requires (locally the signature is not
verified); it is turned into the REST API proxy event and handed to the function in-process.

API Gateway's limits are in force: a body over 10 MB is refused with 413 before any function runs, and the
stage's throttling (the template's MethodSettings: ThrottlingRateLimit, ThrottlingBurstLimit) answers 429
past its rate, as a token bucket per API.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from callrec import engine
from callrec.sim.core import TokenBucket
from callrec.stack import Deployment
from callrec.template import Template

log = logging.getLogger("callrec.api")
DEFAULT_PORT = 3000
STAGE = "v1"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # /recordings/{sessionId}
    pattern: re.Pattern
    function: str


def routes_from(template: Template, deployment: Deployment) -> list[Route]:
    found = []
    for logical_id, resource in template.resources("AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            path = event["Properties"]["Path"]
            regex = "^" + re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$"
            found.append(
                Route(event["Properties"]["Method"].upper(), path, re.compile(regex), deployment.physical(logical_id))
            )
    return found


MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway REST APIs: 10 MB (not adjustable)


@dataclass(frozen=True)
class Limits:
    rate: float  # requests per second, steady state
    burst: int
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


def limits_from(template: Template, deployment: Deployment) -> Limits:
    """The stage's throttling, from the template's Api resource (the first MethodSettings with throttling)."""
    for resource in template.resources("AWS::Serverless::Api").values():
        for settings in deployment.resolver.resolve(resource["Properties"].get("MethodSettings", [])):
            if "ThrottlingRateLimit" in settings:
                return Limits(float(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"]))
    raise ValueError("the template's API sets no throttling (MethodSettings ThrottlingRateLimit)")


def _json_response(status: int, body: str) -> Response:
    return Response(body, status=status, content_type="application/json")


class LocalApi:
    """WSGI: the REST API. Missing SigV4 -> 403 like API Gateway; unknown route -> 403 likewise.
    GET /openapi.json (no signature needed) answers the API's OpenAPI document, when given one."""

    def __init__(self, routes: list[Route], openapi: dict | None = None, limits: Limits | None = None):
        self.routes = routes
        self.openapi = openapi
        self.limits = limits
        self._quota = TokenBucket(limits.rate, limits.burst) if limits else None

    def __call__(self, environ, start_response):
        request = Request(environ)
        if self.openapi is not None and request.method == "GET" and request.path == "/openapi.json":
            return _json_response(200, json.dumps(self.openapi, indent=2))(environ, start_response)
        if self.limits and (request.content_length or 0) > self.limits.max_payload_bytes:
            return _json_response(413, '{"message":"Request Too Long"}')(environ, start_response)
        if self._quota is not None and not self._quota.take():
            return _json_response(429, '{"message":"Too Many Requests"}')(environ, start_response)
        if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return _json_response(403, '{"message":"Missing Authentication Token"}')(environ, start_response)
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match and request.method == route.method:
                return self._invoke(route, match.groupdict(), request)(environ, start_response)
        return _json_response(403, '{"message":"Missing Authentication Token"}')(environ, start_response)

    @staticmethod
    def _invoke(route: Route, parameters: dict, request: Request) -> Response:
        event = {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": dict(request.headers),
            "multiValueHeaders": {k: request.headers.getlist(k) for k in request.headers.keys()},
            "queryStringParameters": dict(request.args) or None,
            "multiValueQueryStringParameters": {k: request.args.getlist(k) for k in request.args} or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource,
                "httpMethod": request.method,
                "path": f"/{STAGE}{request.path}",
                "stage": STAGE,
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": request.remote_addr},
            },
            "body": request.get_data(as_text=True) or None,
            "isBase64Encoded": False,
        }
        answer = engine.settings.functions[route.function].invoke(event)
        if answer.get("FunctionError"):  # API Gateway answers 502; the function's error goes to its log
            error = answer["Payload"]
            log.error("%s failed: %s: %s", route.function, error.get("errorType"), error.get("errorMessage"))
            return _json_response(502, '{"message":"Internal server error"}')
        payload = answer["Payload"]
        response = Response(payload.get("body") or "", status=payload.get("statusCode", 200))
        for key, value in (payload.get("headers") or {}).items():
            response.headers[key] = value
        return response


class LocalApiServer:
    def __init__(
        self,
        routes: list[Route],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        openapi: dict | None = None,
        limits: Limits | None = None,
    ):
        self._server = make_server(host, port, LocalApi(routes, openapi, limits), threaded=True)
        self.url = f"http://{host}:{self._server.server_port}"  # port 0: a free one, chosen by the system
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="callrec-api")

    @classmethod
    def for_deployment(
        cls, deployment: Deployment, host: str = "127.0.0.1", port: int = DEFAULT_PORT, openapi: dict | None = None
    ) -> LocalApiServer:
        """The template's API for a deployed stack: its routes, and its limits as the deployment set them."""
        template = Template.load()
        return cls(routes_from(template, deployment), host, port, openapi, limits_from(template, deployment))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def signed(method: str, url: str, body: dict | str | None = None, timeout: float = 60) -> requests.Response:
    """An HTTP request SigV4-signed for execute-api, as an IAM-authorised API client sends it."""
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("testing", "testing"), "execute-api", "us-east-1").add_auth(request)
    return requests.request(method, url, data=data, headers=dict(request.headers), timeout=timeout)
