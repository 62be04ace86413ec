"""Training data schema, loading and validation (pretraining rows and SFT conversations).

Pretraining row (one JSON object per line, or one row of a ``datasets.Dataset`` / list of dicts)::

    {"audio": "clips/a.wav",                       # see "Audio values" below
     "tags": {"task": "transcribe", "audio_language": "en", ...},   # fields of processing.tags.TaskPrompt
     "prompt": "",                                 # optional free text after the tags
     "target": "hello world"}                      # supervised text (may contain tag tokens)

The model sees ``<audio>…</audio>`` + rendered tags + prompt + target + ``<|endoftext|>``; only the target and
its end token are supervised.

SFT row::

    {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": [{"type": "audio", "path": "clips/a.wav"},
                                               {"type": "text", "text": "What does the speaker say?"}]},
                  {"role": "assistant", "content": "hello world"}]}

rendered with ``processor.apply_chat_template``; only assistant contents and their ``<|im_end|>`` are supervised.

Audio values: a path (relative paths are resolved against the jsonl file's folder or ``base_dir``), a dict
``{"path", "bytes"}`` (what ``datasets.Audio(decode=False)`` yields), a dict ``{"array", "sampling_rate"}`` (a bare
array is refused, as the processor refuses it: no rate is assumed), or a torchcodec ``AudioDecoder`` (a decoded ``datasets.Audio`` value, datasets >= 4).
Files are decoded with soundfile.

The loaders validate every row up front (missing/unreadable audio, clips over 30 s, unknown tags, empty targets,
rows longer than ``max_length`` tokens) and add a ``length`` column for ``group_by_length`` batching.
"""

from __future__ import annotations

import io
import json
import os
import re
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..jsonl import read_jsonl
from ..processing import audio_io
from ..core.audio_lengths import audio_token_counts, mel_frames_for_samples
from ..core.token_ids import AUDIO_END, AUDIO_START, ENDOFTEXT, IM_END, IM_START

AUDIO_PLACEHOLDER = AUDIO_START + AUDIO_END
"""An empty audio span; the processor fills it with the next clip's ``[[[AUDIO:modality]]]`` tokens."""
MAX_ERRORS_SHOWN = 10
_AUDIO_SPAN = re.compile(re.escape(AUDIO_START) + r".*?" + re.escape(AUDIO_END), re.DOTALL)
_ASSISTANT_TURN = re.compile(
    re.escape(IM_START) + r"assistant\n(.*?" + re.escape(IM_END) + r")", re.DOTALL
)

Segment = tuple  # (text: str, supervised: bool)


# --------------------------------------------------------------------------------------------- audio
def resolve_audio(value: Any, base_dir: str | None = None) -> Any:
    """Make a path-like audio value absolute against ``base_dir``; other values pass through."""
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if audio_io.is_url(path):
            raise ValueError(f"audio {path!r} is a URL; download it and give the local path (training is offline).")
        return os.path.join(base_dir, path) if base_dir and not os.path.isabs(path) else path
    if isinstance(value, Mapping) and value.get("path") and not value.get("bytes") and "array" not in value:
        return {**value, "path": resolve_audio(value["path"], base_dir)}
    return value


BARE_ARRAY_ERROR = (
    "audio is a bare array without its sampling rate: give {'array': samples, 'sampling_rate': rate} (the rate "
    "it was recorded at; it is resampled to 16 kHz). No rate is assumed, as in the processor."
)


def audio_num_samples(value: Any) -> int:
    """Length in 16 kHz samples, read from the file header (no decoding) or the array; raises if unreadable."""
    if value is None:
        raise ValueError("audio is missing: give a path, {'path','bytes'}, {'array','sampling_rate'} or an array.")
    source = audio_io.audio_source(value, None)
    if source.kind == "array":
        array = audio_io.to_numpy(source.value)
        if array.ndim == 0 or array.size == 0:
            raise ValueError("audio array is empty; give at least one sample or drop the row.")
        frames = max(array.shape) if array.ndim > 1 else array.shape[0]
        rate = audio_io.validate_sampling_rate(source.sampling_rate, what=source.label)
    else:
        import soundfile

        if source.kind == "file" and not os.path.isfile(source.value):
            raise ValueError(f"{source.label} does not exist; fix the path or drop the row.")
        try:
            info = soundfile.info(io.BytesIO(source.value) if source.kind == "bytes" else source.value)
        except Exception as error:
            raise ValueError(f"{source.label} cannot be read by soundfile ({error}); convert it to wav/flac.") from error
        frames, rate = info.frames, info.samplerate
    return -(-frames * audio_io.TARGET_SAMPLING_RATE // rate)


# --------------------------------------------------------------------------------------------- tags
def render_tags(tags: Mapping[str, Any] | None) -> str:
    """Render a row's tag fields into the task prompt through ``processing.tags`` (validates them)."""
    from ..processing.tags import TaskPrompt

    if isinstance(tags, TaskPrompt):
        return tags.to_text()
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except json.JSONDecodeError as error:
            raise ValueError(f"'tags' text is not a JSON object: {error}") from error
    if not isinstance(tags, Mapping):
        raise ValueError(f"'tags' must be a mapping of TaskPrompt fields, got {type(tags).__name__}.")
    return TaskPrompt.from_dict(tags).to_text()


# --------------------------------------------------------------------------------------------- segments
def pretraining_segments(row: Mapping[str, Any]) -> tuple[list[Segment], list[Any]]:
    """Split a pretraining row into (text, supervised) segments and its audio values, in span order."""
    target = row.get("target")
    if not isinstance(target, str) or not target.strip():
        raise ValueError("'target' must be a non-empty string (the text the model should produce).")
    prompt = row.get("prompt") or ""
    if not isinstance(prompt, str):
        raise ValueError(f"'prompt' must be a string, got {type(prompt).__name__}.")
    if AUDIO_START in prompt or AUDIO_START in target:
        raise ValueError(f"'prompt'/'target' must not contain {AUDIO_START}; the audio goes in the 'audio' field.")
    if row.get("audio") is None:
        raise ValueError("audio is missing: every pretraining row needs an 'audio' value.")
    prefix = AUDIO_PLACEHOLDER + render_tags(row.get("tags")) + prompt
    return [(prefix, False), (target + ENDOFTEXT, True)], [row["audio"]]


def _message_audio(item: Mapping[str, Any]) -> Any:
    for key in ("audio", "path"):
        if item.get(key) is not None:
            return item[key]
    if item.get("url") is not None:
        raise ValueError(f"audio item {item['url']!r} is a URL; download it and use 'path' (training is offline).")
    raise ValueError(f"audio item has no 'path' or 'audio' value (keys: {sorted(item)}).")


def _template_messages(messages: Any) -> tuple[list[dict], list[Any]]:
    """Validate messages; return template-safe copies (audio items as path placeholders) and the audio values."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise ValueError("'messages' must be a non-empty list of {'role', 'content'} dicts.")
    rendered, audios = [], []
    for turn in messages:
        if not isinstance(turn, Mapping) or turn.get("role") not in ("system", "user", "assistant"):
            raise ValueError(f"each message needs role system/user/assistant, got {turn!r:.80}.")
        content = turn.get("content")
        if isinstance(content, str):
            rendered.append({"role": turn["role"], "content": content})
            continue
        if not isinstance(content, Sequence):
            raise ValueError(f"message content must be a string or a list of items, got {type(content).__name__}.")
        items = []
        for item in content:
            kind = item.get("type") if isinstance(item, Mapping) else None
            if kind == "audio":
                if turn["role"] != "user":
                    raise ValueError("audio items are only supported in user messages; move the audio to a user turn.")
                audios.append(_message_audio(item))
                items.append({"type": "audio", "path": f"audio{len(audios)}"})
            elif kind == "text":
                if item.get("text") is None:
                    raise ValueError("text item has no 'text'; write it as {'type': 'text', 'text': ...}.")
                items.append({"type": "text", "text": item["text"]})
            elif isinstance(item, Mapping) and item.get("text") is not None and kind is None:
                items.append({"type": "text", "text": item["text"]})
            else:
                raise ValueError(f"unsupported content item {item!r:.80}; use type 'text' or 'audio'.")
        rendered.append({"role": turn["role"], "content": items})
    if not any(turn["role"] == "assistant" for turn in rendered):
        raise ValueError("the conversation has no assistant message, so nothing would be supervised.")
    return rendered, audios


def sft_segments(messages: Any, processor: Any) -> tuple[list[Segment], list[Any]]:
    """Render a conversation with the chat template; assistant contents + ``<|im_end|>`` are the supervised parts."""
    template_messages, audios = _template_messages(messages)
    # Training rows are never shortened: no chat-history window (max_window_size=None).
    text = processor.apply_chat_template(
        template_messages, tokenize=False, add_generation_prompt=False, max_window_size=None
    )
    text, found = _AUDIO_SPAN.subn(AUDIO_PLACEHOLDER, text)
    if found != len(audios):
        raise ValueError(f"the chat template rendered {found} audio spans for {len(audios)} audio items.")
    segments, cursor = [], 0
    for match in _ASSISTANT_TURN.finditer(text):
        segments.append((text[cursor : match.start(1)], False))
        segments.append((match.group(1), True))
        cursor = match.end(1)
    expected = sum(turn["role"] == "assistant" for turn in template_messages)
    if len(segments) // 2 != expected:
        raise ValueError(
            f"found {len(segments) // 2} '<|im_start|>assistant' turns in the rendered chat, expected {expected}; "
            "the chat template must render assistant turns as <|im_start|>assistant\\n…<|im_end|>."
        )
    if cursor < len(text):
        segments.append((text[cursor:], False))
    return [segment for segment in segments if segment[0]], audios


def row_segments(row: Mapping[str, Any], processor: Any) -> tuple[list[Segment], list[Any]]:
    """Segments of an SFT row (has ``messages``) or a pretraining row."""
    if row.get("messages") is not None:
        return sft_segments(row["messages"], processor)
    return pretraining_segments(row)


# --------------------------------------------------------------------------------------------- loading
def _normal_audio(value: Any, base_dir: str | None) -> dict | None:
    """One Arrow-friendly audio struct: {'path', 'bytes', 'array', 'sampling_rate'} (unused keys None). The value
    is classified by ``audio_io.audio_source``, the one source classifier; files stay paths (decoded when used)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) and not audio_io.is_audio_decoder(value):
        if hasattr(value, "shape") or isinstance(value, (list, tuple)):
            raise ValueError(BARE_ARRAY_ERROR)
        if not isinstance(value, (str, os.PathLike, bytes, bytearray)):
            raise TypeError(f"audio must be a path, a dict or an array, got {type(value).__name__}.")
    source = audio_io.audio_source(resolve_audio(value, base_dir))
    audio = dict.fromkeys(("path", "bytes", "array", "sampling_rate"))
    if isinstance(value, Mapping):
        audio["path"] = value.get("path")  # kept beside bytes / array as the clip's name
    if source.kind == "file":
        audio["path"] = source.value
    elif source.kind == "bytes":
        audio["bytes"] = source.value
    else:
        array = np.asarray(source.value, dtype=np.float32)
        if audio_io.is_audio_decoder(value) and array.ndim == 2:  # (channels, n) -> mono
            array = array.mean(axis=0)
        audio["array"], audio["sampling_rate"] = array, source.sampling_rate
    return audio


def _normal_item(item: Any, base_dir: str | None) -> Any:
    if not isinstance(item, Mapping):
        return item
    kind = item.get("type") or ("text" if "text" in item else None)
    audio = _message_audio(item) if kind == "audio" else None
    return {"type": kind, "text": item.get("text"), "audio": _normal_audio(audio, base_dir)}


def normalise_row(row: Mapping[str, Any], base_dir: str | None = None) -> dict:
    """Give a jsonl/list row one fixed Arrow layout: audio structs, tags as JSON text, list contents."""
    row = dict(row)
    if "audio" in row:
        row["audio"] = _normal_audio(row["audio"], base_dir)
    tags = row.get("tags")
    if hasattr(tags, "to_dict") and not isinstance(tags, Mapping):  # a TaskPrompt
        tags = tags.to_dict()
    if isinstance(tags, Mapping):
        row["tags"] = json.dumps(dict(tags), sort_keys=True)
    if isinstance(row.get("messages"), list):
        row["messages"] = [
            {"role": turn.get("role"),
             "content": [_normal_item(item, base_dir) for item in
                         ([{"type": "text", "text": turn["content"]}] if isinstance(turn.get("content"), str)
                          else turn.get("content") or [])]}
            if isinstance(turn, Mapping) else turn
            for turn in row["messages"]
        ]
    return row


def _normalise_rows(rows: Iterable[Mapping[str, Any]], base_dir: str | None) -> list[dict]:
    normalised = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {index}: each row must be a dict, got {type(row).__name__}.")
        try:
            normalised.append(normalise_row(row, base_dir))
        except (ValueError, TypeError) as error:
            raise ValueError(f"row {index}: {error}") from error
    columns = list(dict.fromkeys(key for row in normalised for key in row))  # every row gets every column
    return [{key: row.get(key) for key in columns} for row in normalised]


def _as_dataset(source: Any, base_dir: str | None):
    import datasets

    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        base = base_dir or os.path.dirname(os.path.abspath(path))
        return datasets.Dataset.from_list(_normalise_rows(read_jsonl(path, what="dataset file", allow_empty=False), base))
    if isinstance(source, datasets.Dataset):
        audio_feature = source.features.get("audio")
        if isinstance(audio_feature, datasets.Audio) and audio_feature.decode:
            source = source.cast_column("audio", datasets.Audio(decode=False))
        if base_dir:
            source = datasets.Dataset.from_list(_normalise_rows(source, base_dir))
        return source
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, Mapping)):
        rows = _normalise_rows(source, base_dir)
        if not rows:
            raise ValueError("the training data has no rows.")
        return datasets.Dataset.from_list(rows)
    raise TypeError(f"training data must be a jsonl path, a datasets.Dataset or a list of dicts, "
                    f"got {type(source).__name__}.")


def row_length(row: Mapping[str, Any], processor: Any) -> int:
    """Exact token count of a row as the collator builds it (audio spans from the clip lengths)."""
    segments, audios = row_segments(row, processor)
    tokenizer = processor.tokenizer
    text_tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text, _ in segments)
    spans = 0
    for audio in audios:
        samples = audio_num_samples(audio)
        if samples > audio_io.MAX_AUDIO_SAMPLES:
            raise ValueError(
                f"audio is {samples / audio_io.TARGET_SAMPLING_RATE:.1f} s long; the encoder takes at most "
                f"{audio_io.MAX_AUDIO_SECONDS} s per clip: split the clip and its target, or drop the row."
            )
        spans += audio_token_counts(mel_frames_for_samples(samples))
    return text_tokens + spans


def _load(source: Any, processor: Any, *, kind: str, max_length: int | None, base_dir: str | None):
    dataset = _as_dataset(source, base_dir)
    required = "messages" if kind == "sft" else "target"
    if required not in dataset.column_names:
        raise ValueError(
            f"{kind} data needs a '{required}' column; found columns {dataset.column_names}. "
            + ("SFT rows are {'messages': [...]}." if kind == "sft" else
               "Pretraining rows are {'audio', 'tags', 'prompt'?, 'target'}.")
        )
    lengths, errors = [], []
    for index, row in enumerate(dataset):
        try:
            length = row_length(row, processor)
            if max_length is not None and length > max_length:
                raise ValueError(
                    f"too long: {length} tokens > max_length={max_length}; shorten or drop the row, "
                    "or raise max_length."
                )
        except (ValueError, TypeError) as error:
            errors.append(f"row {index}: {error}")
            length = 0
        lengths.append(length)
    if errors:
        shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
        more = f"\n  ... and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise ValueError(f"{len(errors)} of {len(dataset)} {kind} rows do not fit:\n  {shown}{more}")
    if "length" in dataset.column_names:
        dataset = dataset.remove_columns("length")
    return dataset.add_column("length", lengths)


def load_pretraining_data(source: Any, processor: Any, *, max_length: int | None = None,
                          base_dir: str | None = None):
    """Load + validate pretraining rows (jsonl path, ``datasets.Dataset`` or list of dicts) into a
    ``datasets.Dataset`` with a ``length`` column. Raises one ``ValueError`` listing the rows that do not fit."""
    return _load(source, processor, kind="pretraining", max_length=max_length, base_dir=base_dir)


def load_sft_data(source: Any, processor: Any, *, max_length: int | None = None, base_dir: str | None = None):
    """Load + validate SFT conversations (``messages`` rows) into a ``datasets.Dataset`` with a ``length`` column."""
    return _load(source, processor, kind="sft", max_length=max_length, base_dir=base_dir)


__all__ = [
    "AUDIO_PLACEHOLDER",
    "audio_num_samples",
    "load_pretraining_data",
    "load_sft_data",
    "pretraining_segments",
    "render_tags",
    "row_length",
    "row_segments",
    "sft_segments",
]
