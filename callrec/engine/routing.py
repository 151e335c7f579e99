"""Ledger records for how moto finds the handler of a request made in-process, and finishes its answer.

`s3-urls-reloaded-when-endpoints-change`: moto's S3 backend reloads its `moto.s3.urls` module every time its URLs
are read, which is for every S3 request (`BotocoreStubber.process_request` reads `backend.urls`): the module adds
the endpoints named in the MOTO_S3_CUSTOM_ENDPOINTS environment variable to its URL bases, and the reload is how a
change of that variable is seen. 0.14 ms of a 1.5 ms S3 request here, 1% of a profiled test run's CPU. The module
is now reloaded when that variable differs from what it was at the last reload, and only then.

`request-id-written-where-the-body-has-one`: moto finishes every answer (`BaseResponse._enrich_response`) by
making a request id for its headers and writing it into the body's `<RequestId>` element, with a regular
expression run over the whole body, JSON bodies too (a query's page of items, an execution's history): 1.2% of a
profiled test run's CPU. A body that has no `<RequestId>` cannot match it; it is now left as it is, and moto's
own function still makes the headers (given an empty body). Per answer here: a 17.8 KB JSON body 221 -> 23 µs;
a 116-byte one 16.5 -> 18.6 µs (making the request id is most of it, and the check costs a little).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from callrec.engine.ledger import Patch, unwrap

S3_ENDPOINTS = "MOTO_S3_CUSTOM_ENDPOINTS"  # the one setting moto.s3.urls reads (moto.settings.get_s3_custom_endpoints)


_NOT_YET = object()  # no reload yet


def _reloaded_when_endpoints_change(original: property) -> property:
    reloaded_for: object = _NOT_YET  # the variable's value at the last reload
    lock = threading.Lock()

    def _url_module(self: Any) -> Any:
        """moto.s3.urls, reloaded by moto's own property when MOTO_S3_CUSTOM_ENDPOINTS has changed since the last
        reload (or there was none)."""
        nonlocal reloaded_for
        endpoints = os.environ.get(S3_ENDPOINTS)
        with lock:
            if reloaded_for == endpoints:
                return sys.modules["moto.s3.urls"]
            module = original.fget(self)  # type: ignore[misc]
            reloaded_for = endpoints
            return module

    return property(_url_module)


REQUEST_ID = "<RequestId>"  # what moto's expression looks behind for


def _request_id_only_where_written(original: Any) -> Any:
    enrich = unwrap(original)

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        """moto's own, for a body its expression can match (text holding `<RequestId>`); for any other, moto's
        own on an empty body (the headers: the status as text, the request id), and the body as it is."""
        if isinstance(body, str) and REQUEST_ID in body:
            return enrich(headers, body)  # type: ignore[no-any-return]
        headers, _ = enrich(headers, "")
        return headers, body

    return staticmethod(_enrich_response)


RECORDS = (
    Patch(
        "s3-urls-reloaded-when-endpoints-change",
        "moto.s3.models:S3Backend._url_module",
        _reloaded_when_endpoints_change,
        "speed",
        "moto reloaded moto.s3.urls on every S3 request, to see a change of MOTO_S3_CUSTOM_ENDPOINTS: 1% of a "
        "profiled test run's CPU. It is reloaded when that variable has changed since the last reload.",
        "not reported upstream yet",
        uses=("moto.settings:get_s3_custom_endpoints", "moto.s3.urls:url_bases"),
    ),
    Patch(
        "request-id-written-where-the-body-has-one",
        "moto.core.responses:BaseResponse._enrich_response",
        _request_id_only_where_written,
        "speed",
        "moto ran a regular expression over every answer's whole body to write the request id into its "
        "<RequestId> element, JSON bodies too: 1.2% of a profiled test run's CPU. A body without that element is "
        "left as it is.",
        "not reported upstream yet",
    ),
)
