"""Least privilege, exactly: each role's DynamoDB grants are derived from what its code and its definition
actually call, table by table, and the template must grant exactly that: no more (no DynamoDBCrudPolicy's
DeleteItem, Scan or BatchWriteItem, with which any entry point could erase session evidence), no less."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from callrec.template import REPO_ROOT, Template

LAYER = REPO_ROOT / "layer" / "python" / "callrec_shared"
BOTO_ACTIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "query": "Query",
    "scan": "Scan",
    "delete_item": "DeleteItem",
    "batch_write_item": "BatchWriteItem",
    "batch_get_item": "BatchGetItem",
}
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "ConditionCheck": "ConditionCheckItem",
    "Delete": "DeleteItem",
}
TABLES = {
    "sessions_table": "SessionsTable",
    "signals_table": "SignalsTable",
    "audit_table": "AuditTable",
    "SessionsTableName": "SessionsTable",
    "SignalsTableName": "SignalsTable",
    "AuditTableName": "AuditTable",
}


def _table(node: ast.AST | None) -> str:
    text = ast.unparse(node) if node is not None else ""
    found = [table for marker, table in TABLES.items() if marker in text]
    assert len(found) == 1, f"cannot tell which table {text!r} names"
    return found[0]


def _dynamodb_calls(function: ast.AST) -> set[tuple[str, str]]:
    """(table, action) for every DynamoDB call written in this function's body."""
    needs = set()
    for node in ast.walk(function):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}
        if method in BOTO_ACTIONS and "TableName" in keywords:
            needs.add((_table(keywords["TableName"]), BOTO_ACTIONS[method]))
    for node in ast.walk(function):  # transaction items, wherever they are built: {"Put": {"TableName": ...}}
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in TRANSACT_ACTIONS and isinstance(value, ast.Dict):
                    table = next(
                        (
                            v
                            for k, v in zip(value.keys, value.values, strict=True)
                            if isinstance(k, ast.Constant) and k.value == "TableName"
                        ),
                        None,
                    )
                    if table is not None:
                        needs.add((_table(table), TRANSACT_ACTIONS[key.value]))
    return needs


def _module_functions(path: Path) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}


def _needs(app: Path) -> set[tuple[str, str]]:
    """What a function's handler can reach: its own code, and the layer functions it calls, transitively."""
    modules = {path.stem: _module_functions(path) for path in LAYER.glob("*.py")}
    tree = ast.parse(app.read_text())
    needs = _dynamodb_calls(tree)
    todo = [
        (node.value.id, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
    ]
    seen = set()
    while todo:
        module, name = todo.pop()
        if (module, name) in seen or name not in modules[module]:
            continue
        seen.add((module, name))
        function = modules[module][name]
        needs |= _dynamodb_calls(function)
        todo += [
            (module, node.func.id)
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        ]
        todo += [  # and what it calls in another layer module (sessions.audit -> audit_chain.seal)
            (node.value.id, node.attr)
            for node in ast.walk(function)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
        ]
    return needs


def _definition_needs(definition: dict) -> set[tuple[str, str]]:
    needs = set()

    def walk(node):
        if isinstance(node, dict):
            resource = node.get("Resource", "")
            if isinstance(resource, str) and ":dynamodb:" in resource:
                action = re.sub(r"\.waitForTaskToken$", "", resource.rsplit(":", 1)[1])
                parameters = node.get("Parameters") or node.get("Arguments") or {}
                if action == "transactWriteItems" and isinstance(parameters["TransactItems"], str):
                    # items built by a JSONata expression: each names its kind and table literally
                    for kind, table in re.findall(
                        r"'(\w+)': \{'TableName': '\$\{(\w+)\}'", parameters["TransactItems"]
                    ):
                        needs.add((TABLES[table], TRANSACT_ACTIONS[kind]))
                elif action == "transactWriteItems":
                    for item in parameters["TransactItems"]:
                        ((kind, body),) = item.items()
                        needs.add((TABLES[body["TableName"][2:-1]], TRANSACT_ACTIONS[kind]))
                else:
                    needs.add((TABLES[parameters["TableName"][2:-1]], action[0].upper() + action[1:]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return needs


def _granted(logical_id: str) -> set[tuple[str, str]]:
    resource = Template.load().resources()[logical_id]
    granted = set()
    for policy in resource["Properties"].get("Policies", []):
        assert not any(name.startswith("DynamoDB") for name in policy), f"{logical_id} uses a SAM DynamoDB template"
        for statement in policy.get("Statement", []):
            statement = statement if "Effect" in statement else None
            if not statement:
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any("StreamArn" in json.dumps(r) for r in resources):
                continue  # a table's stream, read by an event source mapping as the role (tests/local_stack/test_iam)
            for action in actions:
                if action.startswith("dynamodb:"):
                    for table in resources:
                        (name,) = re.findall(r"(\w+Table)\b", json.dumps(table))
                        granted.add((name, action.split(":")[1]))
    return granted


FUNCTIONS = {
    "Api": "api",
    "ContactFlow": "contact_flow",
    "SmaHandler": "sma_handler",
    "RecordingChecks": "recording_checks",
    "AuditSealer": "audit_sealer",
}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_function_is_granted_exactly_the_dynamodb_actions_its_code_makes(logical_id):
    needed = _needs(REPO_ROOT / "functions" / FUNCTIONS[logical_id] / "app.py")
    assert _granted(logical_id) == needed


@pytest.mark.parametrize(
    "logical_id, definition", [("RecordingSession", "recording_session"), ("VerifyRecording", "verify_recording")]
)
def test_each_workflow_is_granted_exactly_the_dynamodb_actions_its_definition_makes(logical_id, definition):
    needed = _definition_needs(json.loads((REPO_ROOT / "statemachines" / f"{definition}.asl.json").read_text()))
    assert _granted(logical_id) == needed


def test_the_audit_trail_is_insert_only_for_every_role():
    for logical_id in [*FUNCTIONS, "RecordingSession", "VerifyRecording"]:
        writes = {action for table, action in _granted(logical_id) if table == "AuditTable"} - {"Query"}
        assert writes <= {"PutItem"}, logical_id  # insert-only: no update, no delete (reading it to seal is fine)


def test_no_role_uses_a_sam_policy_template_with_wildcard_resources():
    """SAM's LambdaInvokePolicy grants function:<name>* and DynamoDBCrudPolicy every item action: neither is used."""
    for logical_id, resource in Template.load().resources().items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if isinstance(policy, dict):
                assert not {"LambdaInvokePolicy", "DynamoDBCrudPolicy", "DynamoDBReadPolicy"} & set(policy), logical_id
