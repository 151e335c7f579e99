"""The security properties a reviewer signs off, asserted on the parsed template.yaml (intrinsics left
as written): no wildcard IAM action anywhere; `*` resources only where the API has no resource-level
permissions, each with a comment saying so; the recording bucket TLS-only, SSE-KMS with the template's
key, Block Public Access, and the Chime grant limited to PutObject/PutObjectAcl on aws:SourceAccount and
aws:SourceArn; every API method IAM-authenticated; tables encrypted with point-in-time recovery; state
machines Standard, logged and traced; alarms on failed executions and failed verifications."""

from __future__ import annotations

import re

import pytest

from callrec.template import TEMPLATE_PATH, Template

TEMPLATE = Template.load()
RESOURCES = TEMPLATE.resources()
TEXT = TEMPLATE_PATH.read_text(encoding="utf-8")
CHIME = "voiceconnector.chime.amazonaws.com"


def _unwrap(statement: dict) -> dict:
    """A statement kept only for one provider (`!If [UseChime, statement, !Ref AWS::NoValue]`): the statement."""
    if set(statement) == {"Fn::If"}:
        condition, kept, otherwise = statement["Fn::If"]
        assert condition in ("UseConnect", "UseChime") and otherwise == {"Ref": "AWS::NoValue"}
        return kept
    return statement


def _listed(document: dict) -> list[dict]:
    return [_unwrap(statement) for statement in document["Statement"]]


def _statements():
    """(where, statement) for every policy statement: inline Policies, key policies, bucket and topic policies."""
    for logical_id, resource in RESOURCES.items():
        properties = resource.get("Properties", {})
        for policy in properties.get("Policies", []) if isinstance(properties.get("Policies"), list) else []:
            for statement in _listed(policy) if isinstance(policy, dict) and "Statement" in policy else []:
                yield logical_id, statement
        for key in ("KeyPolicy", "PolicyDocument"):
            for statement in _listed(properties[key]) if key in properties else []:
                yield logical_id, statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_wildcard_action_anywhere():
    for where, statement in _statements():
        for action in _as_list(statement.get("Action", [])):
            if statement.get("Effect") == "Deny":
                continue  # a Deny may be broad (the TLS-only statements deny s3:* without TLS)
            assert "*" not in action, f"{where}: wildcard action {action}"


def test_star_resources_only_with_a_comment_saying_why():
    lines = TEXT.splitlines()
    for number, line in enumerate(lines):
        if re.match(r'^\s*Resource:\s*"\*"', line):
            why = line.partition("#")[2]
            assert "no resource-level permissions" in why or "in a key policy" in why, (
                f"template.yaml:{number + 1}: {line.strip()}"
            )


def test_the_recording_bucket_is_private_encrypted_and_tls_only():
    bucket = RESOURCES["RecordingBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    default = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["RecordingKey", "Arn"]}}
    statements = _listed(RESOURCES["RecordingBucketPolicy"]["Properties"]["PolicyDocument"])
    tls = [s for s in statements if s["Effect"] == "Deny"]
    assert tls and tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and tls[0]["Principal"] == "*"


def test_the_chime_grant_is_put_only_and_conditioned_on_source_account_and_arn():
    statements = _listed(RESOURCES["RecordingBucketPolicy"]["Properties"]["PolicyDocument"])
    chime = [s for s in statements if s.get("Principal") == {"Service": CHIME}]
    assert len(chime) == 1
    assert sorted(_as_list(chime[0]["Action"])) == ["s3:PutObject", "s3:PutObjectAcl"]
    condition = chime[0]["Condition"]
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "aws:SourceArn" in condition["ArnLike"]
    assert "SipMediaApplicationId" in str(condition["ArnLike"]["aws:SourceArn"])  # this deployment's SMA, not sma/*


def test_the_recording_key_lets_chime_encrypt_only_for_this_account():
    statements = _listed(RESOURCES["RecordingKey"]["Properties"]["KeyPolicy"])
    chime = [s for s in statements if s.get("Principal") == {"Service": CHIME}]
    assert len(chime) == 1 and set(_as_list(chime[0]["Action"])) <= {"kms:GenerateDataKey", "kms:Decrypt"}
    assert chime[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_every_service_statement_in_the_key_policy_names_its_source():
    """Before: the Chime and CloudWatch statements checked aws:SourceAccount but not aws:SourceArn."""
    services = [
        s for s in _listed(RESOURCES["RecordingKey"]["Properties"]["KeyPolicy"]) if "Service" in s.get("Principal", {})
    ]
    assert len(services) == 3
    for statement in services:
        condition = statement["Condition"]
        named = condition.get("ArnLike", {})
        assert "aws:SourceArn" in named or "kms:EncryptionContext:aws:logs:arn" in named, statement["Sid"]


def test_log_groups_are_encrypted_and_the_prompts_versioned():
    for logical_id, group in TEMPLATE.resources("AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["RecordingKey", "Arn"]}, logical_id
    assert RESOURCES["PromptBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_every_api_method_uses_iam_auth():
    apis = TEMPLATE.resources("AWS::Serverless::Api")
    for resource in TEMPLATE.resources("AWS::Serverless::Function").values():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                api = apis[event["Properties"]["RestApiId"]["Ref"]]["Properties"]
                authorizer = event["Properties"].get("Auth", {}).get("Authorizer", api["Auth"]["DefaultAuthorizer"])
                assert authorizer == "AWS_IAM"


def test_the_api_is_throttled_and_access_logged():
    api = RESOURCES["RecordingsApi"]["Properties"]
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["RecordingsApiAccessLogs", "Arn"]}
    throttle = api["MethodSettings"][0]
    assert throttle["ResourcePath"] == "/*" and throttle["HttpMethod"] == "*"
    assert throttle["ThrottlingRateLimit"] and throttle["ThrottlingBurstLimit"]


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.resources("AWS::DynamoDB::Table")))
def test_tables_are_encrypted_with_point_in_time_recovery(logical_id):
    properties = RESOURCES[logical_id]["Properties"]
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.resources("AWS::Serverless::StateMachine")))
def test_state_machines_are_standard_logged_and_traced(logical_id):
    properties = RESOURCES[logical_id]["Properties"]
    assert properties["Type"] == "STANDARD"
    assert properties["Tracing"] == {"Enabled": True}
    logging = properties["Logging"]
    assert logging["IncludeExecutionData"] is False  # execution data never reaches logs
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][1] == "Arn"


def test_alarms_on_failed_executions_and_failed_verifications():
    alarms = TEMPLATE.resources("AWS::CloudWatch::Alarm")
    watched = {
        (a["Properties"]["MetricName"], a["Properties"]["Dimensions"][0]["Value"]["Ref"]) for a in alarms.values()
    }
    assert ("ExecutionsFailed", "RecordingSession") in watched
    assert (
        "ExecutionsFailed",
        "VerifyRecording",
    ) in watched  # VerifyRecording fails exactly when a recording is not verified
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}]


def test_the_audit_trail_is_insert_only_for_every_role():
    for logical_id, resource in RESOURCES.items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict) and any(
                "AuditTable" in str(value) for key, value in policy.items() if key != "Statement"
            ):
                raise AssertionError(f"{logical_id}: a policy template on the audit table ({next(iter(policy))})")
    for where, statement in _statements():
        if "AuditTable" in str(statement.get("Resource")):
            if "StreamArn" in str(statement["Resource"]):  # reading its stream (the sealer's mapping) writes nothing
                assert set(_as_list(statement["Action"])) <= STREAM_READS, where
                continue
            # insert-only: PutItem (conditional in the code) is its only write; reading it (Query, to seal) is fine
            assert set(_as_list(statement["Action"])) - {"dynamodb:Query"} == {"dynamodb:PutItem"}, where


STREAM_READS = {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}


def test_a_connect_only_deployment_has_no_chime_function_or_grant(runtime):
    """Providers=connect: no SMA function, no Chime statement on the bucket, the key or the workflow's role,
    and a Chime start request is refused naming the field."""
    import json

    from callrec.stack import client
    from callrec_shared.validation import InvalidRequest, validate_start

    deployment = runtime.deploy_template(Providers="connect")
    assert "SmaHandler" not in deployment.created and "ContactFlow" in deployment.created
    policy = json.loads(client("s3").get_bucket_policy(Bucket=deployment.physical("RecordingBucket"))["Policy"])
    assert CHIME not in json.dumps(policy)
    key_policy = client("kms").get_key_policy(KeyId=deployment.physical("RecordingKey"), PolicyName="default")["Policy"]
    assert CHIME not in key_policy
    role = deployment.resolver.resolve(RESOURCES["RecordingSession"]["Properties"]["Policies"])
    assert "chime:" not in json.dumps(role) and "connect:StartContactRecording" in json.dumps(role)
    chime_call = {
        "provider": "chime",
        "call": {"SipMediaApplicationId": "s", "TransactionId": "t", "CallId": "c"},
        "parties": [{"number": "+14155550123"}],
    }
    with pytest.raises(InvalidRequest) as refused:
        validate_start(chime_call)
    assert refused.value.field == "provider" and "not deployed" in refused.value.message


def test_the_entry_points_may_describe_the_sessions_executions():
    """The entry points describe a session's execution (a signal for a session still opening; a start retried
    after the session ended). moto does not enforce the functions' roles, so without this test a missing
    grant would show only on AWS: an early hang-up lost again, a retried start answered 409."""
    from callrec.template import REPO_ROOT

    assert "describe_execution" in (REPO_ROOT / "layer/python/callrec_shared/sessions.py").read_text()
    executions = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${RecordingSession.Name}:*"
    starters = {
        where
        for where, statement in _statements()
        if "states:StartExecution" in _as_list(statement["Action"])
        and statement.get("Resource") == {"Ref": "RecordingSession"}
    }
    describers = {
        where
        for where, statement in _statements()
        if "states:DescribeExecution" in _as_list(statement["Action"])
        and statement.get("Resource") == {"Fn::Sub": executions}
    }
    assert starters and starters <= describers  # (AgentEvents describes too: a hold may come that early)


EVIDENCE = ("RecordingBucket", "SessionsTable", "AuditTable", "RecordingKey", "AttestationKey")


@pytest.mark.parametrize("logical_id", EVIDENCE)
def test_the_evidence_outlives_the_stack(logical_id):
    """Before: no DeletionPolicy anywhere, so deleting the stack destroyed recordings, sessions, audit and keys."""
    resource = RESOURCES[logical_id]
    assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    if resource["Type"] == "AWS::DynamoDB::Table":
        assert resource["Properties"]["DeletionProtectionEnabled"] is True


def test_replaced_recording_versions_expire_with_the_retention_rule():
    """Before: the lifecycle expired only current versions; noncurrent ones (failed recordings too) stayed forever."""
    [rule] = RESOURCES["RecordingBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "RecordingRetentionDays"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "RecordingRetentionDays"}}


def test_every_function_logs_to_a_declared_group_with_the_retention():
    """Before: no Lambda log group was declared, so Lambda created them with unlimited retention."""
    for logical_id, function in TEMPLATE.resources("AWS::Serverless::Function").items():
        assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogs"}, logical_id
    assert RESOURCES["FunctionLogs"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
