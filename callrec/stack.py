"""Deploy template.yaml into moto: the same tables, buckets, keys, functions and state machines as AWS.

Every resource is built from its own properties in the template (key schema, encryption, policies,
`DefinitionUri` + `DefinitionSubstitutions`), through plain boto3 calls, so this works in-process
(under `mock_aws`) and against the `make serve` endpoint alike. Functions are registered with the
embedded engine, which runs their handlers in-process.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from callrec import engine
from callrec.engine import snapshot
from callrec.template import Resolver, Template, TemplateError

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STACK_NAME = "callrec"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@functools.cache
def client(service: str, endpoint_url: str | None = None, region: str = REGION):
    """A boto3 client for the local stack (moto in-process, or the served endpoint); one per service, endpoint and
    Region for the process, as an application keeps its clients. Making one costs botocore 20-30 ms (its endpoint
    rules, its event handlers copied): a client per call was 15% of the test suite's CPU. moto intercepts the
    requests of clients made before its mock starts as well as after, and boto3 clients are thread-safe."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, **CREDENTIALS)


@dataclass
class Deployment:
    """What the local stack created, by logical id (what `Ref` resolved to for each)."""

    stack_name: str
    resolver: Resolver
    created: dict[str, tuple[str, str]] = field(default_factory=dict)  # logical id -> (type, physical id)
    not_created: dict[str, str] = field(default_factory=dict)  # logical id -> type (no local counterpart)
    # Connect instance storage: (instance ARN, resource type such as AGENT_EVENTS) -> Kinesis stream ARN
    instance_storage: dict[tuple[str, str], str] = field(default_factory=dict)
    ignored: dict[str, list[str]] = field(default_factory=dict)  # logical id -> properties not applied locally

    def physical(self, logical_id: str) -> str:
        try:
            return self.created[logical_id][1]
        except KeyError:
            raise KeyError(f"{logical_id} was not created by the local stack") from None

    def state_machine_arn(self, logical_id: str) -> str:
        return self.physical(logical_id)

    def summary(self) -> list[str]:
        lines = [f"{rtype:36} {lid:28} {pid}" for lid, (rtype, pid) in self.created.items()]
        lines += [
            f"{rtype:36} {lid:28} (not simulated locally: {NOT_SIMULATED[rtype]})"
            for lid, rtype in self.not_created.items()
        ]
        return lines

    def ignored_lines(self) -> list[str]:
        """What the local stack knowingly did not apply, with why (`make serve` prints it)."""
        kinds = {rtype for rtype, _ in self.created.values()}
        reasons = {name: why for kind in KINDS if kind.type in kinds for name, why in kind.ignores.items()}
        return [f"{lid:28} {name}: {reasons[name]}" for lid, names in self.ignored.items() for name in names]


# template.yaml deployed into a fresh moto in this process, by (stack, Region, parameters): the deployer (what it tells
# the engine), what it created, moto's state once it had and its mappings had opened their streams, and where each
# mapping opened them (TemplateDeployer.deploy)
_DEPLOYED: dict[tuple, tuple[TemplateDeployer, Deployment, snapshot.MotoState, list]] = {}


class TemplateDeployer:
    """Deploys a template into moto, resource by resource. One instance per deployed stack."""

    def __init__(
        self,
        template: Template | None = None,
        *,
        stack_name: str = STACK_NAME,
        endpoint_url: str | None = None,
        parameter_overrides: dict[str, str] | None = None,
        region: str = REGION,
        reuse: bool = True,
    ):
        self.template = template or Template.load()
        self.stack_name = stack_name
        self.endpoint_url = endpoint_url
        self.region = region
        self.parameter_overrides = parameter_overrides or {}
        self.reuse = reuse and template is None and endpoint_url is None
        self._layers: dict[str, Path] = {}  # layer ARN -> the folder Lambda would mount at /opt/python
        self._instance_storage: dict[tuple[str, str], str] = {}
        # what the engine is told once moto holds the resources: the functions, their environment, and then the
        # event source mappings (made then: each reads as a function's role, which exists by then)
        self._registrations: list[Callable[[], None]] = []
        self._functions: set[str] = set()  # the names and ARNs of the functions created
        self._mappings: list[Callable[[], engine.StreamMapping]] = []

    def client(self, service: str):
        return client(service, self.endpoint_url, self.region)

    # --- naming, as CloudFormation/SAM name things -----------------------------------------------------

    def _physical_name(
        self, logical_id: str, resource: dict, name_property: str, resolver: Resolver, lower: bool = False
    ) -> str:
        """The resource's own name property if the template sets one, else `<stack>-<LogicalId>`."""
        properties = resource.get("Properties", {})
        if name_property in properties:
            return str(resolver.resolve(properties[name_property]))
        name = f"{self.stack_name}-{logical_id}"
        return name.lower() if lower else name

    def _arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return ":".join(["arn", "aws", service, self.region if region else "", ACCOUNT_ID if account else "", resource])

    # --- deploy ---------------------------------------------------------------------------------------

    def deploy(self) -> Deployment:
        """Create every resource, then tell the engine of the functions and start the mappings.

        In-process, the first deployment of template.yaml into a fresh moto keeps moto's state as it stands once the
        resources exist and the mappings have opened their streams (callrec.engine.snapshot); deploying it again with
        the same parameters into another fresh moto puts that state back instead of making the same calls again
        (0.2 s -> 0.02 s), and each mapping takes the iterators it opened then. Never for another
        template, a served endpoint, a moto that holds something already, or a deployer made with `reuse=False`
        (a test that changes how the deployer works)."""
        engine.install()
        key = (
            self.stack_name,
            self.region,
            tuple(sorted(self.parameter_overrides.items())),
            tuple(sorted(engine.LEDGER.applied())),  # a scenario run with a record left out deploys afresh
        )
        into_fresh_moto = self.reuse and snapshot.pristine()
        if into_fresh_moto and key in _DEPLOYED:
            deployer, deployment, state, opened = _DEPLOYED[key]
            snapshot.restore(state)
            return deployer._start(deployment, deployer._open(opened))
        deployment = self._create()
        pollers = self._open()
        if into_fresh_moto:  # taken before the mappings poll: what they opened is in it, and nothing they read
            _DEPLOYED[key] = (self, deployment, snapshot.take(), [mapping.iterators for mapping, _ in pollers])
        return self._start(deployment, pollers)

    def _create(self) -> Deployment:
        resolver = self.template.resolver(
            pseudo={
                "AWS::Region": self.region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::StackName": self.stack_name,
                "AWS::URLSuffix": "amazonaws.com",
            },
            overrides=self.parameter_overrides,
        )
        deployment = Deployment(stack_name=self.stack_name, resolver=resolver)
        resources = self.template.resources()
        for logical_id, resource in resources.items():
            if resource["Type"] not in KIND_BY_TYPE and resource["Type"] not in NOT_SIMULATED:
                raise TemplateError(f"{logical_id}: the local stack does not know resource type {resource['Type']}")
        for kind in KINDS:
            for logical_id, resource in resources.items():
                if resource["Type"] != kind.type:
                    continue
                if "Condition" in resource and not resolver.condition(resource["Condition"]):
                    continue
                ignored = kind.check(logical_id, resource.get("Properties", {}))
                if ignored:
                    deployment.ignored[logical_id] = ignored
                physical = getattr(self, kind.create)(logical_id, resource, resolver)
                deployment.created[logical_id] = (kind.type, physical)
        for logical_id, resource in resources.items():
            if resource["Type"] in NOT_SIMULATED:
                deployment.not_created[logical_id] = resource["Type"]
        self._create_function_roles(resources, resolver)
        self._registrations.append(functools.partial(self._apply_function_environment, resources, resolver))
        deployment.instance_storage = dict(self._instance_storage)
        return deployment

    def _open(self, opened: list | None = None) -> list[tuple[engine.StreamMapping, Callable[[], None]]]:
        """Tell the engine of the functions and open the mappings' streams (`opened`: where each was opened in the
        moto a deployment is put back from: callrec.engine.streams.StreamMapping.open); each mapping, with what
        starts its polling."""
        for register in self._registrations:
            register()
        mappings = [make() for make in self._mappings]
        return [(mapping, mapping.open(opened[i] if opened else None)) for i, mapping in enumerate(mappings)]

    def _start(
        self, deployment: Deployment, pollers: list[tuple[engine.StreamMapping, Callable[[], None]]]
    ) -> Deployment:
        """Start the opened mappings' polling; a deployment of its own for the caller to keep."""
        for _, poll in pollers:
            poll()
        return dataclasses.replace(
            deployment,
            created=dict(deployment.created),
            not_created=dict(deployment.not_created),
            instance_storage=dict(deployment.instance_storage),
            ignored={logical_id: list(names) for logical_id, names in deployment.ignored.items()},
        )

    def _create_key(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource.get("Properties", {}))
        request = {
            "Description": properties.get("Description", logical_id),
            **{name: properties[name] for name in ("KeySpec", "KeyUsage") if name in properties},
        }
        if "KeyPolicy" in properties:
            request["Policy"] = json.dumps(properties["KeyPolicy"])
        kms = self.client("kms")
        metadata = kms.create_key(**request)["KeyMetadata"]
        if properties.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        _register(resolver, logical_id, metadata["KeyId"], KeyId=metadata["KeyId"], Arn=metadata["Arn"])
        return metadata["KeyId"]

    def _create_bucket(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        name = self._physical_name(logical_id, resource, "BucketName", resolver, lower=True)
        _register(
            resolver,
            logical_id,
            name,
            Arn=f"arn:aws:s3:::{name}",
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{self.region}.amazonaws.com",
        )
        properties = resolver.resolve(resource.get("Properties", {}))
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if "BucketEncryption" in properties:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [  # CloudFormation's ServerSideEncryptionByDefault is the API's Apply...
                        {
                            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                            **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                        }
                        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]}
            )
        if "LifecycleConfiguration" in properties:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={
                    "Rules": [_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
                },
            )
        return name

    def _create_bucket_policy(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource["Properties"])
        self.client("s3").put_bucket_policy(
            Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"])
        )
        return properties["Bucket"]

    def _create_table(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        name = self._physical_name(logical_id, resource, "TableName", resolver)
        arn = self._arn("dynamodb", f"table/{name}")
        properties = resolver.resolve(resource["Properties"])
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if index_kind in properties:
                request[index_kind] = properties[index_kind]
        if "StreamSpecification" in properties:
            request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
        if "SSESpecification" in properties:
            request["SSESpecification"] = {
                "Enabled": properties["SSESpecification"].get("SSEEnabled", False),
                **(
                    {"SSEType": properties["SSESpecification"]["SSEType"]}
                    if "SSEType" in properties["SSESpecification"]
                    else {}
                ),
            }
        if "DeletionProtectionEnabled" in properties:
            request["DeletionProtectionEnabled"] = bool(properties["DeletionProtectionEnabled"])
        dynamodb = self.client("dynamodb")
        created = dynamodb.create_table(**request)["TableDescription"]
        stream = {"StreamArn": created["LatestStreamArn"]} if "LatestStreamArn" in created else {}  # a table with one
        _register(resolver, logical_id, name, Arn=arn, **stream)
        if properties.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        if "TimeToLiveSpecification" in properties:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])
        return name

    def _create_layer(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource["Properties"])
        arn = self._arn("lambda", f"layer:{self.stack_name}-{logical_id}:1")
        _register(resolver, logical_id, arn)
        self._layers[arn] = self.template.directory / properties["ContentUri"] / "python"
        return arn

    def _create_function(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        name = self._physical_name(logical_id, resource, "FunctionName", resolver)
        arn = self._arn("lambda", f"function:{name}")
        _register(resolver, logical_id, name, Arn=arn)
        # Environment and Events may refer to resources created later (the state machine): they are
        # resolved at the end of the deployment, like CloudFormation's dependency order would allow.
        properties = resolver.resolve(
            {k: v for k, v in resource["Properties"].items() if k not in ("Environment", "Events", "Policies")}
        )
        layer_paths = [str(self._layers[layer_arn]) for layer_arn in properties.get("Layers", [])]
        code_dir = self.template.directory / properties["CodeUri"]
        handler_source(code_dir, properties["Handler"], logical_id)  # fail at deploy, not at first call

        def register() -> None:  # a function of its own for each deployment (its environments, its concurrency)
            for layer_path in layer_paths:
                if layer_path not in sys.path:
                    sys.path.insert(0, layer_path)
            engine.register_function(
                engine.LambdaFunction(
                    name=name,
                    arn=arn,
                    load_environment=functools.partial(load_handler, code_dir, properties["Handler"], logical_id),
                    memory_mb=int(properties.get("MemorySize", 128)),
                    timeout_seconds=int(properties.get("Timeout", 3)),
                    role_arn=self._role_arn(logical_id),
                )
            )

        self._registrations.append(register)
        self._functions |= {name, arn}
        return name

    def _create_rest_api(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        """API Gateway is not in moto's engine here: callrec.local_api serves the routes of the template's
        Api events instead. The id stands for the API in Ref and in URLs."""
        api_id = f"{self.stack_name}-{logical_id}".lower()
        _register(resolver, logical_id, api_id, RootResourceId="root")
        return f"{api_id} (served by callrec.local_api)"

    def _create_state_machine(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        name = self._physical_name(logical_id, resource, "Name", resolver)
        arn = self._arn("states", f"stateMachine:{name}")
        _register(resolver, logical_id, arn, Arn=arn, Name=name)
        properties = resolver.resolve(resource["Properties"])
        definition = render_definition(
            self.template.directory / properties["DefinitionUri"], properties.get("DefinitionSubstitutions", {})
        )
        role_arn = self._create_role(logical_id, "states.amazonaws.com", properties.get("Policies", []))
        if properties.get("Logging", {}).get("Destinations"):
            _may_deliver_logs(role_arn)
        self.client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=role_arn,
            type=properties.get("Type", "STANDARD"),
        )
        return arn

    # --- roles: SAM's `Policies`, enforced per role by callrec.engine.authorization ----------------------

    def _role_arn(self, logical_id: str) -> str:
        return self._arn("iam", f"role/{self.stack_name}-{logical_id}Role", region=False)

    def _create_role(self, logical_id: str, service: str, policies: list) -> str:
        """The execution role SAM makes for a function or a state machine: trusted by its service, with each
        item of `Policies` as an inline policy (statements as written; SAM policy templates expanded)."""
        documents = {
            f"{logical_id}Policy{index}": self._policy_document(logical_id, item) for index, item in enumerate(policies)
        }
        return create_role(self.client("iam"), f"{self.stack_name}-{logical_id}Role", service, documents)

    def _policy_document(self, logical_id: str, item: Any) -> dict:
        if isinstance(item, dict) and "Statement" in item:
            return {"Version": "2012-10-17", "Statement": item["Statement"]}
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in SAM_POLICY_TEMPLATES:
            ((template, arguments),) = item.items()
            return {"Version": "2012-10-17", "Statement": SAM_POLICY_TEMPLATES[template](self, arguments)}
        raise TemplateError(f"{logical_id}: the local stack cannot expand the policy {item!r}")

    def _create_function_roles(self, resources: dict, resolver: Resolver) -> None:
        """Function roles last: their policies may name resources created after the function (the workflow)."""
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            if "Condition" in resource and not resolver.condition(resource["Condition"]):
                continue
            policies = resolver.resolve(resource["Properties"].get("Policies", []))
            self._create_role(logical_id, "lambda.amazonaws.com", policies)

    def _create_event_bus(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource.get("Properties", {}))
        name = properties.get("Name", f"{self.stack_name}-{logical_id}")
        arn = self.client("events").create_event_bus(Name=name)["EventBusArn"]
        return _register(resolver, logical_id, name, Arn=arn, Name=name)["Arn"]

    def _create_topic(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource.get("Properties", {}))
        name = properties.get("TopicName", f"{self.stack_name}-{logical_id}")
        attributes = {key: str(properties[key]) for key in ("DisplayName", "KmsMasterKeyId") if key in properties}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return _register(resolver, logical_id, arn, TopicArn=arn, TopicName=name)["TopicArn"]

    def _create_stream(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource.get("Properties", {}))
        name = properties.get("Name", f"{self.stack_name}-{logical_id}")
        kinesis = self.client("kinesis")
        mode = properties.get("StreamModeDetails", {"StreamMode": "PROVISIONED"})
        request: dict[str, Any] = {"StreamName": name, "StreamModeDetails": mode}
        if mode["StreamMode"] == "PROVISIONED":
            request["ShardCount"] = int(properties.get("ShardCount", 1))
        kinesis.create_stream(**request)
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        if "RetentionPeriodHours" in properties and int(properties["RetentionPeriodHours"]) > 24:
            kinesis.increase_stream_retention_period(
                StreamName=name, RetentionPeriodHours=int(properties["RetentionPeriodHours"])
            )
        encryption = properties.get("StreamEncryption")
        if encryption:
            kinesis.start_stream_encryption(
                StreamName=name, EncryptionType=encryption["EncryptionType"], KeyId=encryption["KeyId"]
            )
        return _register(resolver, logical_id, name, Arn=arn)["Arn"]

    def _create_instance_storage_config(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        """Where the Connect instance sends a kind of data: the Connect twin writes agent events there."""
        properties = resolver.resolve(resource["Properties"])
        if properties["StorageType"] != "KINESIS_STREAM":
            raise TemplateError(f"{logical_id}: the local stack sends instance data to Kinesis streams only")
        stream = properties["KinesisStreamConfig"]["StreamArn"]
        self._instance_storage[(properties["InstanceArn"], properties["ResourceType"])] = stream
        association = f"{logical_id.lower()}-association"
        _register(resolver, logical_id, f"{properties['InstanceArn']}|{association}", AssociationId=association)
        return f"{properties['ResourceType']} -> {stream}"

    def _create_event_source_mapping(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        """Lambda's poller for a stream (Kinesis, or a table's), run by the engine (callrec.engine.streams) as the
        function's role."""
        properties = resolver.resolve(resource["Properties"])
        if not any(marker in properties["EventSourceArn"] for marker in engine.STREAM_SOURCES):
            raise TemplateError(f"{logical_id}: the local stack maps Kinesis and DynamoDB streams only")
        if properties["FunctionName"] not in self._functions:
            raise TemplateError(f"{logical_id}: no function {properties['FunctionName']} in this template")
        self._mappings.append(
            lambda: engine.StreamMapping(
                function=engine.settings.functions[properties["FunctionName"]],
                stream_arn=properties["EventSourceArn"],
                batch_size=int(properties.get("BatchSize", 100)),
                starting_position=properties["StartingPosition"],
                report_item_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
                max_retries=int(properties.get("MaximumRetryAttempts", -1)),
                bisect=bool(properties.get("BisectBatchOnFunctionError", False)),
                endpoint_url=self.endpoint_url,
                region=self.region,
            )
        )
        uuid_ = f"{self.stack_name}-{logical_id}".lower()
        _register(resolver, logical_id, uuid_)
        return f"{properties['EventSourceArn']} -> {properties['FunctionName']}"

    def _create_log_group(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource.get("Properties", {}))
        name = properties.get("LogGroupName", f"/callrec/{self.stack_name}/{logical_id}")
        logs = self.client("logs")
        logs.create_log_group(
            logGroupName=name, **({"kmsKeyId": properties["KmsKeyId"]} if "KmsKeyId" in properties else {})
        )
        if "RetentionInDays" in properties:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
        return _register(resolver, logical_id, name, Arn=self._arn("logs", f"log-group:{name}:*"))["Arn"]

    def _create_alarm(self, logical_id: str, resource: dict, resolver: Resolver) -> str:
        properties = resolver.resolve(resource["Properties"])
        name = properties.get("AlarmName", f"{self.stack_name}-{logical_id}")
        self.client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            **{key: properties[key] for key in ALARM_PROPERTIES if key in properties},
        )
        return _register(resolver, logical_id, name, Arn=self._arn("cloudwatch", f"alarm:{name}"))["Arn"]

    def _apply_function_environment(self, resources: dict, resolver: Resolver) -> None:
        """Put the functions' environment variables into this process, where their handlers run.

        Handlers run in-process, so they share one environment: two functions giving one variable
        different values is a template error locally (keep shared settings in Globals).
        """
        merged: dict[str, str] = {}
        for logical_id, resource in resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            variables = resolver.resolve(resource["Properties"].get("Environment", {}).get("Variables", {}))
            for key, value in variables.items():
                if key in merged and merged[key] != str(value):
                    raise TemplateError(
                        f"environment variable {key} differs between functions ({logical_id}); "
                        "handlers share one process locally"
                    )
                merged[key] = str(value)
        os.environ.update(merged)
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        if self.endpoint_url:
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
            # the Lambda runtime hands functions their role's credentials; locally, the endpoint's
            for key, value in CREDENTIALS.items():
                os.environ.setdefault(key.upper(), value)


def create_role(iam: Any, name: str, service: str, policies: dict[str, dict]) -> str:
    """An IAM role trusted by `service` (`lambda.amazonaws.com`, `states.amazonaws.com`) with `policies` (name ->
    document) inline; its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for policy_name, document in policies.items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    return str(arn)


# SAM policy templates the template uses, expanded as SAM does (its policy_templates.json)
SAM_POLICY_TEMPLATES = {
    "SNSPublishMessagePolicy": lambda deployer, arguments: [
        {
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": deployer._arn("sns", arguments["TopicName"]),
        }
    ],
}
# What a state machine's role must allow to deliver its logs to CloudWatch Logs (AWS's Step Functions guide,
# "IAM policies for logging to CloudWatch Logs"); creating one with logging fails without them.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)


class DeploymentRefused(RuntimeError):
    """AWS would refuse this resource as the template declares it (the message is AWS's)."""


def _may_deliver_logs(role_arn: str) -> None:
    from callrec.engine import authorization

    missing = [action for action in LOG_DELIVERY_ACTIONS if not authorization.permitted(role_arn, action, "*")]
    if missing:
        raise DeploymentRefused(
            "AccessDeniedException: The state machine IAM Role is not authorized to access the Log Destination "
            f"(it lacks {', '.join(missing)})"
        )


def _lifecycle_rule(rule: dict) -> dict:
    """CloudFormation's lifecycle rule as the S3 API takes it (a few members are named differently)."""
    api: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "NoncurrentVersionExpirationInDays" in rule:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return api


@dataclass(frozen=True)
class ResourceKind:
    """A resource type the local stack creates: the properties it applies, and those it knowingly ignores
    locally (with why). Any other property is a template error, so nothing is dropped silently."""

    type: str
    create: str  # the TemplateDeployer method
    applies: frozenset[str]
    ignores: dict[str, str] = field(default_factory=dict)

    def check(self, logical_id: str, properties: dict) -> list[str]:
        unknown = set(properties) - self.applies - set(self.ignores)
        if unknown:
            raise TemplateError(
                f"{logical_id} ({self.type}): the local stack neither applies nor knowingly ignores "
                f"{sorted(unknown)}; add them to callrec.stack.KINDS"
            )
        return sorted(set(properties) & set(self.ignores))


NO_TRACING = "X-Ray is not simulated"
ALARM_PROPERTIES = (  # what put_metric_alarm takes under the same names as the template
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
)
NO_IAM_ROLE = "its only role is API Gateway's account-wide CloudWatch role, which has no local counterpart"
# Creation order: what is referred to comes first.
KINDS: tuple[ResourceKind, ...] = (
    ResourceKind(
        "AWS::KMS::Key",
        "_create_key",
        frozenset({"Description", "KeySpec", "KeyUsage", "KeyPolicy", "EnableKeyRotation"}),
    ),
    ResourceKind(
        "AWS::Logs::LogGroup", "_create_log_group", frozenset({"LogGroupName", "RetentionInDays", "KmsKeyId"})
    ),
    ResourceKind(
        "AWS::S3::Bucket",
        "_create_bucket",
        frozenset(
            {
                "BucketName",
                "BucketEncryption",
                "PublicAccessBlockConfiguration",
                "VersioningConfiguration",
                "LifecycleConfiguration",
            }
        ),
    ),
    ResourceKind("AWS::S3::BucketPolicy", "_create_bucket_policy", frozenset({"Bucket", "PolicyDocument"})),
    ResourceKind(
        "AWS::DynamoDB::Table",
        "_create_table",
        frozenset(
            {
                "TableName",
                "KeySchema",
                "AttributeDefinitions",
                "BillingMode",
                "ProvisionedThroughput",
                "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes",
                "StreamSpecification",
                "SSESpecification",
                "TimeToLiveSpecification",
                "DeletionProtectionEnabled",
                "PointInTimeRecoverySpecification",
            }
        ),
    ),
    ResourceKind("AWS::Events::EventBus", "_create_event_bus", frozenset({"Name"})),
    ResourceKind("AWS::SNS::Topic", "_create_topic", frozenset({"TopicName", "DisplayName", "KmsMasterKeyId"})),
    ResourceKind(
        "AWS::Kinesis::Stream",
        "_create_stream",
        frozenset({"Name", "StreamModeDetails", "ShardCount", "RetentionPeriodHours", "StreamEncryption"}),
    ),
    ResourceKind(
        "AWS::Connect::InstanceStorageConfig",
        "_create_instance_storage_config",
        frozenset({"InstanceArn", "ResourceType", "StorageType", "KinesisStreamConfig"}),
    ),
    ResourceKind(
        "AWS::Serverless::LayerVersion",
        "_create_layer",
        frozenset({"ContentUri"}),
        {"Description": "descriptive only", "CompatibleRuntimes": "the layer is on sys.path of this Python"},
    ),
    ResourceKind(
        "AWS::Serverless::Function",
        "_create_function",
        frozenset({"FunctionName", "CodeUri", "Handler", "Layers", "MemorySize", "Timeout", "Environment", "Policies"}),
        {
            "Runtime": "handlers run in this process's Python (3.11, as the template's runtime)",
            "Architectures": "handlers run on this machine's CPU; `make build` checks the arm64 artifact",
            "Description": "descriptive only",
            "Tracing": NO_TRACING,
            "LoggingConfig": "handlers log to this process (callrec serve: .callrec/engine.log)",
            "Events": "the entry points are wired by callrec.local_api (Api events) and the telephony twins",
        },
    ),
    ResourceKind(
        "AWS::Serverless::StateMachine",
        "_create_state_machine",
        frozenset({"Name", "DefinitionUri", "DefinitionSubstitutions", "Type", "Policies"}),
        {
            "Logging": "execution history is kept by the engine; no CloudWatch Logs delivery (the role's log "
            "delivery grants are checked at creation)",
            "Tracing": NO_TRACING,
        },
    ),
    ResourceKind(
        "AWS::Serverless::Api",
        "_create_rest_api",
        frozenset({"Auth"}),
        {
            "StageName": "callrec.local_api serves the routes at its root",
            "Description": "descriptive only",
            "TracingEnabled": NO_TRACING,
            "AccessLogSetting": "callrec.local_api does not write access logs",
            "MethodSettings": "applied by callrec.local_api (its throttling answers 429); metrics are not kept",
        },
    ),
    ResourceKind(
        "AWS::Lambda::EventSourceMapping",
        "_create_event_source_mapping",
        frozenset(
            {
                "EventSourceArn",
                "FunctionName",
                "StartingPosition",
                "BatchSize",
                "FunctionResponseTypes",
                "BisectBatchOnFunctionError",
                "MaximumRetryAttempts",
            }
        ),
        {
            "MaximumBatchingWindowInSeconds": "records are delivered as each poll reads them (the template's is 0)",
            "MaximumRecordAgeInSeconds": "records are not aged locally: a run is minutes long",
        },
    ),
    ResourceKind(
        "AWS::CloudWatch::Alarm",
        "_create_alarm",
        frozenset({"AlarmName", *ALARM_PROPERTIES}),
    ),
)
KIND_BY_TYPE = {kind.type: kind for kind in KINDS}
# Types the local stack does not create at all, and why.
NOT_SIMULATED = {
    "AWS::IAM::Role": NO_IAM_ROLE,
    "AWS::ApiGateway::Account": "API Gateway's account settings (its CloudWatch role) have no local counterpart",
    "AWS::SNS::Subscription": "alerts stay on the topic; nobody is subscribed locally",
}


def _register(resolver: Resolver, logical_id: str, ref: str, **attributes: str) -> dict[str, str]:
    """What `!Ref` and `!GetAtt` of a created resource resolve to; returns the attributes."""
    resolver.refs[logical_id] = ref
    for name, value in attributes.items():
        resolver.attributes[(logical_id, name)] = value
    return attributes


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def render_definition(path: Path, substitutions: dict[str, Any]) -> str:
    """The ASL file with `DefinitionSubstitutions` applied, as SAM does; a placeholder left over is an error."""
    text = path.read_text(encoding="utf-8")

    def substitute(match: re.Match) -> str:
        key = match.group(1)
        if key not in substitutions:
            raise TemplateError(f"{path.name}: placeholder ${{{key}}} has no DefinitionSubstitutions entry")
        return str(substitutions[key])

    rendered = _PLACEHOLDER.sub(substitute, text)
    json.loads(rendered)  # the substituted definition must still be JSON
    return rendered


def handler_source(code_dir: Path, handler: str, logical_id: str) -> Path:
    module_name = handler.rpartition(".")[0]
    source = code_dir / f"{module_name.replace('.', '/')}.py"
    if not module_name or not source.is_file():
        raise TemplateError(f"{logical_id}: Handler {handler!r} names no module file in {code_dir}")
    return source


_LOADING = threading.RLock()


def load_handler(code_dir: Path, handler: str, logical_id: str, environment: int = 0) -> engine.Handler:
    """Import `module.function` from a function's CodeUri, as the Lambda runtime does: execution environment
    `environment` (0, the first, unless invocations overlap) has a module of its own."""
    module_name, _, function_name = handler.rpartition(".")
    source = handler_source(code_dir, handler, logical_id)
    unique = f"callrec_functions.{code_dir.name}.{module_name}" + (f"_environment{environment}" if environment else "")
    with _LOADING:  # one at a time: two functions' first invocations on two threads, each importing Powertools'
        # subpackages, failed with KeyError inside importlib (seen under pytest-xdist), and a second loader could
        # take a module that had not finished running
        if unique in sys.modules:
            module = sys.modules[unique]
        else:
            spec = importlib.util.spec_from_file_location(unique, source)
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique]
                raise
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise TemplateError(f"{logical_id}: {source} has no function {function_name}") from None
