"""Batch collator: rows (pretraining or SFT, see ``data.py``) -> model inputs with masked labels.

Every row is split into text segments that are either supervised (pretraining target + ``<|endoftext|>``; SFT
assistant contents + ``<|im_end|>``) or not (audio span, tags, prompt, system/user turns, assistant headers).
All segments of the batch go through the processor in one call (it expands ``<audio></audio>`` to the clip's
span and extracts log-mels), are concatenated per row, right-padded, and labelled: supervised tokens keep their
ids, everything else is -100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from ..processing.audio_io import TARGET_SAMPLING_RATE, load_audio
from .data import row_segments

IGNORE_INDEX = -100


def describe_row(row: Mapping[str, Any]) -> str:
    """A short label for error messages: the audio path or the start of the target / first message."""
    audio = row.get("audio")
    if isinstance(audio, Mapping) and audio.get("path"):
        return f"audio {audio['path']!r}"
    if isinstance(audio, str):
        return f"audio {audio!r}"
    text = row.get("target") or str(row.get("messages"))
    return f"{str(text)[:60]!r}"


@dataclass
class QwenAudioDataCollator:
    """Collate pretraining rows or SFT conversations into ``input_ids``, ``attention_mask``, ``labels``
    (and ``input_features``/``feature_attention_mask`` when the batch has audio).

    ``max_length``: rows longer than this many tokens raise a ``ValueError`` (they are never silently cut,
    which would drop supervised tokens). ``pad_to_multiple_of`` rounds the padded length up.
    """

    processor: Any
    max_length: int | None = None
    pad_to_multiple_of: int | None = None

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch.")
        texts, supervised, owners, waveforms = [], [], [], []
        for index, row in enumerate(rows):
            try:
                segments, audios = row_segments(row, self.processor)
                waveforms.extend(load_audio(audio) for audio in audios)
            except (ValueError, TypeError, FileNotFoundError) as error:
                raise ValueError(f"training row {describe_row(row)}: {error}") from error
            for text, is_target in segments:
                texts.append(text)
                supervised.append(is_target)
                owners.append(index)

        encoded = self.processor(
            text=texts,
            audio=waveforms or None,
            sampling_rate=TARGET_SAMPLING_RATE,
            padding=True,
            return_tensors="pt",
        )
        row_ids = [[] for _ in rows]
        row_labels = [[] for _ in rows]
        for segment, (ids, mask) in enumerate(zip(encoded["input_ids"], encoded["attention_mask"])):
            ids = ids[mask.bool()]
            row_ids[owners[segment]].append(ids)
            row_labels[owners[segment]].append(ids if supervised[segment] else torch.full_like(ids, IGNORE_INDEX))

        input_ids = [torch.cat(parts) for parts in row_ids]
        labels = [torch.cat(parts) for parts in row_labels]
        for row, ids in zip(rows, input_ids):
            if self.max_length is not None and ids.numel() > self.max_length:
                raise ValueError(
                    f"training row {describe_row(row)} is too long: {ids.numel()} tokens > max_length="
                    f"{self.max_length}; shorten or drop it (load_*_data(max_length=...) finds such rows up front)."
                )
        batch = self._pad(input_ids, labels)
        for key in ("input_features", "feature_attention_mask"):
            if key in encoded:
                batch[key] = encoded[key]
        return batch

    def _pad(self, input_ids: list[torch.Tensor], labels: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        width = max(ids.numel() for ids in input_ids)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pad_id = self.processor.tokenizer.pad_token_id
        batch_ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
        batch_labels = torch.full((len(input_ids), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(input_ids), width), dtype=torch.long)
        for row, (ids, row_labels) in enumerate(zip(input_ids, labels)):
            batch_ids[row, : ids.numel()] = ids
            batch_labels[row, : ids.numel()] = row_labels
            attention_mask[row, : ids.numel()] = 1
        return {"input_ids": batch_ids, "attention_mask": attention_mask, "labels": batch_labels}


__all__ = ["IGNORE_INDEX", "QwenAudioDataCollator", "describe_row"]
