"""``transformers.pipeline("qwen-audio-long-form", model=DIR)``: long recordings, used like the ASR pipeline.

    pipe = transformers.pipeline("qwen-audio-long-form", model="Qwen-Audio", chunk_length_s=30, batch_size=8)
    pipe("lecture.flac")                           # {"text": ..., "chunks": [{"timestamp": (0.0, 28.4), "text": ...}, ...]}
    pipe("lecture.flac", return_timestamps="word")  # word-timestamped transcription: one chunk per word
    pipe({"raw": array, "sampling_rate": 44100}, audio_task="s2tt", language="en", target_language="zh")

``batch_size`` is the number of windows decoded together (windows of one recording; for batches across several
recordings use :class:`~qwen_audio_hf.long_form.LongFormDecoder` or the CLI). ``generate_kwargs`` go to
``model.generate`` (e.g. ``{"num_beams": 4}``); ``prompt`` replaces the task prompt (a ``TaskPrompt`` or text).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import Pipeline

from ..core.audio_lengths import TARGET_SAMPLING_RATE
from .decoding import DEFAULT_MAX_NEW_TOKENS, LongFormDecoder, LongFormTask, build_task
from .reading import read_long_audio

TASK_NAME = "qwen-audio-long-form"
_PREPROCESS_KEYS = ("sampling_rate",)
_FORWARD_KEYS = ("chunk_length_s", "batch_size", "generate_kwargs", "max_new_tokens", "overlap_s", "audio_task",
                 "language", "target_language", "prompt", "return_timestamps")


class QwenAudioLongFormPipeline(Pipeline):
    """Audio of any length -> ``{"text", "chunks"}``; chunks are the windows (``(start, end)`` in seconds of
    the recording and their text), or the words with ``return_timestamps="word"``."""

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._window_batch_size = self._batch_size or 1
        self._batch_size = 1  # recordings are taken one at a time; windows are batched in _forward

    def _sanitize_parameters(self, **kwargs):
        unknown = set(kwargs) - set(_PREPROCESS_KEYS) - set(_FORWARD_KEYS)
        if unknown:
            raise TypeError(f"{TASK_NAME} pipeline got unexpected arguments {sorted(unknown)}; supported: "
                            f"{', '.join(_PREPROCESS_KEYS + _FORWARD_KEYS)}")
        preprocess = {key: kwargs[key] for key in _PREPROCESS_KEYS if key in kwargs}
        forward = {key: kwargs[key] for key in _FORWARD_KEYS if key in kwargs and key != "return_timestamps"}
        postprocess = {}
        if "return_timestamps" in kwargs:
            value = kwargs["return_timestamps"]
            if value not in (None, False, True, "word"):
                raise ValueError(f"return_timestamps must be False, True or 'word', got {value!r}")
            forward["word_timestamps"] = value == "word"
            postprocess["return_timestamps"] = value
        return preprocess, forward, postprocess

    def __call__(self, inputs, batch_size: int | None = None, **kwargs):
        """One recording or a list of them (path, bytes, 16 kHz array, or ``{"raw"|"array", "sampling_rate"}``)."""
        if batch_size is not None:
            kwargs["batch_size"] = batch_size
        preprocess, forward, postprocess = self._sanitize_parameters(**kwargs)
        preprocess = {**self._preprocess_params, **preprocess}
        forward = {**self._forward_params, **forward}
        postprocess = {**self._postprocess_params, **postprocess}
        if isinstance(inputs, (list, tuple)) and not is_sample_list(inputs):
            return [self.run_single(item, preprocess, forward, postprocess) for item in inputs]
        return self.run_single(inputs, preprocess, forward, postprocess)

    def preprocess(self, inputs: Any, sampling_rate: int | None = None) -> dict:
        if isinstance(inputs, dict) and "raw" in inputs:
            inputs = {**inputs, "array": inputs["raw"]}
        if isinstance(inputs, (np.ndarray, list, tuple)) or hasattr(inputs, "detach"):
            sampling_rate = sampling_rate or TARGET_SAMPLING_RATE  # like the ASR pipeline: arrays are 16 kHz
        waveform = read_long_audio(inputs, sampling_rate)
        return {"waveform": waveform}

    def _forward(self, model_inputs: dict, chunk_length_s: float = 30.0, batch_size: int | None = None,
                 generate_kwargs: dict | None = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 overlap_s: float = 0.0, audio_task: str = "asr", language: str = "en",
                 target_language: str | None = None, prompt: Any = None, word_timestamps: bool = False) -> dict:
        if prompt is not None:
            task = LongFormTask.from_prompt(prompt)
        else:
            task = build_task(audio_task, language, target_language, timestamps=word_timestamps)
        decoder = LongFormDecoder(self.model, self.processor, chunk_length_s=chunk_length_s,
                                  batch_size=batch_size or self._window_batch_size, overlap_s=overlap_s,
                                  max_new_tokens=max_new_tokens, generate_kwargs=dict(generate_kwargs or {}))
        return {"result": decoder(model_inputs["waveform"], task, sampling_rate=TARGET_SAMPLING_RATE)}

    def postprocess(self, model_outputs: dict, return_timestamps: Any = None) -> dict:
        result = model_outputs["result"]
        if return_timestamps == "word":
            chunks = [{"timestamp": (w.start, w.end), "text": w.text} for w in result.words]
        else:
            chunks = [{"timestamp": (w.start_s, w.end_s), "text": w.text} for w in result.windows]
        return {"text": result.text, "chunks": chunks}


def is_sample_list(inputs) -> bool:
    """A list of numbers is one recording's samples, not a list of recordings."""
    return bool(inputs) and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in inputs)


def register_pipeline() -> None:
    """Register :data:`TASK_NAME` with transformers (done on ``import qwen_audio_hf``)."""
    from transformers import AutoModelForCausalLM
    from transformers.pipelines import PIPELINE_REGISTRY

    if TASK_NAME not in PIPELINE_REGISTRY.supported_tasks:
        PIPELINE_REGISTRY.register_pipeline(TASK_NAME, pipeline_class=QwenAudioLongFormPipeline,
                                            pt_model=AutoModelForCausalLM, type="multimodal")


__all__ = ["TASK_NAME", "QwenAudioLongFormPipeline", "register_pipeline"]
