"""Decode recordings of any length: read, segment into <=30 s windows, decode windows in batches, stitch.

Each window is an ordinary Qwen-Audio call (one ``<audio>`` span of at most 30 s + the task prompt), exactly what
the model was trained on; windows of one or many recordings share batches. Silent windows (below
``silence_db``) are not decoded and give an empty text; leading/trailing digital silence of a window is not fed
to the model (its timestamps are shifted by where the decoded audio starts). Recordings come back in input
order, each as soon as all its windows are done; one that cannot be read comes back as a
:class:`LongFormError` and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core import token_ids as st
from ..core.audio_lengths import TARGET_SAMPLING_RATE
from ..core.command_options import LONG_FORM_MAX_NEW_TOKENS, LONG_FORM_TASKS
from ..modeling.generation import generate_texts
from ..processing.tags import TaskPrompt, extract_timestamps, find_task_prompt
from .reading import read_long_audio
from .stitching import LongFormResult, WindowResult, parse_window, stitch, window_text
from .planning import check_segmentation, plan_windows
from .windows import SILENCE_DB, Window, check_chunk_length, window_clip

TASKS = LONG_FORM_TASKS
DEFAULT_MAX_NEW_TOKENS = LONG_FORM_MAX_NEW_TOKENS
_JOINED_TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class LongFormTask:
    """What to ask of every window: the prompt (``<audio></audio>`` placeholder + tags) and how to stitch."""

    prompt_text: str
    join: bool
    language: str | None = None
    timestamp_start: float | None = None

    @classmethod
    def from_prompt(cls, prompt: TaskPrompt | str) -> LongFormTask:
        """From a :class:`TaskPrompt` or prompt text; text gets the audio placeholder in front unless it has one."""
        if isinstance(prompt, str):
            text = prompt if "<audio></audio>" in prompt else "<audio></audio>" + prompt
            if text.count("<audio></audio>") != 1:
                raise ValueError("a long-form prompt holds exactly one <audio></audio> placeholder (the window)")
            parsed = tags_prompt(text)
        else:
            parsed, text = prompt, prompt.to_text(audio="")
        if parsed is None:
            return cls(text, join=False)
        suffix_times = extract_timestamps(parsed.suffix)
        ends_with_time = bool(suffix_times) and parsed.suffix.endswith(st.timestamp_token(suffix_times[-1]))
        language = parsed.text_language if parsed.task in _JOINED_TASKS else None
        return cls(text, parsed.task in _JOINED_TASKS, language, suffix_times[-1] if ends_with_time else None)


def tags_prompt(text: str) -> TaskPrompt | None:
    """The task prompt in ``text`` with what follows its tags as suffix; ``None`` for a prompt without tags."""
    match = find_task_prompt(text)
    return None if match is None else replace(match.prompt, suffix=text[match.end :])


def build_task(task: str = "asr", language: str = "en", target_language: str | None = None,
               timestamps: bool = False) -> LongFormTask:
    """The CLI's tasks: ``asr`` (optionally with word timestamps), ``s2tt`` (needs ``target_language``), ``caption``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if timestamps and task != "asr":
        raise ValueError("word timestamps (--timestamps) exist for task 'asr' only (speech recognition with word "
                         "timestamps); drop --timestamps or use --task asr")
    if task == "asr":
        prompt = TaskPrompt.timestamped_asr(language) if timestamps else TaskPrompt.asr(language)
    elif task == "s2tt":
        if not target_language:
            raise ValueError("task 's2tt' needs a target language (--target-language, e.g. 'zh')")
        prompt = TaskPrompt.translation(language, target_language)
    else:
        prompt = TaskPrompt.caption("clotho", text_language=language)
    return LongFormTask.from_prompt(prompt)


@dataclass
class LongFormError:
    """A recording that could not be processed: its label and the error."""

    audio: str
    error: BaseException

    def __str__(self) -> str:
        return f"{self.audio}: {self.error}"


@dataclass
class _Recording:
    label: str
    duration_s: float
    windows: list[Window]
    results: list[WindowResult | None]
    waiting: int = 0


@dataclass
class _Job:
    recording: _Recording
    index: int
    clip: np.ndarray
    offset_s: float


@dataclass
class LongFormDecoder:
    """Windows -> batched ``generate`` -> stitched results. ``generate_kwargs`` go to ``model.generate``
    (e.g. ``num_beams=4``); decoding is greedy by default and stops at ``<|endoftext|>`` / ``<|im_end|>``."""

    model: Any
    processor: Any
    chunk_length_s: float = 30.0
    batch_size: int = 8
    overlap_s: float = 0.0
    silence_db: float = SILENCE_DB
    segmentation: str = "energy"
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    generate_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_segmentation(self.segmentation)
        check_chunk_length(self.chunk_length_s)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.overlap_s < 0 or 2 * self.overlap_s >= self.chunk_length_s / 2:
            raise ValueError(f"overlap_s must be in [0, chunk_length_s / 4), got {self.overlap_s}")

    # ------------------------------------------------------------------ decoding one batch of windows
    def decode_clips(self, clips: Sequence[np.ndarray], task: LongFormTask) -> list[str]:
        """Raw responses (special tokens kept, cut at the end token, stripped) for 16 kHz clips of <= 30 s."""
        return generate_texts(self.model, self.processor, [task.prompt_text] * len(clips), list(clips),
                              max_new_tokens=self.max_new_tokens, end_tokens=st.END_TOKENS, min_new_tokens=None,
                              batch_size=max(len(clips), 1), generate_kwargs=self.generate_kwargs)

    # ------------------------------------------------------------------ recordings
    def _open(self, source, sampling_rate, index: int) -> tuple[str, np.ndarray]:
        is_path = isinstance(source, (str, os.PathLike))
        label = os.fspath(source) if is_path else f"audio #{index}"
        return label, read_long_audio(source, sampling_rate, name=None if is_path else label)

    def _jobs(self, recording: _Recording, waveform: np.ndarray) -> list[_Job]:
        """A job per window that has sound; silent windows get their (empty) result right away."""
        jobs, margin = [], int(round(self.overlap_s * TARGET_SAMPLING_RATE))
        for index, window in enumerate(recording.windows):
            planned = window_clip(waveform, window, margin, self.silence_db)
            if planned is None:
                recording.results[index] = WindowResult(window.start_s, window.end_s, "", decoded=False)
                continue
            jobs.append(_Job(recording, index, *planned))
        recording.waiting = len(jobs)
        return jobs

    def _finish(self, recording: _Recording, task: LongFormTask) -> LongFormResult:
        return stitch(recording.label, recording.duration_s, recording.results, join=task.join,
                      language=task.language, timestamp_start=task.timestamp_start, overlap=self.overlap_s > 0)

    def run(self, sources: Iterable[Any], task: LongFormTask, *, sampling_rate: Any = None,
            progress: bool = False) -> Iterator[LongFormResult | LongFormError]:
        """Yield one result (or error) per source, in order. ``sampling_rate``: for arrays (one, or a list)."""
        from tqdm.auto import tqdm

        sources = list(sources)
        rates = sampling_rate if isinstance(sampling_rate, (list, tuple)) else [sampling_rate] * len(sources)
        if len(rates) != len(sources):
            raise ValueError(f"got {len(rates)} sampling rates for {len(sources)} audio inputs; pass one per input")
        chunk = self.chunk_length_s - 2 * self.overlap_s
        done: list[LongFormResult | LongFormError | _Recording] = []
        queue: list[_Job] = []
        emitted = 0
        bar = tqdm(total=0, unit="window", desc="long-form", disable=not progress)

        def flush(limit: int) -> None:
            while len(queue) >= limit and queue:
                batch, queue[:] = queue[: self.batch_size], queue[self.batch_size :]
                for job, response in zip(batch, self.decode_clips([job.clip for job in batch], task)):
                    window = job.recording.windows[job.index]
                    words = parse_window(response, job.offset_s, task.timestamp_start)[0]
                    text = window_text(response, words, task.language)
                    job.recording.results[job.index] = WindowResult(window.start_s, window.end_s, text, response,
                                                                    job.offset_s)
                    job.recording.waiting -= 1
                bar.update(len(batch))

        def ready() -> Iterator[LongFormResult | LongFormError]:
            nonlocal emitted
            while emitted < len(done):
                item = done[emitted]
                if isinstance(item, _Recording):
                    if item.waiting:
                        return
                    item = self._finish(item, task)
                done[emitted] = None  # free the finished recording
                emitted += 1
                yield item

        try:
            for index, (source, rate) in enumerate(zip(sources, rates)):
                try:
                    label, waveform = self._open(source, rate, index)
                except Exception as error:  # noqa: BLE001 - reported per file, the other files go on
                    label = os.fspath(source) if isinstance(source, (str, os.PathLike)) else f"audio #{index}"
                    done.append(LongFormError(label, error))
                else:
                    windows = plan_windows(waveform, chunk, self.segmentation)
                    recording = _Recording(label, len(waveform) / TARGET_SAMPLING_RATE, windows, [None] * len(windows))
                    jobs = self._jobs(recording, waveform)
                    del waveform
                    bar.total += len(windows)
                    bar.update(len(windows) - len(jobs))
                    queue.extend(jobs)
                    done.append(recording)
                flush(self.batch_size)
                yield from ready()
            flush(1)
            bar.close()  # the finished bar once, before the last results are handed out (not again after them)
            yield from ready()
        finally:
            bar.close()

    def __call__(self, audio: Any, task: LongFormTask, *, sampling_rate: Any = None,
                 progress: bool = False) -> LongFormResult:
        """One recording; raises if it cannot be read."""
        (result,) = self.run([audio], task, sampling_rate=sampling_rate, progress=progress)
        if isinstance(result, LongFormError):
            raise result.error
        return result


__all__ = ["DEFAULT_MAX_NEW_TOKENS", "TASKS", "LongFormDecoder", "LongFormError", "LongFormTask", "build_task"]
