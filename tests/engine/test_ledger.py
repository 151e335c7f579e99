"""The ledger itself: a moto upgrade that moves what a record patches or uses fails loudly, naming the record."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from callrec import engine
from callrec.engine.ledger import Deferred, HookMoved, Ledger, Patch, replace_with, resolve


def test_every_record_fits_the_pinned_moto():
    engine.check_hooks()


def test_records_are_documented():
    for record in engine.LEDGER.records:
        assert record.kind in ("fix", "speed", "local"), record.name
        assert len(record.why) > 40 and record.upstream, record.name


@pytest.mark.parametrize("record", engine.LEDGER.records, ids=lambda r: r.name)
def test_a_moved_target_is_reported_by_record_name(monkeypatch, record):
    module, parts = record.owner_path
    if record.adds:  # the class the record adds a method to is gone
        monkeypatch.delattr(resolve(module), parts[0])
    else:
        owner, leaf = _owner_while_installed(record)
        monkeypatch.delattr(owner, leaf)
    with pytest.raises(HookMoved, match=f"ledger record '{record.name}'"):
        engine.LEDGER.check()


def _owner_while_installed(record: Patch):
    module, parts = record.owner_path
    return resolve(f"{module}:{'.'.join(parts[:-1])}" if parts[:-1] else module), parts[-1]


@pytest.mark.parametrize("record", [r for r in engine.LEDGER.records if r.uses], ids=lambda r: r.name)
def test_a_moved_name_a_replacement_uses_is_reported_by_record_name(monkeypatch, record):
    module, _, path = record.uses[0].partition(":")
    *parents, leaf = path.split(".")
    owner = resolve(f"{module}:{'.'.join(parents)}" if parents else module)
    if isinstance(owner, dict):
        monkeypatch.delitem(owner, leaf)
    else:
        monkeypatch.delattr(owner, leaf)
    with pytest.raises(HookMoved, match=f"ledger record '{record.name}'"):
        engine.LEDGER.check()


def test_install_refuses_a_ledger_that_no_longer_fits_and_patches_nothing(monkeypatch):
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    engine.uninstall()
    original = wait_function.WaitFunction._wait_interval
    try:
        monkeypatch.delattr(wait_function.WaitFunction, "_wait_interval")
        with pytest.raises(HookMoved, match="'wait-scaled'"):
            engine.install()
        assert not engine.installed()
    finally:
        monkeypatch.undo()
        engine.install()
    assert wait_function.WaitFunction._wait_interval is not original


def test_install_and_uninstall_restore_moto():
    from moto.dynamodb.models.table import Table
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    engine.install()
    patched = lambda_eval_utils._invoke_lambda_function
    engine.uninstall()
    try:
        assert lambda_eval_utils._invoke_lambda_function is not patched
        assert "__deepcopy__" not in vars(Table)  # an added method is removed again
    finally:
        engine.install()
    assert lambda_eval_utils._invoke_lambda_function is patched or engine.installed()


def test_a_whole_module_global_needs_a_reason():
    careless = Patch(
        "careless",
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl:time",
        replace_with(object()),
        "local",
        "x" * 50,
        "local only",
    )
    with pytest.raises(HookMoved, match="replaces a whole module global without saying why"):
        Ledger([careless]).check()


def test_one_record_per_name_and_target():
    record = engine.LEDGER["wait-scaled"]
    with pytest.raises(ValueError):
        Ledger([record, record])


def test_moto_is_the_pinned_version():
    import moto

    requirements = Path(__file__).resolve().parents[2] / "requirements" / "runtime.txt"
    pinned = next(
        line.split("==")[1].strip() for line in requirements.read_text().splitlines() if line.startswith("moto")
    )
    assert moto.__version__ == pinned


def test_a_method_moto_now_defines_itself_is_reported(monkeypatch):
    from moto.dynamodb.models.table import Table

    engine.uninstall()
    try:
        monkeypatch.setattr(Table, "__deepcopy__", lambda self, memo: self, raising=False)
        with pytest.raises(HookMoved, match="'transaction-keeps-tables'.*already defines '__deepcopy__'"):
            engine.check_hooks()
    finally:
        monkeypatch.undo()
        engine.install()


def test_a_deferred_package_moto_no_longer_has_is_reported_by_record_name():
    gone = Deferred("gone-package", "moto.no_such_service", "x" * 50, "local only")
    with pytest.raises(HookMoved, match="ledger record 'gone-package': moto has no package moto.no_such_service"):
        Ledger([], [gone]).check()


def test_deferred_records_are_documented():
    for record in engine.LEDGER.deferred:
        assert record.kind == "speed" and len(record.why) > 40 and record.upstream, record.name


def test_a_deferred_package_whose_init_fails_fails_the_same_way_at_every_read(tmp_path, monkeypatch):
    package = tmp_path / "brittle" / "service"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("raise RuntimeError('no backend today')\n")
    (package / "utils.py").write_text("NAME = 'kept'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("brittle", "brittle.service", "brittle.service.utils"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    Deferred("brittle-when-used", "brittle.service", "x" * 50, "local only").defer()
    utils = importlib.import_module("brittle.service.utils")  # a submodule alone, as moto imports it: no `__init__`

    assert utils.NAME == "kept"
    for _ in range(2):  # never a half-made package that answers AttributeError
        with pytest.raises(RuntimeError, match="no backend today"):
            getattr(sys.modules["brittle.service"], "backends")  # noqa: B009 - the read is the point
