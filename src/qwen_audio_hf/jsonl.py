"""jsonl data files (one JSON object per line), read the same way by training and evaluation."""

from __future__ import annotations

import json
import os


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """One dict per non-empty line; a line that is not a JSON object raises ValueError naming file and line."""
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
    return records
