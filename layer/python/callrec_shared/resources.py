"""Files the shared layer ships beside its code: `schemas/` and `config/`.

In the built layer they sit next to this package (layer/Makefile copies them); in the repository they
are the top-level folders. One lookup serves both, so what is tested is what ships.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_REPOSITORY = _HERE.parents[2]  # layer/python/callrec_shared -> the repository root


def folder(name: str) -> Path:
    packaged = _HERE / name
    return packaged if packaged.is_dir() else _REPOSITORY / name


@cache
def load_json(folder_name: str, file_name: str) -> Any:
    return json.loads((folder(folder_name) / file_name).read_text(encoding="utf-8"))
