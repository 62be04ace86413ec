"""The chat tab's work, without Gradio: conversation state, prompts, streamed answers and timestamp clips.

A conversation is a list of turns ``{"audios": [path, ...], "text": str, "answer": str | None, "clips": [...]}``
(plain data, so each browser tab's ``gr.State`` holds its own copy). As in the original web demo, audios are
numbered across the whole conversation and each one is written into its user message as
``Audio N: <audio>PATH</audio>\\n`` ahead of the text; the messages are rendered by the processor's
``apply_chat_template`` (Qwen-Audio-Chat's ChatML, history window included). When an answer holds an even number
of timestamps, each pair cuts a clip out of the conversation's latest audio, as the original demo does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core.token_ids import END_TOKENS
from ..core.audio_lengths import TARGET_SAMPLING_RATE
from ..processing.audio_io import load_audio
from ..modeling.generation import stream_batch
from ..processing.tags import convert_timestamps, extract_timestamps

DEFAULT_MAX_NEW_TOKENS = 512


def new_turn(audios: list[str], text: str) -> dict:
    return {"audios": list(audios), "text": text, "answer": None, "clips": []}


def numbered_audios(history: list[dict]) -> list[tuple[int, str]]:
    """(number, path) of every audio of the conversation, numbered from 1 in the order they were added."""
    paths = [path for turn in history for path in turn["audios"]]
    return list(enumerate(paths, 1))


def user_content(turn: dict, first_number: int) -> str:
    """The user message of ``turn``: its audios as numbered spans (from ``first_number``), then the text."""
    spans = "".join(f"Audio {n}: <audio>{path}</audio>\n" for n, path in enumerate(turn["audios"], first_number))
    return spans + turn["text"]


def messages(history: list[dict]) -> list[dict]:
    """Chat messages for ``apply_chat_template``: every turn's user message and the answers given so far."""
    out, number = [], 1
    for turn in history:
        out.append({"role": "user", "content": user_content(turn, number)})
        number += len(turn["audios"])
        if turn["answer"] is not None:
            out.append({"role": "assistant", "content": turn["answer"]})
    return out


def display_text(answer: str) -> str:
    """An answer as the page shows it: timestamp tokens as seconds (``<|2.33|>`` -> ``[2.33]``)."""
    return convert_timestamps(answer, "[{:.2f}]")


def clip_spans(answer: str) -> list[tuple[float, float]]:
    """(start, end) pairs of the answer's timestamps; none unless there is an even number of them."""
    times = extract_timestamps(answer)
    if not times or len(times) % 2:
        return []
    return [(times[i], times[i + 1]) for i in range(0, len(times), 2)]


def cut_clips(answer: str, audio_path: str | None, directory: str) -> list[list[Any]]:
    """``[start, end, wav path]`` for each timestamp pair of ``answer``, cut out of ``audio_path``."""
    spans = clip_spans(answer)
    if not spans or not audio_path:
        return []
    import soundfile

    waveform = load_audio(audio_path, max_samples=None)
    os.makedirs(directory, exist_ok=True)
    clips = []
    for index, (start, end) in enumerate(spans):
        begin, stop = (int(round(t * TARGET_SAMPLING_RATE)) for t in (min(start, end), max(start, end)))
        piece = waveform[begin:stop]
        if piece.shape[0] == 0:
            continue
        path = os.path.join(directory, f"clip{index + 1}_{start:.2f}-{end:.2f}.wav")
        soundfile.write(path, np.asarray(piece, np.float32), TARGET_SAMPLING_RATE)
        clips.append([start, end, path])
    return clips


class ChatModel:
    """A loaded model + processor that streams chat answers, greedy, through ``modeling.generation.stream_batch``
    (the package's one generation path), ending at ``<|im_end|>`` / ``<|endoftext|>``."""

    def __init__(self, model, processor, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS):
        self.model, self.processor, self.max_new_tokens = model, processor, max_new_tokens

    def inputs(self, history: list[dict]):
        """Model inputs of the conversation with its last turn still to be answered."""
        return self.processor.apply_chat_template(messages(history), add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt")

    def stream(self, history: list[dict]) -> Iterator[str]:
        """The answer to the last turn so far (special tokens kept, cut at the end token), growing as it streams."""
        return stream_batch(self.model, self.processor, self.inputs(history), max_new_tokens=self.max_new_tokens,
                            end_tokens=END_TOKENS, min_new_tokens=None)


__all__ = ["ChatModel", "clip_spans", "cut_clips", "display_text", "messages", "new_turn", "numbered_audios",
           "user_content"]
