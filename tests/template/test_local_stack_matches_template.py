"""The local stack is built from template.yaml itself: what runs locally is what deploys."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from callrec import engine
from callrec.stack import client, render_definition
from callrec.template import REPO_ROOT, Template

TEMPLATE = Template.load()


def _snake(logical_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


def test_every_resource_the_local_stack_uses_comes_from_the_template(deployment):
    for logical_id, resource in TEMPLATE.resources().items():
        if "Condition" in resource and not deployment.resolver.condition(resource["Condition"]):
            assert logical_id not in deployment.created, logical_id  # its condition is false with these parameters
            continue
        assert logical_id in deployment.created or logical_id in deployment.not_created
        assert (deployment.created.get(logical_id) or (resource["Type"],))[0] == resource["Type"]


def test_tables_have_the_template_key_schema(deployment):
    dynamodb = client("dynamodb")
    for logical_id, resource in TEMPLATE.resources("AWS::DynamoDB::Table").items():
        table = dynamodb.describe_table(TableName=deployment.physical(logical_id))["Table"]
        assert table["KeySchema"] == resource["Properties"]["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
            resource["Properties"]["AttributeDefinitions"], key=lambda a: a["AttributeName"]
        )
        assert table["BillingModeSummary"]["BillingMode"] == resource["Properties"]["BillingMode"]


def test_buckets_have_the_template_encryption_and_public_access_block(deployment):
    s3 = client("s3")
    for logical_id, resource in TEMPLATE.resources("AWS::S3::Bucket").items():
        name = deployment.physical(logical_id)
        expected = deployment.resolver.resolve(resource["Properties"]["BucketEncryption"])
        rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert (
            rule["ApplyServerSideEncryptionByDefault"]
            == (expected["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"])
        )
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert block == resource["Properties"]["PublicAccessBlockConfiguration"]


def test_bucket_policies_are_the_templates(deployment):
    s3 = client("s3")
    for resource in TEMPLATE.resources("AWS::S3::BucketPolicy").values():
        properties = deployment.resolver.resolve(resource["Properties"])
        assert json.loads(s3.get_bucket_policy(Bucket=properties["Bucket"])["Policy"]) == properties["PolicyDocument"]
    assert deployment.resolver.attributes[("RecordingKey", "Arn")] in json.dumps(
        s3.get_bucket_encryption(Bucket=deployment.physical("RecordingBucket"))["ServerSideEncryptionConfiguration"]
    )


def test_state_machines_run_the_definition_files_with_substitutions(deployment):
    sfn = client("stepfunctions")
    for logical_id, resource in TEMPLATE.resources("AWS::Serverless::StateMachine").items():
        described = sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn(logical_id))
        properties = deployment.resolver.resolve(resource["Properties"])
        expected = render_definition(REPO_ROOT / properties["DefinitionUri"], properties["DefinitionSubstitutions"])
        assert json.loads(described["definition"]) == json.loads(expected)
        assert described["type"] == properties["Type"] == "STANDARD"
        assert "${" not in described["definition"]


def test_every_function_is_registered_with_its_handler(deployment):
    for logical_id in TEMPLATE.resources("AWS::Serverless::Function"):
        function = engine.settings.functions[deployment.physical(logical_id)]
        assert callable(function.handler)


def test_function_folders_and_logical_ids_match():
    functions = TEMPLATE.resources("AWS::Serverless::Function")
    folders = {
        path.name for path in (REPO_ROOT / "functions").iterdir() if path.is_dir() and not path.name.startswith("_")
    }
    assert {_snake(logical_id) for logical_id in functions} == folders
    for logical_id, resource in functions.items():
        assert resource["Properties"]["CodeUri"].rstrip("/") == f"functions/{_snake(logical_id)}"
        assert resource["Properties"]["Handler"] == "app.lambda_handler"


def test_every_definition_file_is_deployed():
    used = {
        resource["Properties"]["DefinitionUri"]
        for resource in TEMPLATE.resources("AWS::Serverless::StateMachine").values()
    }
    assert {f"statemachines/{path.name}" for path in (REPO_ROOT / "statemachines").glob("*.asl.json")} == used


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "schemas").glob("*.schema.json")), ids=lambda p: p.name)
def test_schemas_are_valid_json_schema(path):
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_built_layer_carries_the_shared_code_and_the_schemas(tmp_path):
    """`sam build` runs layer/Makefile; run the same target and use the shipped code the way Lambda would: it
    finds the schemas shipped beside it. (Its dependencies are arm64 wheels, which this host cannot load, so the
    code runs here on the host's own; tests/template/test_built_artifact.py checks those wheels.)"""
    built = tmp_path / "built"
    made = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(REPO_ROOT / "layer"),
            "build-SharedLayer",
            f"ARTIFACTS_DIR={built}",
            f"PYTHON={sys.executable}",
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]  # what failed, not only that it did
    shipped = built / "python" / "callrec_shared"
    assert sorted(p.name for p in (shipped / "schemas").iterdir()) == sorted(
        p.name for p in (REPO_ROOT / "schemas").iterdir()
    )
    code_only = tmp_path / "code"
    code_only.mkdir()
    (code_only / "callrec_shared").symlink_to(shipped, target_is_directory=True)
    probe = subprocess.run(
        [sys.executable, "-c", "from callrec_shared import validation; print(validation.schema_dir())"],
        env={"PYTHONPATH": str(code_only)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == str(shipped / "schemas")  # the module resolves its own (real) folder


def test_the_simulated_provider_side_is_what_the_template_is_deployed_for(deployment):
    """The twin's Connect instance and SIP media application come from the template's parameters (the
    bucket policy admits only that SMA), and `make serve` advertises the same ids."""
    from callrec.callcentre import TwinIds
    from callrec.server import CONNECT_INSTANCE_ID, SMA_ID

    ids = TwinIds.of(deployment)
    assert (ids.connect_instance_id, ids.sma_id) == (CONNECT_INSTANCE_ID, SMA_ID)
    assert f"connect/{ids.connect_alias}/CallRecordings" == deployment.resolver.parameters["ConnectRecordingPrefix"]


def test_signal_queue_items_expire_by_the_tables_ttl(deployment):
    """SignalsTable's TTL attribute is the one the code writes, about 30 days ahead (the audit keeps the record)."""
    import time

    from callrec_shared import sessions

    dynamodb = client("dynamodb")
    table = deployment.physical("SignalsTable")
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == (sessions.EXPIRES, "ENABLED")
    session_id = "6c1f2e3d-4b5a-5968-8776-a5b4c3d2e1f0"
    dynamodb.put_item(TableName=deployment.physical("SessionsTable"), Item={"sessionId": {"S": session_id}})
    sessions._enqueue(session_id, "suspend", "api", "key-1")
    items = dynamodb.query(
        TableName=table, KeyConditionExpression="sessionId = :s", ExpressionAttributeValues={":s": {"S": session_id}}
    )["Items"]
    assert {i["sk"]["S"][:4] for i in items} == {"sig#", "key#"}
    for item in items:
        assert abs(int(item[sessions.EXPIRES]["N"]) - (time.time() + 30 * 86400)) < 120
