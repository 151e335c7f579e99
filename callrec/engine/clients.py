"""Ledger records for the boto clients (the ones moto's interpreter makes, and every client's User-Agent), and
S3's clock."""

from __future__ import annotations

import datetime
import threading
from typing import Any
from urllib.parse import urlsplit

from callrec.engine.interpreter import now
from callrec.engine.ledger import Patch
from callrec.engine.runtime import settings


class _ClientsKept:
    """Stands for boto3 inside moto's `boto_client_for`: one client per service, Region and settings, kept
    (botocore clients are thread-safe; moto built a new one, endpoint rules and all, for every task)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        import boto3

        return getattr(boto3, name)

    def client(self, **kwargs: Any) -> Any:
        import boto3

        key = repr(
            sorted((name, repr(value.__dict__) if name == "config" else value) for name, value in kwargs.items())
        )
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(**kwargs)
            return self._clients[key]


def _s3_now(original):
    def utcnow() -> datetime.datetime:
        """S3's LastModified on the engine's clock when one is set (naive UTC, as moto keeps it)."""
        if settings.clock is None:
            return original()
        return now().replace(tzinfo=None)

    return utcnow


def _user_agent_kept(original):
    def to_string(self) -> str:
        """botocore's User-Agent for this client and this request's features, built once: it depends only on the
        client's settings and the features in use, and botocore built it twice for every request (5% of a
        profiled test run's CPU, mostly escaping each part with a regular expression)."""
        from botocore.context import get_context

        context = get_context()
        key = (
            id(self._client_config),
            frozenset(self._client_features or ()),
            frozenset(context.features) if context is not None else frozenset(),
        )
        kept = self.__dict__.setdefault("_callrec_kept", {})
        if key not in kept:
            kept[key] = original(self)
        return str(kept[key])

    return to_string


PLACEHOLDER_SIGNATURE = "0" * 64  # a SigV4 signature's length; nothing local checks a signature moto is sent


def _moto_answers(url: str) -> bool:
    """moto's in-process stubber is on and will take this request (it answers AWS's own hosts; a request to a
    local endpoint, `callrec serve` or the local API, goes out over HTTP)."""
    from moto.core.models import botocore_stubber

    return botocore_stubber.enabled and (urlsplit(url).hostname or "").endswith(".amazonaws.com")


def _signed_for_moto(original):
    def add_auth(self, request) -> None:
        """SigV4 for a request moto answers in-process: every header botocore adds, and the Authorization header
        with the same credential scope and signed headers, but a placeholder signature. moto never checks a
        signature (it reads the access key from the credential scope), and computing it (the canonical request,
        the payload's hash, five HMACs) was 3.7% of a test run's CPU. Signed for real: any other signer (a
        presigned URL), execute-api (the local API verifies its requests' signatures) and every request moto does
        not answer (AWS itself, a local endpoint)."""
        from botocore import auth

        if (
            type(self) not in (auth.SigV4Auth, auth.S3SigV4Auth)
            or self._service_name == "execute-api"
            or not _moto_answers(request.url)
        ):
            return original(self, request)
        if self.credentials is None:
            raise auth.NoCredentialsError()
        request.context["timestamp"] = auth.get_current_datetime().strftime(auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        self._inject_signature_to_request(request, PLACEHOLDER_SIGNATURE)
        return None

    return add_auth


RECORDS = (
    Patch(
        "sdk-clients-kept",
        "moto.stepfunctions.parser.asl.utils.boto_client:boto3",
        lambda _: _ClientsKept(),
        "speed",
        "moto built a new boto3 client (endpoint rules and all) for every service task; one per service, Region "
        "and settings is kept.",
        "not reported upstream yet",
        module_global="boto_client_for is imported by name into ten task modules; the one place they all reach "
        "is this module's `boto3`, replaced by one whose client() keeps clients and whose other names are "
        "boto3's",
    ),
    Patch(
        "s3-engine-clock",
        "moto.s3.models:utcnow",
        _s3_now,
        "local",
        "S3 stamps LastModified with the engine's "
        "clock when one is set (the call clock, which runs ahead of wall time by the simulated people's time), "
        "as on AWS where the provider, S3 and Step Functions share real time. VerifyRecording checks "
        "LastModified against the session's times.",
        "local only",
    ),
    Patch(
        "user-agent-built-once",
        "botocore.useragent:UserAgentString.to_string",
        _user_agent_kept,
        "speed",
        "botocore built each request's User-Agent header twice, part by part, each part escaped with a regular "
        "expression: 5% of a profiled test run's CPU. It is kept per client settings and request features (the "
        "header only ever reaches moto here).",
        "local only: botocore's own cost, the same on AWS; moto never reads the header",
        uses=("botocore.context:get_context",),
    ),
    Patch(
        "placeholder-signature-for-moto",
        "botocore.auth:SigV4Auth.add_auth",
        _signed_for_moto,
        "speed",
        "botocore signed every request, though moto checks no signature: 3.7% of a test run's CPU. A request "
        "moto answers in-process gets botocore's headers and Authorization with a placeholder signature; "
        "execute-api (the local API checks signatures), presigned URLs and every request that leaves the process "
        "are signed for real.",
        "local only: botocore's own cost, the same on AWS; moto never reads the signature",
        uses=(
            "botocore.auth:S3SigV4Auth",
            "botocore.auth:SigV4Auth._modify_request_before_signing",
            "botocore.auth:SigV4Auth._inject_signature_to_request",
            "botocore.auth:get_current_datetime",
            "botocore.auth:SIGV4_TIMESTAMP",
            "botocore.auth:NoCredentialsError",
            "moto.core.models:botocore_stubber",
        ),
    ),
)
