"""`make bench`: run every benchmarks/bench_*.py in one go, gather their figures (benchmarks/figures.py) into
one table, print it, and write it with a description of the machine and each script's own output to
benchmarks/RESULTS.md (linked from the README). Every figure comes from this run; each compares against
something measured in the same run, since absolute times depend on the machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> list[str]:
    memory = ""
    try:
        kib = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
        memory = f", {kib / 1024 / 1024:.0f} GiB memory"
    except (OSError, StopIteration, ValueError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return [
        f"- machine: {os.cpu_count()} CPUs ({cpu}){memory}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


def table(figures: list[dict]) -> str:
    """The figures as one Markdown table, in the order they were measured."""
    rows = [("area", "figure", "value", "compared with (same run)"), ("---", "---", "---:", "---")]
    rows += [(f["area"], f["figure"], f"{f['value']} {f['unit']}".strip(), f["compare"]) for f in figures]
    return "\n".join("| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows)


def main() -> int:
    sections, figures, failed = [], [], False
    for script in sorted(HERE.glob("bench_*.py")):
        began = time.perf_counter()
        completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
        lines = completed.stdout.splitlines()
        figures += [json.loads(line) for line in lines if line.startswith("{")]
        output = "\n".join(line for line in lines if not line.startswith("{"))
        print(f"== {script.name} ({time.perf_counter() - began:.0f} s)\n{output}", flush=True)
        if completed.returncode:
            failed = True
            print(completed.stderr[-2000:], file=sys.stderr)
        sections.append(
            f"### {script.name}\n\n{(script.read_text().split(chr(10) * 2)[0]).strip(chr(34) + chr(10))}\n\n```\n{output}\n```\n"
        )
    print("\n" + table(figures))
    (HERE / "RESULTS.md").write_text(
        "# Benchmark results (the last `make bench`)\n\n"
        + "\n".join(machine())
        + "\n\n## Every figure\n\n"
        + table(figures)
        + "\n\n## Each script's output\n\n"
        + "\n".join(sections),
        encoding="utf-8",
    )
    print(f"\nwritten: {HERE / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
