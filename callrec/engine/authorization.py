"""IAM enforced per role, locally: every AWS call a function or a workflow makes is checked against the
policies of the role template.yaml gives it, on the exact resources the call touches, as IAM would.

Who acts: a Lambda handler acts as its function's role for the whole invocation (`acting_as`, from
callrec.engine.runtime); a workflow's task acts as the role moto computes for it (the state machine's, or the
task's own `Credentials`), see the `task-acts-as-its-role` record. Calls made by nobody in particular (the
tests, the deployer, the telephony twins playing AWS's services) are not checked: on AWS those are the
deployer's administrator and the services' own principals.

What is checked: the action and the resource ARN(s) of each call, including what IAM checks beside the call
itself (a GetObject of an SSE-KMS object needs kms:Decrypt on its key; a PutObject into a bucket encrypted
with KMS needs kms:GenerateDataKey; a Publish to an encrypted topic needs both). The role's policies are read
from moto's IAM at each call, so a test (or an operator) that edits a role sees the effect at once; they are
evaluated by moto's own policy evaluator (with the `absent-condition-key` fix). moto's request
authorization is not used: it checks every action against resource `*` only, so a resource-scoped grant
(all of ours) would be refused and a grant on the wrong table accepted.

A call this module has no resource rule for is refused with an error naming it: a new kind of call must get
its rule here before it can run, never pass unchecked.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account, where the local stack deploys
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}  # as on AWS: needs no permission


_life = 0  # the engine's life: engine.reset() begins another (a runtime opens and closes with one)


def new_life() -> None:
    """A runtime opened or closed: whoever acted in the last one can no longer call (see `Outlived`)."""
    global _life
    _life += 1


def _this_life() -> int:
    return _life


@dataclass(frozen=True)
class Principal:
    role_arn: str
    session: str  # the role session's name (the function's name; "execution" for a workflow)
    state: str = ""  # a workflow task's state, by name (what a refusal, or a test's fault, is placed by)
    life: int = field(default_factory=_this_life, compare=False)  # the engine's life it acts in

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session}"


_acting = threading.local()


def current() -> Principal | None:
    """Who this thread acts as (None: nobody in particular, unchecked)."""
    return getattr(_acting, "principal", None)


# the life an execution was started in, kept on its AWSExecutionDetails (its frames share them)
EXECUTION_LIFE = "callrec_life"


def life_now() -> int:
    """The engine's life the caller acts in: its principal's if it acts as one (a workflow task, a function), else
    the engine's own. What it starts (an execution, an invocation, a mapping) acts in that life."""
    principal = current()
    return principal.life if principal is not None else _life


@contextlib.contextmanager
def acting_as(role_arn: str | None, session: str, life: int | None = None) -> Iterator[None]:
    """`life`: the engine's life it acts in, if not this one (`life_now()` of whoever started it)."""
    previous = current()
    _acting.principal = Principal(role_arn, session, life=_life if life is None else life) if role_arn else None
    try:
        yield
    finally:
        _acting.principal = previous


def act_as(role_arn: str, session: str, state: str = "", life: int | None = None) -> None:
    """For the rest of this thread's life (a workflow task's own thread), or until its next task."""
    _acting.principal = Principal(role_arn, session, state, life=_life if life is None else life)


class NoResourceRule(RuntimeError):
    """A call the local IAM check cannot place on its resources: add its rule to callrec.engine.authorization."""


# The error each service answers an IAM refusal with: (code, HTTP status).
DENIAL = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "dynamodb": ("AccessDeniedException", 400),
}


class Outlived(RuntimeError):
    """A call by a function or workflow task of a local runtime that has closed. Its thread cannot be stopped (a
    handler runs on past its runtime, unlike Lambda's frozen sandbox), and its calls would reach the next runtime's
    moto, which holds the same names: they fail here instead."""


def check(prefix: str, operation: str, params: dict, region: str) -> None:
    """Raise the service's AccessDenied ClientError unless the acting principal may make this call (`Outlived` if
    it acts in a runtime that has closed)."""
    principal = current()
    if principal is not None:
        check_as(principal, prefix, operation, params, region)


def check_as(principal: Principal, prefix: str, operation: str, params: dict, region: str) -> None:
    """`check`, for `principal`."""
    if principal.life != _life:
        raise Outlived(f"{principal.session} acts in a local runtime that has closed: {prefix}:{operation}")
    require(principal, prefix, operation, params, region)


@dataclass(frozen=True)
class Refusal:
    role_arn: str
    action: str
    resource: str


# Every refusal, as CloudTrail records AccessDenied events (the latest 10,000): what tests and `make serve` show.
refusals: collections.deque[Refusal] = collections.deque(maxlen=10_000)


def require(principal: Principal, prefix: str, operation: str, params: dict, region: str) -> None:
    for action, resource in requirements(prefix, operation, params, region):
        if action in ALWAYS_ALLOWED:
            continue
        if not permitted(principal.role_arn, action, resource):
            refusals.append(Refusal(principal.role_arn, action, resource))
            raise denied(principal, prefix, operation, action, resource)


def denied(principal: Principal, prefix: str, operation: str, action: str, resource: str) -> Exception:
    from callrec.errors import service_error

    code, status = DENIAL.get(prefix, ("AccessDeniedException", 403))
    message = (
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )
    return service_error(code, message, status, operation)


def permitted(role_arn: str, action: str, resource: str) -> bool:
    """IAM's answer for one action on one resource: allowed by some statement of the role's policies and
    denied by none. A role that does not exist is allowed nothing."""
    from moto.iam.access_control import PermissionResult
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[ACCOUNT_ID]["aws"].get_role(role_arn.rsplit("/", 1)[-1])
    except NotFoundException:
        return False
    documents = [*role.policies.values(), *(p.default_version.document for p in role.managed_policies.values())]
    allowed = False
    for document in documents:
        result = _policy(document).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return False
        allowed = allowed or result == PermissionResult.PERMITTED
    return allowed


@functools.lru_cache(maxsize=256)
def _policy(document: str) -> Any:
    """moto's evaluator for one policy document (parsed once per distinct document)."""
    from moto.iam.access_control import IAMPolicy

    return IAMPolicy(document)


# --- what each call needs ------------------------------------------------------------------------------

TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def requirements(prefix: str, operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs IAM checks for this call; NoResourceRule if the call has no rule."""
    rule = RULES.get(prefix)
    if rule is None:
        raise NoResourceRule(f"no local IAM rule for {prefix}:{operation}")
    return rule(operation, params, region)


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _dynamodb(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else _arn("dynamodb", region, f"table/{name}")
        return f"{arn}/index/{index}" if index else arn

    if operation == "TransactWriteItems":
        return [
            (f"dynamodb:{TRANSACT_ITEM_ACTIONS[kind]}", table(body["TableName"]))
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in params["TransactItems"]]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]]
    if operation in ("DescribeStream", "GetShardIterator") and "StreamArn" in params:  # a table's stream
        return [(f"dynamodb:{operation}", params["StreamArn"])]
    if operation == "GetRecords" and "ShardIterator" in params:  # a stream's iterator begins with the stream's ARN
        return [("dynamodb:GetRecords", params["ShardIterator"].split("|", 1)[0])]
    if "TableName" not in params:
        raise NoResourceRule(f"no local IAM rule for dynamodb:{operation}")
    return [(f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName")))]


def _s3(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    from moto.s3.models import s3_backends

    bucket = params.get("Bucket", "")
    objects = f"arn:aws:s3:::{bucket}/{params.get('Key', '')}"
    backend = s3_backends[ACCOUNT_ID]["aws"]
    if operation in ("GetObject", "HeadObject"):
        needs = [("s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject", objects)]
        if operation == "GetObject":  # reading an SSE-KMS object decrypts its data key
            with contextlib.suppress(Exception):  # an object that is not there: S3 answers that, not IAM
                found = backend.get_object(bucket, params["Key"], version_id=params.get("VersionId"))
                if found is not None and found.encryption == "aws:kms" and found.kms_key_id:
                    needs.append(("kms:Decrypt", _key_arn(found.kms_key_id, region)))
        return needs
    if operation == "PutObject":
        needs = [("s3:PutObject", objects)]
        key = params.get("SSEKMSKeyId")
        if key is None and params.get("ServerSideEncryption") in (None, "aws:kms"):
            rule = (backend.get_bucket(bucket).encryption or {}).get("Rule", {})
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            key = default.get("KMSMasterKeyID") if default.get("SSEAlgorithm") == "aws:kms" else None
        if key:
            needs.append(("kms:GenerateDataKey", _key_arn(key, region)))
        return needs
    if operation in ("ListObjectsV2", "ListObjects", "HeadBucket"):
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    if operation == "ListObjectVersions":
        return [("s3:ListBucketVersions", f"arn:aws:s3:::{bucket}")]
    raise NoResourceRule(f"no local IAM rule for s3:{operation}")


def _key_arn(key: str, region: str) -> str:
    """A KMS key id, ARN or alias as the key's ARN (what key grants name)."""
    from moto.kms.models import kms_backends

    backend = kms_backends[ACCOUNT_ID][region]
    return str(backend.describe_key(backend.any_id_to_key_id(key)).arn)


def _kms(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    if "KeyId" not in params:
        raise NoResourceRule(f"no local IAM rule for kms:{operation} without a KeyId")
    return [(f"kms:{operation}", _key_arn(params["KeyId"], region))]


def _states(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    if operation in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
        return [(f"states:{operation}", "*")]  # task tokens have no resource-level permissions
    for member in ("stateMachineArn", "executionArn"):
        if member in params:
            return [(f"states:{operation}", params[member].partition("#")[0])]
    raise NoResourceRule(f"no local IAM rule for states:{operation}")


def _lambda(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    name = params.get("FunctionName", "")
    arn = name if name.startswith("arn:") else _arn("lambda", region, f"function:{name}")
    if operation == "Invoke":
        return [("lambda:InvokeFunction", arn)]
    raise NoResourceRule(f"no local IAM rule for lambda:{operation}")


def _events(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    if operation != "PutEvents":
        raise NoResourceRule(f"no local IAM rule for events:{operation}")
    buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries", [])}
    return [
        ("events:PutEvents", bus if bus.startswith("arn:") else _arn("events", region, f"event-bus/{bus}"))
        for bus in sorted(buses)
    ]


def _sns(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    if operation != "Publish" or "TopicArn" not in params:
        raise NoResourceRule(f"no local IAM rule for sns:{operation}")
    needs = [("sns:Publish", params["TopicArn"])]
    with contextlib.suppress(Exception):  # a topic that is not there: SNS answers that, not IAM
        key = sns_backends[ACCOUNT_ID][region].get_topic(params["TopicArn"]).kms_master_key_id
        if key:  # publishing to an encrypted topic uses its key
            needs += [("kms:GenerateDataKey", _key_arn(key, region)), ("kms:Decrypt", _key_arn(key, region))]
    return needs


def _connect(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    instance = params.get("InstanceId", "")
    instance_arn = instance if instance.startswith("arn:") else _arn("connect", region, f"instance/{instance}")
    if "ContactId" not in params:
        raise NoResourceRule(f"no local IAM rule for connect:{operation}")
    return [(f"connect:{operation}", f"{instance_arn}/contact/{params['ContactId']}")]


def _chime(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    if "SipMediaApplicationId" not in params:
        raise NoResourceRule(f"no local IAM rule for chime:{operation}")
    return [(f"chime:{operation}", _arn("chime", region, f"sma/{params['SipMediaApplicationId']}"))]


def _kinesis(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    arn = params.get("StreamARN") or (
        params.get("StreamName") and _arn("kinesis", region, f"stream/{params['StreamName']}")
    )
    if not arn:
        raise NoResourceRule(f"no local IAM rule for kinesis:{operation} without StreamARN or StreamName")
    return [(f"kinesis:{operation}", arn)]


def _sts(operation: str, params: dict, region: str) -> list[tuple[str, str]]:
    if operation == "GetCallerIdentity":
        return [("sts:GetCallerIdentity", "*")]
    raise NoResourceRule(f"no local IAM rule for sts:{operation}")


# by IAM service prefix (Chime SDK Voice signs and is authorized as `chime`)
RULES = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "kms": _kms,
    "states": _states,
    "lambda": _lambda,
    "events": _events,
    "sns": _sns,
    "connect": _connect,
    "chime": _chime,
    "sts": _sts,
    "kinesis": _kinesis,
}
# botocore's signing name -> IAM's service prefix, where they differ
PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch"}
