"""Run a protocol: batched greedy generation, per-source scoring, predictions and scores on disk.

Decoding is ``modeling.generation.generate_texts`` with the original evaluation's settings: left padding, greedy
(``do_sample=False``, one beam), at least one new token, ``<|endoftext|>`` as both end and pad token, the new
tokens cut at the first ``<|endoftext|>`` and decoded with special tokens kept, then stripped. Several processes
(``accelerate launch``) each take a contiguous share of the data; the main process gathers, scores and writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..modeling.generation import generate_texts
from ..processing.audio_io import load_audio
from .data import audio_label, check_records, load_records
from .protocols import Protocol, get_protocol


@dataclass
class EvaluationResult:
    """What one evaluation produced: per-source scores, the predictions, and where they were written."""

    task: str
    scores: dict[str, dict]
    predictions: list[dict]
    paper: dict = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"task": self.task, "scores": self.scores, "paper": self.paper, "num_examples": len(self.predictions)}


class _Waveforms(Sequence):
    """The records' clips, decoded only when a batch asks for them (a test set may not fit in memory)."""

    def __init__(self, records: Sequence[Mapping]):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        audio = self.records[index]["audio"]
        return load_audio(audio, name=f"audio of record {index}")  # arrays need their rate, as in the processor


def generate_responses(
    model,
    processor,
    records: Sequence[Mapping],
    protocol: Protocol,
    *,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    progress: bool = True,
) -> list[str]:
    """Generate one response per record, in order, on the model's device."""
    texts = [protocol.prompt_text(record) for record in records]
    audio = _Waveforms(records)
    return generate_texts(model, processor, texts, audio, max_new_tokens=max_new_tokens or protocol.max_new_tokens,
                          batch_size=batch_size, progress=progress, desc=f"eval {protocol.name}")


def _wants_cpu(device: str | None) -> bool:
    """Run on CPU (also for several processes, which accelerate only shards on CPU when told so)."""
    import torch

    if device is not None:
        return str(device).startswith("cpu")
    xpu = getattr(torch, "xpu", None)
    return not (torch.cuda.is_available() or (xpu is not None and xpu.is_available()))


def _shard(count: int, state) -> range:
    """This process's contiguous share of ``count`` items (earlier ranks take one more when uneven)."""
    size, extra = divmod(count, state.num_processes)
    begin = state.process_index * size + min(state.process_index, extra)
    return range(begin, begin + size + (state.process_index < extra))


def prediction_records(records: Sequence[Mapping], responses: Sequence[str], protocol: Protocol) -> list[dict]:
    """The predictions file rows: reference, response, source, audio reference, prompt (+ question)."""
    rows = []
    for index, (record, response) in enumerate(zip(records, responses)):
        label = audio_label(record["audio"])
        row = {"index": index, "source": record.get("source", ""), "gt": record["gt"], "response": response,
               "audio": label, "prompt": protocol.prompt_text(record, audio=label or "")}
        if "question" in record:
            row["question"] = record["question"]
        rows.append(row)
    return rows


def score_predictions(task: str | Protocol, predictions: Sequence[Mapping], *, language: str | None = None,
                      spice: str = "auto") -> dict[str, dict]:
    """Per-source scores of saved predictions (ours, or the original's results list: gt/response/source)."""
    protocol = task if isinstance(task, Protocol) else get_protocol(task, language)
    check_records(predictions, ("gt", "response", "source"), what="predictions")
    return protocol.score(predictions, spice=spice)


def write_outputs(result: EvaluationResult, output_dir: str | os.PathLike) -> dict[str, str]:
    """Write ``<task>_predictions.jsonl`` and ``<task>_scores.json``; return their paths."""
    os.makedirs(output_dir, exist_ok=True)
    predictions_path = os.path.join(output_dir, f"{result.task}_predictions.jsonl")
    scores_path = os.path.join(output_dir, f"{result.task}_scores.json")
    with open(predictions_path, "w", encoding="utf-8") as handle:
        for row in result.predictions:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(scores_path, "w", encoding="utf-8") as handle:
        json.dump(result.to_dict(), handle, ensure_ascii=False, indent=2)
    return {"predictions": predictions_path, "scores": scores_path}


def evaluate(
    model,
    processor,
    data: Any,
    task: str,
    *,
    batch_size: int = 8,
    output_dir: str | os.PathLike | None = None,
    language: str | None = None,
    limit: int | None = None,
    max_new_tokens: int | None = None,
    spice: str = "auto",
    split: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> EvaluationResult | None:
    """Evaluate ``model`` on ``data`` with protocol ``task``; see the module docstring.

    Returns the result on the main process (``None`` on the other processes of a multi-process run).
    """
    from accelerate import PartialState
    from accelerate.utils import gather_object

    protocol = get_protocol(task, language)
    records = load_records(data, split=split)
    if limit is not None:
        records = records[:limit]
    check_records(records, protocol.required_fields, what=f"data for {protocol.name}")
    for record in records[:1]:
        protocol.prompt(record)  # fail early on a bad prompt field (e.g. an unknown language pair)

    state = PartialState(cpu=_wants_cpu(device))
    if device is not None or not getattr(model, "hf_device_map", None):
        model = model.to(device if device is not None and state.num_processes == 1 else state.device)
    model.eval()
    share = _shard(len(records), state)
    local = generate_responses(model, processor, [records[i] for i in share], protocol, batch_size=batch_size,
                               max_new_tokens=max_new_tokens, progress=progress and state.is_main_process)
    pairs = list(zip(share, local))
    if state.num_processes > 1:
        pairs = gather_object(pairs)
    if not state.is_main_process:
        return None
    responses = [response for _, response in sorted(pairs)]
    predictions = prediction_records(records, responses, protocol)
    result = EvaluationResult(protocol.name, protocol.score(predictions, spice=spice), predictions,
                              dict(protocol.paper))
    if output_dir is not None:
        result.files = write_outputs(result, output_dir)
    return result
