"""The simulator on the wire: the Connect and Chime SDK Voice REST APIs, and the `/_sim/` control API.

A WSGI application placed in front of moto's. Requests signed for `connect` (Connect) or `chime`
(Chime SDK Voice, whose SigV4 signing name is `chime`) on the simulated paths are answered by the
twins with the services' status codes and error shapes (restJson: `x-amzn-ErrorType` header and a
`message`), so unchanged boto3 clients with `endpoint_url` work. Anything else goes to moto.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from werkzeug.wrappers import Request, Response

from callrec.sim import TelephonySimulator
from callrec.sim.core import Fault
from callrec.sim.shapes import outputs

_SIGNING_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")

CONNECT_ROUTES = {
    "/contact/start-recording": "StartContactRecording",
    "/contact/suspend-recording": "SuspendContactRecording",
    "/contact/resume-recording": "ResumeContactRecording",
    "/contact/stop-recording": "StopContactRecording",
}
_DESCRIBE_CONTACT = re.compile(r"^/contacts/([^/]+)/([^/]+)$")
_SMA_CALL = re.compile(r"^/sip-media-applications/([^/]+)/calls/([^/]+)$")


def _epoch_seconds(value: Any) -> Any:
    """restJson timestamps, as Connect sends them: seconds since the epoch."""
    if isinstance(value, dict):
        return {key: _epoch_seconds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epoch_seconds(item) for item in value]
    return value.timestamp() if isinstance(value, datetime) else value


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def _service_error(err: ClientError) -> Response:
    error = err.response["Error"]
    return _json(
        {"message": error["Message"]},
        status=err.response["ResponseMetadata"]["HTTPStatusCode"],
        headers={"x-amzn-ErrorType": error["Code"], "x-amzn-RequestId": err.response["ResponseMetadata"]["RequestId"]},
    )


class TelephonyWire:
    """WSGI: the simulator's APIs and control surface, falling back to `fallback` (moto)."""

    def __init__(self, simulator: TelephonySimulator, fallback: Callable):
        self.sim = simulator
        self.fallback = fallback
        self.control = ControlApi(simulator)

    def __call__(self, environ: dict, start_response: Callable):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sim/"):
            return self.control(environ, start_response)
        match = _SIGNING_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = match.group(1) if match else None
        if service == "connect" and path in CONNECT_ROUTES:
            operation = CONNECT_ROUTES[path]
            return self._api(
                environ,
                start_response,
                lambda body: (self.sim.connect.call(operation, body), 200),
                (service, operation),
            )
        described = _DESCRIBE_CONTACT.match(path)
        if service == "connect" and described and environ.get("REQUEST_METHOD") == "GET":
            parameters = {"InstanceId": described.group(1), "ContactId": described.group(2)}
            return self._api(
                environ,
                start_response,
                lambda body: (_epoch_seconds(self.sim.connect.call("DescribeContact", parameters)), 200),
                (service, "DescribeContact"),
                method="GET",
            )
        sma_call = _SMA_CALL.match(path)
        if service == "chime" and sma_call:
            parameters = {"SipMediaApplicationId": sma_call.group(1), "TransactionId": sma_call.group(2)}
            return self._api(
                environ,
                start_response,
                lambda body: (self.sim.chime.call("UpdateSipMediaApplicationCall", {**body, **parameters}), 202),
                (service, "UpdateSipMediaApplicationCall"),
            )
        return self.fallback(environ, start_response)

    @staticmethod
    def _api(
        environ: dict,
        start_response: Callable,
        answer: Callable[[dict], tuple[dict, int]],
        operation: tuple[str, str],
        method: str = "POST",
    ):
        """Answer one API call; the twin's answer must fit botocore's output shape for the operation."""
        request = Request(environ)
        if request.method != method:
            response = _json({"message": "Method not allowed"}, 405)
        else:
            try:
                body = json.loads(request.get_data() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body is not an object")
            except ValueError:
                response = _json(
                    {"message": "Request body is not JSON"}, 400, {"x-amzn-ErrorType": "InvalidParameterException"}
                )
            else:
                try:
                    result, status = answer(body)
                    wrong = outputs.problems(outputs.SERVICES[operation[0]], operation[1], result)
                    response = (
                        _json(result, status)
                        if not wrong
                        else _json(
                            {
                                "message": f"simulator bug: {operation[1]}'s answer is not the service's shape: {wrong[0]}"
                            },
                            500,
                            {"x-amzn-ErrorType": "SimulatorOutputShape"},
                        )
                    )
                except ClientError as err:
                    response = _service_error(err)
        return response(environ, start_response)


class ControlApi:
    """`/_sim/...`: play the caller, the agent and the network of a running endpoint (JSON in and out)."""

    def __init__(self, simulator: TelephonySimulator):
        self.sim = simulator
        self.routes: list[tuple[str, re.Pattern, Callable[..., Any]]] = [
            ("GET", re.compile(r"^/_sim/clock$"), self._clock),
            ("POST", re.compile(r"^/_sim/clock/advance$"), self._advance),
            ("GET", re.compile(r"^/_sim/faults$"), lambda body: [f.to_dict() for f in self.sim.faults.active()]),
            ("POST", re.compile(r"^/_sim/faults$"), self._inject),
            ("DELETE", re.compile(r"^/_sim/faults$"), lambda body: self.sim.faults.clear() or []),
            ("POST", re.compile(r"^/_sim/settings$"), self._settings),
            ("GET", re.compile(r"^/_sim/recordings$"), lambda body: list(self.sim.delivery.delivered)),
            (
                "GET",
                re.compile(r"^/_sim/connect/instances$"),
                lambda body: [i.__dict__ for i in self.sim.connect.instances.values()],
            ),
            ("POST", re.compile(r"^/_sim/connect/instances$"), self._instance),
            ("POST", re.compile(r"^/_sim/connect/contacts$"), self._contact),
            ("GET", re.compile(r"^/_sim/connect/contacts/([^/]+)$"), lambda body, cid: self.sim.connect.describe(cid)),
            ("POST", re.compile(r"^/_sim/connect/contacts/([^/]+)/agent-joins$"), self._agent_joins),
            (
                "POST",
                re.compile(r"^/_sim/connect/contacts/([^/]+)/transfer$"),
                lambda body, cid: {"ContactId": self.sim.connect.transfer(cid)},
            ),
            ("POST", re.compile(r"^/_sim/connect/contacts/([^/]+)/type$"), self._contact_types),
            ("POST", re.compile(r"^/_sim/connect/contacts/([^/]+)/hang-up$"), self._contact_hangs_up),
            ("POST", re.compile(r"^/_sim/chime/sip-media-applications$"), self._sma),
            ("POST", re.compile(r"^/_sim/chime/calls$"), self._place_call),
            ("GET", re.compile(r"^/_sim/chime/calls/([^/]+)$"), lambda body, txn: self._leg(txn, lambda _: None)),
            (
                "POST",
                re.compile(r"^/_sim/chime/calls/([^/]+)/press$"),
                lambda body, txn: self._leg(txn, self.sim.chime.press, _text(body, "digits")),
            ),
            (
                "POST",
                re.compile(r"^/_sim/chime/calls/([^/]+)/talk$"),
                lambda body, txn: self._leg(txn, self.sim.chime.talk, _number(body, "seconds")),
            ),
            (
                "POST",
                re.compile(r"^/_sim/chime/calls/([^/]+)/hang-up$"),
                lambda body, txn: self._leg(txn, self.sim.chime.hang_up),
            ),
        ]

    def __call__(self, environ: dict, start_response: Callable):
        request = Request(environ)
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and request.method == method:
                try:
                    body = json.loads(request.get_data() or b"{}")
                    response = _json(handler(body, *match.groups()))
                except (KeyError, ValueError, TypeError) as err:
                    response = _json({"message": str(err).strip("'\"")}, 400)
                return response(environ, start_response)
        return _json({"message": f"no control route {request.method} {request.path}"}, 404)(environ, start_response)

    def _clock(self, body: dict) -> dict:
        return {"now": self.sim.clock.now().isoformat(), "seconds": self.sim.clock.seconds()}

    def _advance(self, body: dict) -> dict:
        self.sim.clock.advance(_number(body, "seconds"))
        return self._clock(body)

    def _inject(self, body: dict) -> dict:
        fault = Fault(
            service=_text(body, "service"),
            operation=_text(body, "operation"),
            error=_text(body, "error"),
            key=body.get("key"),
            times=body.get("times", 1),
            message=body.get("message", ""),
        )
        return self.sim.faults.inject(fault).to_dict()

    def _settings(self, body: dict) -> dict:
        if "throttling" in body:
            self.sim.throttling = bool(body["throttling"])
        if "deliveryDelaySeconds" in body:
            self.sim.delivery.delay_seconds = _number(body, "deliveryDelaySeconds")
        return {"throttling": self.sim.throttling, "deliveryDelaySeconds": self.sim.delivery.delay_seconds}

    def _instance(self, body: dict) -> dict:
        instance = self.sim.connect.create_instance(
            _text(body, "alias"), _text(body, "bucket"), body.get("kmsKeyId"), body.get("instanceId")
        )
        return instance.__dict__

    def _contact(self, body: dict) -> dict:
        return {"ContactId": self.sim.connect.start_contact(_text(body, "instanceId"), body.get("contactId"))}

    def _agent_joins(self, body: dict, contact_id: str) -> dict:
        self.sim.connect.agent_joins(contact_id)
        return self.sim.connect.describe(contact_id)

    def _contact_types(self, body: dict, contact_id: str) -> dict:
        self.sim.connect.caller_types(contact_id, _text(body, "digits"))
        return {"typed": len(body["digits"])}  # never echo the digits

    def _contact_hangs_up(self, body: dict, contact_id: str) -> dict:
        self.sim.connect.hang_up(contact_id)
        return self.sim.connect.describe(contact_id)

    def _sma(self, body: dict) -> dict:
        sma = self.sim.chime.create_sip_media_application(_text(body, "name"), _text(body, "function"), body.get("id"))
        return {"SipMediaApplicationId": sma.id, "Arn": sma.arn}

    def _place_call(self, body: dict) -> dict:
        transaction_id = self.sim.chime.place_call(
            _text(body, "sipMediaApplicationId"), _text(body, "from"), _text(body, "to"), body.get("answers", [])
        )
        self.sim.chime.wait_idle(transaction_id)
        return self.sim.chime.describe(transaction_id)

    def _leg(self, transaction_id: str, action: Callable, *arguments: Any) -> dict:
        """Do `action` to the call, wait until the call has handled it, and describe the call."""
        if transaction_id not in self.sim.chime.legs:
            raise KeyError(f"no call {transaction_id}")
        action(transaction_id, *arguments)
        self.sim.chime.wait_idle(transaction_id)
        return self.sim.chime.describe(transaction_id)


def _text(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _number(body: dict, name: str) -> float:
    value = body.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number of zero or more")
    return float(value)
