"""Ledger records for how moto finds the handler of a request made in-process.

moto's S3 backend reloads its `moto.s3.urls` module every time its URLs are read, which is for every S3 request
(`BotocoreStubber.process_request` reads `backend.urls`): the module adds the endpoints named in the
MOTO_S3_CUSTOM_ENDPOINTS environment variable to its URL bases, and the reload is how a change of that variable
is seen. 0.14 ms of a 1.5 ms S3 request here, 1% of a profiled test run's CPU. The module is now reloaded when
that variable differs from what it was at the last reload, and only then.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from callrec.engine.ledger import Patch

S3_ENDPOINTS = "MOTO_S3_CUSTOM_ENDPOINTS"  # the one setting moto.s3.urls reads (moto.settings.get_s3_custom_endpoints)


def _reloaded_when_endpoints_change(original: property) -> property:
    reloaded_for: list[str | None] = []  # the variable's value at the last reload (empty: none yet)
    lock = threading.Lock()

    def _url_module(self: Any) -> Any:
        """moto.s3.urls, reloaded by moto's own property when MOTO_S3_CUSTOM_ENDPOINTS has changed since the last
        reload (or there was none)."""
        endpoints = os.environ.get(S3_ENDPOINTS)
        with lock:
            if reloaded_for == [endpoints]:
                return sys.modules["moto.s3.urls"]
            module = original.fget(self)  # type: ignore[misc]
            reloaded_for[:] = [endpoints]
            return module

    return property(_url_module)


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
)
