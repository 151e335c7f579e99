"""The ledger: every change the local engine makes to moto, one record each.

A record names what it replaces in moto (`target`, "module:Owner.attribute"), builds the replacement from
moto's original (`make`), says why (`why`: the moto behaviour it corrects, or what the local runtime needs),
what kind of change it is, and where it stands upstream. `check()` resolves every record's target and every
other moto name its replacement uses *before* anything is patched, and names the record that no longer fits,
so a moto upgrade fails loudly at install, never with a raw AttributeError or by running unpatched.

Kinds:
- `fix`: moto differs from AWS here. Each fix has a scenario in tests/engine/test_ledger.py that passes with
  the patch and is run again without it as `xfail(strict=True)`: when a moto upgrade fixes the behaviour that
  run passes, the suite goes red, and it says "delete this patch".
- `speed`: the behaviour is AWS's either way; moto was too slow (the figures are in benchmarks/).
- `local`: what running the project on a laptop needs (handlers in-process, the telephony twins, scaled
  time, Step Functions Local's mock test cases).

A `Deferred` record names a moto package whose own `__init__` runs when one of the package's names is first read,
no longer when moto imports one of its submodules (which runs `__init__` first, and everything it imports).

The replacements live in the area modules (interpreter, tokens, dynamodb, iam, clients); they import moto
lazily, inside the functions, so importing them touches nothing in moto.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["fix", "speed", "local"]


class HookMoved(RuntimeError):
    """A moto upgrade moved or removed something a ledger record patches or uses: re-check that record."""


@dataclass(frozen=True)
class Patch:
    name: str
    target: str  # "moto.module.path:Owner.attribute" (or "module:function")
    make: Callable[[Any], Any]  # moto's original -> the replacement
    kind: Kind
    why: str
    upstream: str
    uses: tuple[str, ...] = ()  # other moto names the replacement relies on ("module:Owner.attribute")
    module_global: str = ""  # a target that is a whole module global must say why nothing narrower works
    adds: bool = False  # the target is a method moto's class does not define (the record adds it)

    @property
    def owner_path(self) -> tuple[str, list[str]]:
        module, _, path = self.target.partition(":")
        return module, path.split(".")

    def owner(self, applied: bool = False) -> tuple[Any, str]:
        """(the object that holds the attribute, the attribute's name), or HookMoved naming this record.
        `applied`: the record is in force, so an attribute it adds is there."""
        module, parts = self.owner_path
        owner = _walk(module, parts[:-1], self.name)
        leaf = parts[-1]
        own = vars(owner) if isinstance(owner, type) else None
        present = (leaf in own) if own is not None else hasattr(owner, leaf)
        if present != (not self.adds or applied):
            state = "already defines" if self.adds else "no longer has"
            raise HookMoved(
                f"ledger record {self.name!r}: {module}:{'.'.join(parts[:-1]) or '<module>'} {state} {leaf!r}"
            )
        return owner, leaf


@dataclass(frozen=True)
class Deferred:
    """A moto package imported for one of its submodules only: `__init__` runs at the first read of a name of the
    package's own (a backend, a model), once."""

    name: str
    package: str  # "moto.batch"
    why: str
    upstream: str
    kind: Kind = "speed"

    def defer(self) -> None:
        """Put the package in place without running its `__init__` (nothing if it is imported already)."""
        if self.package in sys.modules:
            return
        parent_name, _, leaf = self.package.rpartition(".")
        parent = importlib.import_module(parent_name)
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            raise HookMoved(f"ledger record {self.name!r}: moto has no package {self.package}")
        package = importlib.util.module_from_spec(spec)
        lock, started = threading.RLock(), []

        def __getattr__(name: str) -> Any:
            if name.startswith("__"):  # import machinery and copy look these up: not a use of the package
                raise AttributeError(name)
            with lock:
                if not started:
                    started.append(True)  # before: `__init__` may read the package's own names as it runs
                    try:
                        spec.loader.exec_module(package)  # type: ignore[union-attr]
                    except BaseException:
                        started.clear()  # the next read runs it again, and fails as loudly
                        raise
            try:
                return vars(package)[name]
            except KeyError:
                raise AttributeError(f"module {self.package!r} has no attribute {name!r}") from None

        package.__getattr__ = __getattr__  # type: ignore[method-assign]
        sys.modules[self.package] = package
        setattr(parent, leaf, package)


def _walk(module_name: str, parts: list[str], record: str) -> Any:
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError:
        raise HookMoved(f"ledger record {record!r}: moto has no module {module_name}") from None
    for part in parts:
        # on a class, the attribute must be its own: patching an inherited one would change other classes
        if isinstance(target, dict):
            found, value = part in target, target.get(part)
        elif isinstance(target, type):
            found, value = part in vars(target), vars(target).get(part)
        else:
            found, value = hasattr(target, part), getattr(target, part, None)
        if not found:
            raise HookMoved(f"ledger record {record!r}: {module_name}:{'.'.join(parts)} is gone (at {part!r})")
        target = value
    return target


def resolve(name: str, record: str = "?") -> Any:
    """A moto name ("module:Owner.attribute"), or HookMoved naming the record that uses it."""
    module, _, path = name.partition(":")
    return _walk(module, path.split(".") if path else [], record)


class Ledger:
    """The records, applied to moto together (process-wide, as moto's interpreter is) and undone together."""

    def __init__(self, records: Iterable[Patch], deferred: Iterable[Deferred] = ()):
        self.records: tuple[Patch, ...] = tuple(records)
        self.deferred: tuple[Deferred, ...] = tuple(deferred)
        names = [r.name for r in self.records]
        duplicated = {n for n in names if names.count(n) > 1}
        targets = [r.target for r in self.records]
        if duplicated or len(set(targets)) != len(targets):
            raise ValueError(f"ledger records must have one name and one target each: {sorted(duplicated)}")
        self._applied: list[tuple[Patch, Any, str, Any]] = []
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Patch:
        for record in self.records:
            if record.name == name:
                return record
        raise KeyError(f"no ledger record named {name!r}")

    def check(self) -> None:
        """Raise HookMoved naming every record whose target or used names moved. The deferred packages are put in
        place first: resolving the targets imports moto's modules."""
        problems = []
        for deferred in self.deferred:
            try:
                deferred.defer()
            except HookMoved as err:
                problems.append(str(err))
        applied = {record.name: original for record, _, _, original in self._applied}
        for record in self.records:
            try:
                owner, leaf = record.owner(applied=record.name in applied)
                value = applied.get(record.name, getattr(owner, leaf, None))
                if not record.adds and _is_module_global(owner, value) and not record.module_global:
                    problems.append(f"ledger record {record.name!r} replaces a whole module global without saying why")
                for name in record.uses:
                    resolve(name, record.name)
            except HookMoved as err:
                problems.append(str(err))
        if problems:
            raise HookMoved("moto changed under the engine's ledger:\n  " + "\n  ".join(problems))

    def install(self, without: Iterable[str] = ()) -> None:
        """Apply every record (idempotent) but those named in `without` (the scenarios that show a fix is
        still needed run with their one record left out)."""
        skipped = set(without)
        unknown = skipped - {r.name for r in self.records}
        if unknown:
            raise KeyError(f"no ledger records named {sorted(unknown)}")
        with self._lock:
            if self._applied:
                return
            self.check()
            for record in self.records:
                if record.name in skipped:
                    continue
                owner, leaf = record.owner()
                original = (
                    None if record.adds else (vars(owner)[leaf] if isinstance(owner, type) else getattr(owner, leaf))
                )
                setattr(owner, leaf, record.make(original))
                self._applied.append((record, owner, leaf, original))

    def uninstall(self) -> None:
        with self._lock:
            while self._applied:
                record, owner, leaf, original = self._applied.pop()
                if record.adds:
                    delattr(owner, leaf)
                else:
                    setattr(owner, leaf, original)

    def installed(self) -> bool:
        return bool(self._applied)

    def applied(self) -> set[str]:
        return {record.name for record, *_ in self._applied}


def _is_module_global(owner: Any, value: Any) -> bool:
    """A module attribute that is itself a module or a plain object (not a function): e.g. `time` or a table."""
    import types

    if not isinstance(owner, types.ModuleType):
        return False
    return not isinstance(value, (types.FunctionType, types.BuiltinFunctionType))


def replace_with(replacement: Any) -> Callable[[Any], Any]:
    """A `make` for a replacement that does not need moto's original."""
    return lambda _original: replacement


def unwrap(original: Any) -> Any:
    """The function inside a staticmethod/classmethod taken from a class's __dict__."""
    return getattr(original, "__func__", original)
