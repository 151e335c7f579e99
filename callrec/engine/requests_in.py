"""The ledger record for the request moto builds from botocore's: its WSGI environ written directly.

moto answers a request made in-process by turning botocore's prepared request into a werkzeug Request
(`moto.core.request:Request.from_primitives`), through werkzeug's `EnvironBuilder`: a header collection built,
copied, searched and emptied again, the URL split and quoted part by part, for every request: 3.5% of a profiled
test run's CPU. For the arguments moto passes (a method, a base URL, a path, a query string, the body as bytes
or text, the headers as pairs of text), the environ is written here as EnvironBuilder writes it, key for key and
in its order: the URL parts go through the same werkzeug and urllib functions (kept per distinct text), the
headers through the same rules (Content-Type and Content-Length become CONTENT_TYPE and CONTENT_LENGTH, repeated
names are joined with ", "). Anything else (other arguments, an empty multipart body, a header with a line
break, which werkzeug refuses) goes to werkzeug's own `from_values`; tests compare both environs on every
request of played calls and on the edge cases.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlsplit

from callrec.engine.ledger import Patch

_FROM_PRIMITIVES = frozenset(("method", "base_url", "path", "query_string", "data", "headers"))
# werkzeug's own pieces of EnvironBuilder, so that what is written here follows them
_WERKZEUG = (
    "werkzeug._internal:_wsgi_encoding_dance",  # PEP 3333's "bytes as latin-1" text
    "werkzeug.datastructures.headers:_newline_re",  # a header value werkzeug refuses
    "werkzeug.urls:iri_to_uri",
    "werkzeug.test:EnvironBuilder.get_environ",
)


@functools.lru_cache(maxsize=256)
def _base(base_url: str) -> tuple[str, str, str, str, str] | None:
    """(wsgi.url_scheme, HTTP_HOST, SCRIPT_NAME, SERVER_NAME, SERVER_PORT) of a base URL, as EnvironBuilder sets
    them; None where it would refuse the URL."""
    from werkzeug._internal import _wsgi_encoding_dance
    from werkzeug.urls import iri_to_uri

    scheme, netloc, script_root, query, fragment = urlsplit(iri_to_uri(base_url))
    if query or fragment:
        return None
    name, sep, port = netloc.partition(":")
    number = 443 if scheme == "https" else 80
    if sep:
        with contextlib.suppress(ValueError):
            number = int(port)
    return scheme, netloc, _wsgi_encoding_dance(unquote(script_root.rstrip("/"))), name, str(number)


@functools.lru_cache(maxsize=4096)
def _path(path: str) -> tuple[str, str]:
    """(PATH_INFO, REQUEST_URI) of a request path, as EnvironBuilder sets them."""
    from werkzeug._internal import _wsgi_encoding_dance
    from werkzeug.urls import iri_to_uri

    return _wsgi_encoding_dance(unquote(iri_to_uri(urlsplit(path).path))), _wsgi_encoding_dance(path)


def environ(
    method: str, base_url: str, path: str, query_string: str, data: bytes | str, headers: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """The WSGI environ werkzeug's EnvironBuilder builds from these arguments, or None where this does not write
    it (werkzeug's own then does, or refuses the request as it always did)."""
    from werkzeug._internal import _wsgi_encoding_dance
    from werkzeug.datastructures.headers import _newline_re

    if "?" in path or not isinstance(query_string, str):
        return None
    base = _base(base_url)
    if base is None:
        return None
    body = data.encode() if isinstance(data, str) else data
    if not isinstance(body, bytes):
        return None
    content_type = None
    combined: dict[str, list[str]] = {}  # the other headers, as HTTP_* keys, in order
    for key, value in headers:
        if not isinstance(key, str) or not isinstance(value, str) or _newline_re.search(value):
            return None
        lowered = key.lower()
        if lowered == "content-type":
            content_type = value if content_type is None else content_type
        elif lowered != "content-length":
            combined.setdefault(f"HTTP_{key.upper().replace('-', '_')}", []).append(value)
    mimetype = content_type.partition(";")[0].strip() if content_type else None
    length: int | None = None
    if body:
        length = len(body)
    elif mimetype == "multipart/form-data":
        return None  # EnvironBuilder writes an empty multipart body with a boundary of its own
    elif mimetype == "application/x-www-form-urlencoded":
        length = 0
    scheme, host, script_name, server_name, server_port = base
    path_info, request_uri = _path(path)
    result: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": _wsgi_encoding_dance(query_string),
        "REQUEST_URI": request_uri,
        "RAW_URI": request_uri,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "HTTP_HOST": host,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if content_type is not None:
        result["CONTENT_TYPE"] = content_type
    if length is not None:
        result["CONTENT_LENGTH"] = str(length)
    for key, values in combined.items():
        result[key] = ", ".join(values)
    return result


def _built_directly(_inherited: None) -> Callable[..., Any]:
    def from_values(cls: Any, *args: Any, **kwargs: Any) -> Any:
        """moto's request from what `from_primitives` passes, its environ written directly; anything else as
        werkzeug builds it."""
        built = environ(**kwargs) if not args and kwargs.keys() == _FROM_PRIMITIVES else None
        if built is None:
            from werkzeug.wrappers import Request as WerkzeugRequest

            return WerkzeugRequest.from_values.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined]
        return cls(built)

    return classmethod(from_values)


RECORDS = (
    Patch(
        "request-environ-written-directly",
        "moto.core.request:Request.from_values",
        _built_directly,
        "speed",
        "moto built the request of every in-process call through werkzeug's EnvironBuilder (a header collection "
        "built, copied and emptied, the URL quoted part by part): 3.5% of a profiled test run's CPU. For what "
        "moto's from_primitives passes, the same environ is written directly.",
        "not reported upstream yet",
        uses=("moto.core.request:Request.from_primitives", *_WERKZEUG),
        adds=True,
    ),
)
