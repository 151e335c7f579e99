"""The ledger record `request-environ-written-directly` (callrec/engine/requests_in.py) writes the WSGI environ of
moto's request as werkzeug's EnvironBuilder does: compared key for key, in order, on every request of played
calls and on the edge cases, and it leaves to werkzeug what it does not write."""

from __future__ import annotations

from typing import Any

import pytest

from callrec import demo
from callrec.engine import requests_in
from callrec.stack import client

DYNAMODB = {
    "method": "POST",
    "base_url": "https://dynamodb.us-east-1.amazonaws.com",
    "path": "/",
    "query_string": "",
    "data": b'{"TableName": "t"}',
    "headers": [
        ("X-Amz-Target", "DynamoDB_20120810.GetItem"),
        ("Content-Type", "application/x-amz-json-1.0"),
        ("Content-Length", "18"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/aws4_request"),
    ],
}


def _theirs(arguments: dict[str, Any]) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(**arguments).get_environ()


def _comparable(environ: dict[str, Any]) -> list[tuple[str, Any]]:
    """The environ's keys in order with their values, the body as its bytes."""
    return [(key, value.getvalue() if key == "wsgi.input" else value) for key, value in environ.items()]


def _assert_same(arguments: dict[str, Any]) -> None:
    ours = requests_in.environ(**arguments)
    assert ours is not None, "written by werkzeug instead"
    assert _comparable(ours) == _comparable(_theirs(arguments))


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"data": "text body \u00e9"},
        {"data": b"", "headers": [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]},
        {"data": b"", "headers": [("User-Agent", "x")]},
        {
            "data": b"Action=ListRoles&Version=2010-05-08",
            "headers": [("content-type", "application/x-www-form-urlencoded")],
        },
        {"method": "GET", "base_url": "https://bucket.s3.amazonaws.com", "path": "/a key/with%2Fslash+plus;semi"},
        {
            "method": "PUT",
            "base_url": "https://s3.amazonaws.com",
            "path": "/b/\u00e9t\u00e9/\u4e2d.wav",
            "data": b"\x00\xff",
        },
        {"method": "GET", "path": "/b", "query_string": "list-type=2&prefix=a%2Fb&x=\u00e9"},
        {"base_url": "http://127.0.0.1:8083", "path": "/2015-03-31/functions"},
        {"base_url": "http://example.com"},
        {"base_url": "https://example.com/stage/", "path": "/recordings"},
        {"headers": [("X-Dup", "a"), ("x-dup", "b"), ("Host", "elsewhere:9"), ("Content-Length", "3")]},
        {"headers": [("Content-Type", "a"), ("content-type", "b")]},
    ],
    ids=lambda change: ",".join(sorted(change)) or "dynamodb",
)
def test_the_environ_is_werkzeug_s_own(change):
    _assert_same({**DYNAMODB, **change})


@pytest.mark.parametrize(
    "change",
    [
        {"data": b"", "headers": [("Content-Type", "multipart/form-data")]},
        {"headers": [("X-Bad", "line\r\nbreak")]},
        {"path": "/a?b=c"},
        {"base_url": "https://example.com/?q"},
        {"data": bytearray(b"x")},
    ],
    ids=["empty-multipart", "line-break", "query-in-path", "query-in-base", "not-bytes"],
)
def test_what_it_does_not_write_is_left_to_werkzeug(aws, change, monkeypatch):
    """moto's request is then built by werkzeug's EnvironBuilder, or refused as werkzeug refuses it."""
    from moto.core.request import Request
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request as WerkzeugRequest

    arguments = {**DYNAMODB, **change}
    assert requests_in.environ(**arguments) is None
    builders: list[EnvironBuilder] = []
    get_environ = EnvironBuilder.get_environ
    monkeypatch.setattr(EnvironBuilder, "get_environ", lambda self: builders.append(self) or get_environ(self))
    outcomes = []
    for request_class in (Request, WerkzeugRequest):
        try:
            outcomes.append(type(request_class.from_values(**arguments).environ))
        except (ValueError, TypeError, AttributeError) as err:
            outcomes.append(type(err))
    assert outcomes[0] is outcomes[1] and (outcomes[0] is not dict or len(builders) == 2)


def test_every_request_of_played_calls_gets_werkzeug_s_environ(deployment, monkeypatch):
    """Calls of both providers, their verification, and S3 keys awkward in a URL: each request moto builds is
    compared as it is built."""
    from moto.core.request import Request

    from callrec.callcentre import LocalCallCentre

    seen: list[str] = []
    built = Request.from_values.__func__

    def compared(cls, *args, **arguments):
        _assert_same(arguments)
        seen.append(arguments["base_url"])
        return built(cls, *args, **arguments)

    monkeypatch.setattr(Request, "from_values", classmethod(compared))
    centre = LocalCallCentre(deployment)
    centre.finish(demo.connect_payment(centre).session_id)
    centre.finish(demo.chime_opt_in("1")(centre).session_id)
    s3 = client("s3")
    bucket = deployment.physical("RecordingBucket")
    for key in ("a key/with space", "\u00e9t\u00e9/\u4e2d.wav", "plus+semi;colon:eq=amp&pct%2F"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="\u00e9")["KeyCount"] == 1
    for service in ("//dynamodb.", "//states.", ".s3.", "//kms."):
        assert any(service in base_url for base_url in seen), service
    assert len(seen) > 100
