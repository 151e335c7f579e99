"""Ledger records for IAM: moto's policy evaluation (bucket and key policies), and each role enforced locally."""

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


def _calls_checked(original):
    def _make_api_call(self, operation_name, api_params):
        """Every call a function or a workflow task makes is checked against its role first; a function's call to
        a service the telephony twins play (Connect, Chime SDK Voice) is then answered by its twin."""
        from callrec.engine import authorization
        from callrec.engine.runtime import twin_answer

        model = self.meta.service_model
        if authorization.current() is not None:
            prefix = authorization.PREFIX_OF_SIGNING_NAME.get(model.signing_name, model.signing_name)
            authorization.check(prefix, operation_name, api_params, self.meta.region_name)
        answered = twin_answer(self, operation_name, api_params)
        return original(self, operation_name, api_params) if answered is None else answered

    return _make_api_call


def _task_acts_as_role(original):
    def _eval_state_credentials(self, env):
        """moto computes each task's credentials (the state machine's role, or the task's own Credentials)
        and then signs every call with a fixed key: the task's thread now acts as that role."""
        from callrec.engine import authorization

        credentials = original(self, env)
        life = getattr(env.aws_execution_details, authorization.EXECUTION_LIFE, None)
        authorization.act_as(credentials.role_arn, "execution", self.name, life)
        return credentials

    return _eval_state_credentials


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
    Patch(
        "calls-checked-against-role",
        "botocore.client:BaseClient._make_api_call",
        _calls_checked,
        "local",
        "IAM enforced per role: a call made while a function or a workflow task acts as its role is checked "
        "against that role's policies on the exact resources (callrec.engine.authorization). moto's own request "
        "authorization checks every action against resource `*` only, so it cannot judge resource-scoped grants. "
        "A call to a service the telephony twins play (moto has no Connect contacts and no Chime SDK Voice calls) "
        "is answered by the registered twin, as aws-sdk tasks are (aws-sdk-to-twins).",
        "local only",
    ),
    Patch(
        "task-acts-as-its-role",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task:StateTask._eval_state_credentials",
        _task_acts_as_role,
        "fix",
        "On AWS a task's service calls run with the state machine's role (or the task's Credentials); moto "
        "computes those credentials, passes them to boto_client_for, which ignores them and signs with a fixed "
        "key, so no grant of a workflow's role was ever needed.",
        "not reported upstream yet",
        uses=("moto.stepfunctions.parser.asl.utils.boto_client:boto_client_for",),
    ),
)
