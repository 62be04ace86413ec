"""``transformers.pipeline("automatic-speech-recognition", model=DIR)`` for Qwen-Audio, with the ASR pipeline's
conventions and the long-form machinery underneath (any length: windows cut at pauses, decoded in batches, stitched).

    asr = transformers.pipeline("automatic-speech-recognition", model="Qwen-Audio", batch_size=8)
    asr("lecture.flac")                                      # {"text": "..."}
    asr(["a.wav", b"<flac bytes>", {"raw": array, "sampling_rate": 44100}])
    asr("talk.mp3", return_timestamps=True)                  # + "chunks": [{"timestamp": (0.0, 28.4), "text": ...}]
    asr("talk.mp3", return_timestamps="word")                # one chunk per word (the word-timestamp prompt)
    asr("rede.wav", generate_kwargs={"language": "de", "task": "translate"})   # German speech -> English text

``chunk_length_s`` is the longest window (<= 30 s; the ASR pipeline's stride chunking is not used: windows are cut
at pauses by ``long_form.windows``). ``batch_size`` windows are decoded together, across the recordings of
a list. ``segmentation="vad"`` decodes only the speech Silero VAD finds (``long_form.speech_activity``). The
same settings give the same text as ``qwen-audio-hf transcribe`` (both run
:class:`~qwen_audio_hf.long_form.LongFormDecoder`; load the model in the dtype the CLI uses, float32 on CPU).

The task ``automatic-speech-recognition`` is re-registered with :class:`SpeechRecognitionPipelineRouter`, which
builds this pipeline for Qwen-Audio models and transformers' own ``AutomaticSpeechRecognitionPipeline``, unchanged,
for every other model.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from transformers import Pipeline
from transformers.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline

from ..core.audio_lengths import TARGET_SAMPLING_RATE
from ..processing.transcription_request import (
    REQUEST_FORMATS,
    TRANSCRIPTION_TASKS,
    chat_request_text,
    normalize_language,
    transcription_prompt,
)
from .decoding import DEFAULT_MAX_NEW_TOKENS, LongFormDecoder, LongFormError, LongFormTask
from .pipeline import is_sample_list
from .stitching import LongFormResult

TASK_NAME = "automatic-speech-recognition"
logger = logging.getLogger(__name__)
_CALL_KEYS = ("chunk_length_s", "batch_size", "generate_kwargs", "max_new_tokens", "return_timestamps",
              "overlap_s", "prompt_format", "sampling_rate", "segmentation", "stride_length_s")
_GENERATE_TASK_KEYS = ("language", "task", "target_language")


def transcription_task(language: Any = None, task: str = "transcribe", timestamps: bool = False,
                       target_language: Any = None, prompt_format: str = "tags", processor=None) -> LongFormTask:
    """What every window is asked: the base model's tag prompt (``"tags"``, as ``qwen-audio-hf transcribe``) or a
    chat model's transcription turn (``"chat"``, needs the processor's chat template)."""
    if prompt_format not in REQUEST_FORMATS:
        raise ValueError(f"prompt_format must be one of {', '.join(REQUEST_FORMATS)}, got {prompt_format!r}")
    if prompt_format == "tags":
        return LongFormTask.from_prompt(transcription_prompt(language, task, timestamps, target_language))
    if timestamps:
        raise ValueError("word timestamps need prompt_format='tags' (the base model's word-timestamp prompt)")
    messages = [{"role": "user", "content": [{"type": "audio", "path": ""},
                                             {"type": "text", "text": chat_request_text(language, task, target_language)}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    language = normalize_language(language) if task == "transcribe" else normalize_language(target_language or "en")
    return LongFormTask(text, join=True, language=language)


def is_qwen_audio_model(model: Any) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "qwen_audio"


def _as_source(item: Any, sampling_rate: int | None) -> tuple[Any, int | None]:
    """(source, rate) for the long-form reader: ``{"raw", "sampling_rate"}`` -> ``{"array", ...}``; bare arrays
    are at ``sampling_rate`` (default 16 kHz, as in the ASR pipeline)."""
    if isinstance(item, dict):
        item = {key: value for key, value in item.items() if key != "stride"}
        if "raw" in item and "array" not in item:
            item["array"] = item.pop("raw")
        return item, None
    if isinstance(item, (str, os.PathLike, bytes, bytearray)):
        return item, None
    return item, sampling_rate or TARGET_SAMPLING_RATE


class QwenAudioSpeechRecognitionPipeline(Pipeline):
    """Audio of any length -> ``{"text"}`` (+ ``"chunks"`` with ``return_timestamps``), Qwen-Audio underneath."""

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def __init__(self, model, tokenizer=None, feature_extractor=None, processor=None, **kwargs):
        if processor is None:
            from ..processing import QwenAudioProcessor

            if tokenizer is not None and feature_extractor is not None:
                processor = QwenAudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
            else:
                processor = QwenAudioProcessor.from_pretrained(model.name_or_path)
        for key in ("image_processor", "video_processor"):
            kwargs.pop(key, None)
        super().__init__(model, tokenizer=processor.tokenizer, feature_extractor=processor.feature_extractor,
                         processor=processor, **kwargs)
        self._window_batch_size = self._batch_size or 1

    def _sanitize_parameters(self, **kwargs):
        unknown = set(kwargs) - set(_CALL_KEYS)
        if unknown:
            raise TypeError(f"{TASK_NAME} pipeline (Qwen-Audio) got unexpected arguments {sorted(unknown)}; "
                            f"supported: {', '.join(_CALL_KEYS)}")
        if "return_timestamps" in kwargs and kwargs["return_timestamps"] not in (None, False, True, "word"):
            raise ValueError(f"return_timestamps must be False, True or 'word', got {kwargs['return_timestamps']!r}")
        if kwargs.get("stride_length_s") is not None:
            logger.warning("stride_length_s is not used by Qwen-Audio: windows are cut at pauses (overlap_s sets an "
                           "overlap between windows instead)")
        return {}, {key: value for key, value in kwargs.items() if key != "stride_length_s"}, {}

    def __call__(self, inputs, **kwargs):
        """One recording or a list (path, encoded bytes, 16 kHz array, ``{"raw"|"array", "sampling_rate"}``)."""
        _, options, _ = self._sanitize_parameters(**kwargs)
        options = {**self._forward_params, **options}
        batched = isinstance(inputs, (list, tuple)) and not is_sample_list(inputs)
        items = list(inputs) if batched else [inputs]
        results = self.transcribe(items, **options)
        if not batched:
            if isinstance(results[0], LongFormError):
                raise results[0].error
            return results[0]
        for index, result in enumerate(results):
            if isinstance(result, LongFormError):  # one bad file does not sink the rest; it is named in the result
                logger.error("%s", result)
                results[index] = {"text": "", "error": str(result)}
        return results

    def transcribe(self, items: list, *, chunk_length_s: float = 30.0, batch_size: int | None = None,
                   generate_kwargs: dict | None = None, max_new_tokens: int | None = None,
                   return_timestamps: Any = None, overlap_s: float = 0.0, prompt_format: str = "tags",
                   sampling_rate: int | None = None, segmentation: str = "energy") -> list:
        generate_kwargs = dict(generate_kwargs or {})
        fields = {key: generate_kwargs.pop(key) for key in _GENERATE_TASK_KEYS if key in generate_kwargs}
        task_name = fields.get("task") or "transcribe"
        if task_name not in TRANSCRIPTION_TASKS:
            raise ValueError(f"generate_kwargs['task'] must be one of {', '.join(TRANSCRIPTION_TASKS)}, got "
                             f"{task_name!r}")
        max_new_tokens = generate_kwargs.pop("max_new_tokens", max_new_tokens) or DEFAULT_MAX_NEW_TOKENS
        task = transcription_task(fields.get("language"), task_name, return_timestamps == "word",
                                  fields.get("target_language"), prompt_format, self.processor)
        decoder = LongFormDecoder(self.model, self.processor, chunk_length_s=chunk_length_s,
                                  batch_size=batch_size or self._window_batch_size, overlap_s=overlap_s,
                                  max_new_tokens=max_new_tokens, generate_kwargs=generate_kwargs,
                                  segmentation=segmentation)
        sources, rates = zip(*(_as_source(item, sampling_rate) for item in items))
        return [result if isinstance(result, LongFormError) else self.format_result(result, return_timestamps)
                for result in decoder.run(list(sources), task, sampling_rate=list(rates))]

    @staticmethod
    def format_result(result: LongFormResult, return_timestamps: Any) -> dict:
        """The ASR pipeline's output: ``text``, and ``chunks`` (windows with text, or words) with timestamps."""
        output: dict = {"text": result.text}
        if return_timestamps == "word":
            output["chunks"] = [{"text": w.text.strip(), "timestamp": (w.start, w.end)} for w in result.words]
        elif return_timestamps:
            output["chunks"] = [{"text": w.text, "timestamp": (w.start_s, w.end_s)}
                                for w in result.windows if w.text.strip()]
        return output

    # The Pipeline interface; __call__ above runs whole recordings through the long-form decoder instead.
    def preprocess(self, inputs, **kwargs):
        return {"inputs": inputs}

    def _forward(self, model_inputs, **kwargs):
        return {"result": self.transcribe([model_inputs["inputs"]], **kwargs)[0]}

    def postprocess(self, model_outputs, **kwargs):
        return model_outputs["result"]


class SpeechRecognitionPipelineRouter(AutomaticSpeechRecognitionPipeline):
    """The ``automatic-speech-recognition`` task's class: a Qwen-Audio model gets
    :class:`QwenAudioSpeechRecognitionPipeline`, any other model transformers' own pipeline (as if unregistered)."""

    def __new__(cls, model=None, *args, **kwargs):
        if is_qwen_audio_model(model):
            return QwenAudioSpeechRecognitionPipeline(model, *args, **kwargs)
        return AutomaticSpeechRecognitionPipeline(model, *args, **kwargs)


def register_speech_recognition() -> None:
    """Route ``pipeline("automatic-speech-recognition", ...)`` through :class:`SpeechRecognitionPipelineRouter` and
    let its model loader (``AutoModelForSpeechSeq2Seq``) load Qwen-Audio folders."""
    from transformers import AutoModelForSpeechSeq2Seq
    from transformers.pipelines import PIPELINE_REGISTRY

    from ..modeling import QwenAudioConfig, QwenAudioForConditionalGeneration

    AutoModelForSpeechSeq2Seq.register(QwenAudioConfig, QwenAudioForConditionalGeneration, exist_ok=True)
    current = PIPELINE_REGISTRY.supported_tasks[TASK_NAME]
    if current["impl"] is not SpeechRecognitionPipelineRouter:
        PIPELINE_REGISTRY.supported_tasks[TASK_NAME] = {**current, "impl": SpeechRecognitionPipelineRouter}


__all__ = [
    "TASK_NAME",
    "QwenAudioSpeechRecognitionPipeline",
    "SpeechRecognitionPipelineRouter",
    "is_qwen_audio_model",
    "register_speech_recognition",
    "transcription_task",
]
