"""Does a bucket policy let an AWS service principal do an action? IAM's rules, for the cases used here.

The Chime twin asks this of the real bucket policy stored in moto before it writes a recording
(`s3:PutObject` for `voiceconnector.chime.amazonaws.com`, with `aws:SourceAccount`/`aws:SourceArn`) or
reads a prompt (`s3:GetObject`). An explicit Deny wins; otherwise an Allow must match principal,
action, resource and every condition. Condition operators outside the String*/Arn* families are not
evaluated (Bool is): a statement using one does not grant access here (documented in docs/simulator.md).
"""

from __future__ import annotations

import fnmatch
from typing import Any

_STRING_OPERATORS = {
    "StringEquals": (lambda value, pattern: value == pattern, False),
    "StringNotEquals": (lambda value, pattern: value == pattern, True),
    "StringEqualsIgnoreCase": (lambda value, pattern: value.lower() == pattern.lower(), False),
    "StringLike": (lambda value, pattern: fnmatch.fnmatchcase(value, pattern), False),
    "StringNotLike": (lambda value, pattern: fnmatch.fnmatchcase(value, pattern), True),
    "ArnEquals": (lambda value, pattern: value == pattern, False),
    "ArnNotEquals": (lambda value, pattern: value == pattern, True),
    "ArnLike": (lambda value, pattern: fnmatch.fnmatchcase(value, pattern), False),
    "ArnNotLike": (lambda value, pattern: fnmatch.fnmatchcase(value, pattern), True),
    "Bool": (lambda value, pattern: value.lower() == str(pattern).lower(), False),
}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _principal_matches(statement: dict, service: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return service in _as_list(principal.get("Service", [])) or "*" in _as_list(principal.get("AWS", []))


def _action_matches(statement: dict, action: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _as_list(statement.get("Action", []))
    )


def _resource_matches(statement: dict, resource: str) -> bool:
    return any(fnmatch.fnmatchcase(resource, pattern) for pattern in _as_list(statement.get("Resource", [])))


def _conditions_hold(statement: dict, context: dict[str, str]) -> bool | None:
    """True/False, or None when the statement uses an operator this evaluator does not know."""
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, tests in statement.get("Condition", {}).items():
        if_exists = operator.endswith("IfExists")
        known = _STRING_OPERATORS.get(operator.removesuffix("IfExists"))
        if known is None:
            return None
        compare, negated = known
        for key, patterns in tests.items():
            value = lowered.get(key.lower())
            if value is None:
                if if_exists or negated:
                    continue
                return False
            matched = any(compare(value, pattern) for pattern in _as_list(patterns))
            if matched == negated:
                return False
    return True


def service_may(policy: dict | None, *, service: str, action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether `policy` lets `service` do `action` on `resource` in the request `context`.

    Service principals call S3 over TLS, so `aws:SecureTransport` is "true" unless the context says
    otherwise."""
    context = {"aws:SecureTransport": "true", **context}
    if not policy:
        return False
    allowed = False
    for statement in _as_list(policy.get("Statement", [])):
        if "NotPrincipal" in statement or "NotAction" in statement or "NotResource" in statement:
            continue
        if not (
            _principal_matches(statement, service)
            and _action_matches(statement, action)
            and _resource_matches(statement, resource)
        ):
            continue
        holds = _conditions_hold(statement, context)
        if statement.get("Effect") == "Deny" and holds is not False:
            return False  # an explicit Deny wins (an unknown operator is taken to deny, to be safe)
        if statement.get("Effect") == "Allow" and holds:
            allowed = True
    return allowed
