"""Ledger records for Powertools for AWS Lambda's event handler, as the local engine runs it.

Powertools keeps the event being resolved on a class, `BaseRouter.current_event` (and `lambda_context`): one per
process, which Lambda makes safe by running one invocation per execution environment (process) at a time. The
local engine runs a function's concurrent invocations in threads of one process, so two API requests at once
shared it: found by the load test through the local API, where a resume reached its route with another
request's event (502, or 400 naming the session id). These records give each invocation (each runs in a thread
of its own: engine.runtime.LambdaFunction.invoke) its own current event, as each would have its own process.
"""

from __future__ import annotations

import threading
from typing import Any

from callrec.engine.ledger import Patch

RESOLVER = "aws_lambda_powertools.event_handler.api_gateway:ApiGatewayResolver"
_invocation = threading.local()


def _per_invocation(name: str) -> property:
    def get(self: Any) -> Any:
        try:
            return getattr(_invocation, name)
        except AttributeError:
            raise AttributeError(f"{name}: no event is being resolved in this invocation") from None

    def put(self: Any, value: Any) -> None:
        setattr(_invocation, name, value)

    return property(get, put, doc=f"The {name} of the invocation running in this thread.")


def _resolve(original: Any) -> Any:
    def resolve(self: Any, event: dict[str, Any], context: Any) -> Any:
        """Powertools' resolve, with this invocation's event and context kept for this thread (it still sets the
        class-wide ones too, which the resolver no longer reads)."""
        raw = getattr(event, "raw_event", event)
        self.current_event = self._to_proxy_event(raw)
        self.lambda_context = context
        return original(self, event, context)

    return resolve


RECORDS = (
    Patch(
        "powertools-event-per-invocation",
        f"{RESOLVER}.current_event",
        lambda _: _per_invocation("current_event"),
        "local",
        "Each invocation resolves its own event: Powertools keeps it on a class (one per process), and the local "
        "engine runs concurrent invocations in threads of one process.",
        "local only (Lambda runs one invocation per execution environment)",
        adds=True,
    ),
    Patch(
        "powertools-context-per-invocation",
        f"{RESOLVER}.lambda_context",
        lambda _: _per_invocation("lambda_context"),
        "local",
        "The Lambda context, per invocation, as the event (powertools-event-per-invocation).",
        "local only (Lambda runs one invocation per execution environment)",
        adds=True,
    ),
    Patch(
        "powertools-resolve-per-invocation",
        f"{RESOLVER}.resolve",
        _resolve,
        "local",
        "Sets this invocation's event and context before Powertools resolves it (powertools-event-per-invocation).",
        "local only (Lambda runs one invocation per execution environment)",
        uses=(f"{RESOLVER}._to_proxy_event",),
    ),
)
