"""The CLI's own commands (verify, attest, sim) start without the engine: only demo and serve load moto."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_imports_neither_the_engine_nor_moto():
    probe = (
        "import sys, callrec.cli; loaded = [m for m in ('callrec.engine', 'moto', 'callrec.server') "
        "if m in sys.modules]; print(loaded); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_verify_help_answers():
    done = subprocess.run(
        [sys.executable, "-m", "callrec.cli", "verify", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "usage: callrec verify" in done.stdout, done.stderr
