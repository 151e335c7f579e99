"""A moto upgrade that moves a patched hook must fail loudly, not silently run unpatched."""

from __future__ import annotations

import importlib

import pytest

from callrec import engine


def test_every_hook_is_where_the_adapter_expects_it():
    engine.check_hooks()  # raises HookMoved naming what moved


@pytest.mark.parametrize("module_name, attribute_path", engine.HOOKS)
def test_a_moved_hook_is_reported_by_name(monkeypatch, module_name, attribute_path):
    owner = importlib.import_module(module_name)
    *parents, leaf = attribute_path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    if leaf == "_mock_test_case":
        monkeypatch.setattr(owner, "__annotations__", {})
    else:
        monkeypatch.delattr(owner, leaf)
    with pytest.raises(engine.HookMoved, match=f"{module_name}.{attribute_path}".replace(".", r"\.")):
        engine.check_hooks()


def test_install_refuses_to_patch_a_moved_hook(monkeypatch):
    engine.uninstall()
    try:
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

        monkeypatch.delattr(wait_function.WaitFunction, "_wait_interval")
        with pytest.raises(engine.HookMoved):
            engine.install()
        assert not engine.installed()
    finally:
        monkeypatch.undo()
        engine.install()


def test_install_and_uninstall_restore_moto():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    engine.install()
    assert lambda_eval_utils._invoke_lambda_function is engine._invoke_lambda_function
    engine.uninstall()
    assert lambda_eval_utils._invoke_lambda_function is not engine._invoke_lambda_function
    engine.install()


def test_moto_is_the_pinned_version():
    import moto

    pinned = next(
        line.split("==")[1].strip()
        for line in open(engine.__file__.replace("callrec/engine.py", "requirements/runtime.txt"))
        if line.startswith("moto")
    )
    assert moto.__version__ == pinned


def test_policy_statements_conditioned_on_absent_keys_do_not_apply():
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    engine.install()
    tls_only = IAMPolicyStatement({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
                                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    service_grant = IAMPolicyStatement({"Effect": "Allow", "Principal": {"Service": "voiceconnector.chime.amazonaws.com"},
                                        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
                                        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}})
    unconditional = IAMPolicyStatement({"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "*"})
    assert tls_only.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") == PermissionResult.NEUTRAL
    assert service_grant.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") == PermissionResult.NEUTRAL
    assert unconditional.is_action_permitted("s3:DeleteObject", "arn:aws:s3:::b/k") == PermissionResult.DENIED
    matching = {"aws:SourceAccount": "123456789012"}
    assert service_grant.is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k", None, matching) == PermissionResult.PERMITTED
