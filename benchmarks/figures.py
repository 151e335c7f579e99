"""One figure of a benchmark, as a line `make bench` (benchmarks/report.py) gathers into its one table.

Each bench script prints its own readable lines and, for every figure, a JSON line through `figure()`:
the area it belongs to, what was measured, the value and unit, and what it compares against in the same
run (the ratio that carries across machines)."""

from __future__ import annotations

import json


def figure(area: str, name: str, value: float | int | str, unit: str = "", compare: str = "") -> None:
    print(json.dumps({"area": area, "figure": name, "value": value, "unit": unit, "compare": compare}), flush=True)
