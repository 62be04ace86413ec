"""jsonl data files (one JSON object per line), read the same way by training and evaluation."""

from __future__ import annotations

import json
import os


def read_jsonl(path: str | os.PathLike, *, what: str = "jsonl file", allow_empty: bool = True) -> list[dict]:
    """One dict per non-empty line; a missing file, a line that is not a JSON object or (``allow_empty=False``) a
    file without rows raises ValueError naming the file (and line)."""
    if not os.path.isfile(path):
        raise ValueError(f"{what} {os.fspath(path)!r} does not exist; check the path (relative to {os.getcwd()!r}).")
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{os.fspath(path)}:{number}: not valid JSON ({error.msg}); expected one JSON object per line."
                ) from None
            if not isinstance(record, dict):
                raise ValueError(
                    f"{os.fspath(path)}:{number}: holds a {type(record).__name__}; expected one JSON object per line."
                )
            records.append(record)
    if not records and not allow_empty:
        raise ValueError(f"{what} {os.fspath(path)!r} has no rows.")
    return records
