"""The workflow definitions (statemachines/*.asl.json) and the one way the tools that own a part of them
(callrec.retries: every Retry; callrec.audit_records: every audit record's frame) write them back."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from callrec.template import REPO_ROOT

DEFINITIONS = REPO_ROOT / "statemachines"


def rewrite(apply: Callable[[dict], dict]) -> list[Path]:
    """Rewrite each definition that `apply` changes (2-space JSON, as committed); the files changed."""
    changed = []
    for path in sorted(DEFINITIONS.glob("*.asl.json")):
        text = path.read_text()
        new = json.dumps(apply(json.loads(text)), indent=2, ensure_ascii=False) + "\n"
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str], module: str, apply: Callable[[dict], dict]) -> None:
    if argv != ["--write"]:
        sys.exit(f"usage: python -m {module} --write")
    for path in rewrite(apply):
        print(f"rewrote {path.name}")
