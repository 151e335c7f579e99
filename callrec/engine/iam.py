"""Ledger record for moto's IAM policy evaluation (bucket and key policies)."""

from __future__ import annotations

from callrec.engine.ledger import Patch


def _absent_key_fails(operator: str, key: str, values: dict | None) -> bool:
    """IAM: a condition on a key the request does not carry is false, unless the operator is negated
    (StringNotEquals, ArnNotLike, ...) or ends in IfExists."""
    negated = "Not" in operator
    return key not in (values or {}) and not negated and not operator.endswith("IfExists")


def _conditions_on_absent_keys(original):
    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        from moto.iam.access_control import PermissionResult

        for operator, tests in (self._statement.get("Condition") or {}).items():
            if any(_absent_key_fails(operator, key, incoming_condition_values) for key in tests):
                return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    return is_action_permitted


RECORDS = (
    Patch(
        "absent-condition-key",
        "moto.iam.access_control:IAMPolicyStatement.is_action_permitted",
        _conditions_on_absent_keys,
        "fix",
        "On AWS a statement conditioned on a key the request does not carry "
        "does not apply (unless the operator is negated or ...IfExists); moto took the condition as met, so a "
        "standard TLS-only Deny on a bucket refused every request and an Allow conditioned on aws:SourceAccount "
        "granted anyone.",
        "not reported upstream yet",
        uses=("moto.iam.access_control:PermissionResult",),
    ),
)
