"""Evaluation data: the original's converted jsonl format, a ``datasets`` dataset, and prediction files.

Evaluation records are dicts with ``audio`` (a path, encoded bytes, or ``{"array", "sampling_rate"}``),
``gt`` (reference text; a list of captions for Clotho), ``source`` (scores are reported per source)
and task fields such as ``question`` (ClothoAQA). Relative audio paths are resolved against the
current directory first, then the data file's directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..jsonl import read_jsonl

PREDICTION_FIELDS = ("gt", "response", "source")


def _resolve_audio_path(audio: str, base_dir: str | None) -> str:
    if os.path.isabs(audio) or os.path.exists(audio) or base_dir is None:
        return audio
    candidate = os.path.join(base_dir, audio)
    return candidate if os.path.exists(candidate) else audio


def load_records(data: Any, split: str | None = None) -> list[dict]:
    """Evaluation records from a jsonl path, a ``save_to_disk`` directory, a ``datasets`` object or a list."""
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if os.path.isdir(path):
            import datasets

            return load_records(datasets.load_from_disk(path), split=split)
        if not os.path.exists(path):
            raise FileNotFoundError(f"evaluation data {path!r} does not exist; pass a .jsonl file or a dataset directory")
        base = os.path.dirname(os.path.abspath(path))
        records = read_jsonl(path)
        for record in records:
            if isinstance(record.get("audio"), str):
                record["audio"] = _resolve_audio_path(record["audio"], base)
        return records
    if hasattr(data, "keys") and hasattr(data, "column_names") and not hasattr(data, "features"):  # DatasetDict
        if split is None:
            raise ValueError(f"a DatasetDict needs a split; pass split= one of {list(data.keys())}")
        data = data[split]
    if hasattr(data, "features") and hasattr(data, "cast_column"):  # datasets.Dataset
        return _records_from_dataset(data)
    if isinstance(data, Sequence) and all(isinstance(r, Mapping) for r in data):
        return [dict(r) for r in data]
    raise TypeError(f"cannot read evaluation data of type {type(data).__name__}; pass a jsonl path, a datasets "
                    "Dataset, or a list of dicts")


def _records_from_dataset(dataset) -> list[dict]:
    import datasets

    feature = dataset.features.get("audio")
    if isinstance(feature, datasets.Audio) and feature.decode:
        # decoding through datasets needs torchcodec; read the encoded bytes/paths and decode with soundfile
        dataset = dataset.cast_column("audio", datasets.Audio(decode=False))
    return [dict(row) for row in dataset]


def check_records(records: Sequence[Mapping], required: Iterable[str], what: str = "evaluation data") -> None:
    """Raise ``ValueError`` naming the first record that lacks a required field."""
    if not records:
        raise ValueError(f"{what} is empty")
    for index, record in enumerate(records):
        missing = [name for name in required if name not in record]
        if missing:
            raise ValueError(f"{what}: record {index} lacks field(s) {missing}; it has {sorted(record)}")


def audio_label(audio: Any) -> str | None:
    """A printable reference to a clip for the predictions file (its path if it has one)."""
    if isinstance(audio, (str, os.PathLike)):
        return os.fspath(audio)
    if isinstance(audio, Mapping) and audio.get("path"):
        return str(audio["path"])
    return None


def load_predictions(path: str | os.PathLike) -> list[dict]:
    """Predictions to (re)score: our ``predictions.jsonl`` or the original's results ``.json`` list."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"predictions file {path!r} does not exist")
    with open(path, encoding="utf-8") as handle:
        head = handle.read(1)
        handle.seek(0)
        records = json.load(handle) if head == "[" else None
    if records is None:
        records = read_jsonl(path)
    check_records(records, PREDICTION_FIELDS, what=f"predictions {path}")
    return records
