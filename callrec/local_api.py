"""The recordings API locally: API Gateway (REST, IAM auth) in front of the template's functions.

Routes come from the functions' `Api` events in template.yaml. A request must carry a SigV4
`Authorization` header, as API Gateway's AWS_IAM authorizer requires, and the signature is verified against
the local stack's credentials (`callrec.stack.CREDENTIALS`): unsigned, unknown key, wrong scope, stale
date or a signature that does not match the request (a forged one, or a body changed after signing) is
answered 403 with API Gateway's message, before any function runs. Only then is the request turned into the
REST API proxy event and handed to the function in-process.

API Gateway's limits are in force: a body over 10 MB is refused with 413 before any function runs, and the
stage's throttling (the template's MethodSettings: ThrottlingRateLimit, ThrottlingBurstLimit) answers 429
past its rate, as a token bucket per API.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from callrec import engine
from callrec.sim.core import TokenBucket
from callrec.stack import CREDENTIALS, REGION, Deployment
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


MISSING_TOKEN = '{"message":"Missing Authentication Token"}'
BAD_TOKEN = '{"message":"The security token included in the request is invalid."}'
MISMATCH = (
    '{"message":"The request signature we calculated does not match the signature you provided. Check your AWS '
    'Secret Access Key and signing method. Consult the service documentation for details."}'
)
EXPIRED = '{"message":"Signature expired: the request\'s X-Amz-Date is more than 5 minutes from the server time."}'
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
CLOCK_SKEW = timedelta(minutes=5)


def refusal(request: Request, secrets: dict[str, str]) -> str | None:
    """Why API Gateway's IAM authorizer would refuse this request (its 403 body), or None: SigV4 recomputed
    from the request as received, with the secret of the key it names."""
    parsed = _AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
    if parsed is None:
        return MISSING_TOKEN
    secret = secrets.get(parsed["key"])
    if secret is None:
        return BAD_TOKEN
    stamp = request.headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return MISMATCH
    if abs(datetime.now(UTC) - signed_at) > CLOCK_SKEW:
        return EXPIRED
    if (parsed["region"], parsed["service"], parsed["date"]) != (REGION, "execute-api", stamp[:8]):
        return MISMATCH
    names = parsed["headers"].split(";")
    if "host" not in names or any(name not in request.headers for name in names):
        return MISMATCH
    again = AWSRequest(
        method=request.method,
        url=request.host_url.rstrip("/") + (request.environ.get("RAW_URI") or request.full_path),  # as sent
        data=request.get_data(),
        headers={name: request.headers[name] for name in names},
    )
    again.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(parsed["key"], secret), "execute-api", REGION)
    expected = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    return None if hmac.compare_digest(expected, parsed["signature"]) else MISMATCH


class LocalApi:
    """WSGI: the REST API. Missing SigV4 -> 403 like API Gateway; unknown route -> 403 likewise.
    GET /openapi.json (no signature needed) answers the API's OpenAPI document, when given one."""

    def __init__(self, routes: list[Route], openapi: dict | None = None, limits: Limits | None = None):
        self.routes = routes
        self.secrets = {CREDENTIALS["aws_access_key_id"]: CREDENTIALS["aws_secret_access_key"]}
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
        refused = refusal(request, self.secrets)
        if refused is not None:
            return _json_response(403, refused)(environ, start_response)
        for route in self.routes:
            match = route.pattern.match(request.path)
            if match and request.method == route.method:
                return self._invoke(route, match.groupdict(), request)(environ, start_response)
        return _json_response(403, MISSING_TOKEN)(environ, start_response)

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
    SigV4Auth(
        Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"]), "execute-api", REGION
    ).add_auth(request)
    return requests.request(method, url, data=data, headers=dict(request.headers), timeout=timeout)
