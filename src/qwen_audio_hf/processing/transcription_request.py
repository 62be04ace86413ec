"""``QwenAudioProcessor.apply_transcription_request`` and ``decode(..., return_format=...)``: the transcription
helper of transformers' audio LLMs (Voxtral, Qwen3-ASR), for Qwen-Audio.

    inputs = processor.apply_transcription_request(["a.flac", "b.wav"], language=["en", "zh"])
    out = model.generate(**inputs, max_new_tokens=256)
    processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], return_format="transcription_only")

The request is the base model's task prompt (``format="tags"``, the paper's
``<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>``; with ``timestamps=True`` the
word-timestamp prompt ending in ``<|0.00|>``) or, for a chat model (``format="chat"``), a ChatML user turn that
asks for the transcription. One clip is at most 30 s; longer recordings go through the ASR pipeline
(``pipeline("automatic-speech-recognition", model=DIR)``), which cuts them into windows at pauses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.token_ids import timestamp_token
from ..core.audio_lengths import MAX_AUDIO_SAMPLES, MAX_AUDIO_SECONDS, TARGET_SAMPLING_RATE
from .tag_grammar import LANGUAGE_CODES, choices_text
from .audio_io import load_audio
from .tag_parsing import extract_timestamps, parse_timestamped_words, response_text, strip_tags
from .tag_prompts import TaskPrompt

TRANSCRIPTION_TASKS = ("transcribe", "translate")
REQUEST_FORMATS = ("tags", "chat")
RETURN_FORMATS = ("raw", "parsed", "transcription_only")
DEFAULT_LANGUAGE = "en"
"""Spoken language when none is given (the CLI's default; Qwen-Audio's task prompt always names one)."""
TRANSLATION_TARGET = "en"
"""``task="translate"`` translates into English (Whisper's meaning) unless ``target_language`` names another."""
NO_SPACE_LANGUAGES = frozenset({"zh", "zh_tr", "ja", "yue", "th", "lo", "my", "km", "bo"})
"""Languages written without spaces between words: timed words are joined directly."""
_LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                   "ja": "Japanese", "ko": "Korean", "ru": "Russian", "pt": "Portuguese", "nl": "Dutch",
                   "yue": "Cantonese"}


def normalize_language(language: Any, field: str = "language") -> str:
    """A language tag name (``"en"``, ``"zh"``, ...) from ``"en"``, ``"<|en|>"`` or an English name; ``None`` ->
    :data:`DEFAULT_LANGUAGE`. Raises ``ValueError`` naming ``field`` and the valid codes."""
    if language is None:
        return DEFAULT_LANGUAGE
    if not isinstance(language, str):
        raise TypeError(f"{field} must be a language code string such as 'en', got {type(language).__name__}")
    code = language.strip()
    if code.startswith("<|") and code.endswith("|>"):
        code = code[2:-2]
    code = code.lower()
    names = {name.lower(): key for key, name in _LANGUAGE_NAMES.items()}
    code = names.get(code, code)
    if code not in LANGUAGE_CODES:
        raise ValueError(f"{field} {language!r} is not a Qwen-Audio language; valid: {choices_text(LANGUAGE_CODES)}")
    return code


def transcription_prompt(language: Any = None, task: str = "transcribe", timestamps: bool = False,
                         target_language: Any = None) -> TaskPrompt:
    """The base model's task prompt for transcription (optionally word-timestamped) or speech translation."""
    if task not in TRANSCRIPTION_TASKS:
        raise ValueError(f"task must be one of {', '.join(TRANSCRIPTION_TASKS)}, got {task!r}")
    language = normalize_language(language)
    if task == "transcribe":
        if target_language is not None:
            raise ValueError("target_language is for task='translate'; drop it or set task='translate'")
        return TaskPrompt.timestamped_asr(language) if timestamps else TaskPrompt.asr(language)
    if timestamps:
        raise ValueError("word timestamps exist for task='transcribe' only; drop timestamps or use task='transcribe'")
    target = normalize_language(target_language or TRANSLATION_TARGET, "target_language")
    if target == language:
        raise ValueError(f"task='translate' into {target!r} from {language!r} speech: name the spoken language "
                         "(language=...) or another target_language")
    return TaskPrompt.translation(language, target)


def chat_request_text(language: Any = None, task: str = "transcribe", target_language: Any = None) -> str:
    """The user's request in a chat-model transcription turn."""
    transcription_prompt(language, task, target_language=target_language)  # same validation as the tag prompt
    if task == "transcribe":
        return "What does the person say? Reply with the exact transcription only."
    target = normalize_language(target_language or TRANSLATION_TARGET, "target_language")
    return f"Translate what the person says into {_LANGUAGE_NAMES.get(target, target)}. Reply with the translation only."


def _per_item(value: Any, count: int, field: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{field} has {len(value)} entries for {count} audio inputs; pass one per input or a "
                             "single value for all")
        return list(value)
    return [value] * count


def _audio_list(audio: Any) -> list:
    import numpy as np

    if isinstance(audio, (list, tuple)) and audio and not all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in audio
    ):
        return list(audio)
    if isinstance(audio, (list, tuple)) and not audio:
        raise ValueError("audio is empty; pass one clip or a list of clips")
    return [audio]


def _read_clip(item: Any, sampling_rate: Any, index: int, allow_urls: bool):
    """One clip as 16 kHz mono float32 (``{"raw", "sampling_rate"}`` dicts too); over 30 s raises."""
    if isinstance(item, dict) and "raw" in item and "array" not in item:
        item = {**item, "array": item["raw"]}
    is_array = not isinstance(item, (str, bytes, bytearray, dict)) and not hasattr(item, "__fspath__")
    rate = (sampling_rate or TARGET_SAMPLING_RATE) if is_array else sampling_rate
    clip = load_audio(item, rate, name=f"audio #{index}", allow_urls=allow_urls, max_samples=None)
    if clip.shape[0] > MAX_AUDIO_SAMPLES:
        raise ValueError(
            f"audio #{index} is {clip.shape[0] / TARGET_SAMPLING_RATE:.1f} s long; one request clip holds at most "
            f"{MAX_AUDIO_SECONDS} s. Transcribe longer recordings with pipeline('automatic-speech-recognition', "
            "model=DIR) or `qwen-audio-hf transcribe`, which cut them into windows at pauses."
        )
    return clip


def build_transcription_request(processor, audio: Any, *, language: Any = None, task: str | Sequence[str] = "transcribe",
                                timestamps: bool = False, format: str = "tags", target_language: Any = None,
                                sampling_rate: int | None = None, return_tensors: str | None = "pt",
                                allow_urls: bool = False):
    """Model-ready, left-padded inputs for transcribing one clip or a batch (see the module docstring).

    ``audio``: a path, encoded bytes, an array (``sampling_rate``, default 16 kHz), a ``{"array",
    "sampling_rate"}`` dict, or a list of them. ``language``/``task``/``target_language``: one value or one per
    clip. ``format``: ``"tags"`` (base model) or ``"chat"`` (chat model).
    """
    if format not in REQUEST_FORMATS:
        raise ValueError(f"format must be one of {', '.join(REQUEST_FORMATS)} ('tags' for the base model's task "
                         f"prompt, 'chat' for a chat model), got {format!r}")
    clips = [_read_clip(item, sampling_rate, index, allow_urls) for index, item in enumerate(_audio_list(audio))]
    languages = _per_item(language, len(clips), "language")
    tasks = _per_item(task, len(clips), "task")
    targets = _per_item(target_language, len(clips), "target_language")
    if format == "tags":
        prompts = [transcription_prompt(lang, t, timestamps, tgt).to_text(audio="")
                   for lang, t, tgt in zip(languages, tasks, targets)]
        return processor(text=prompts, audio=clips, sampling_rate=TARGET_SAMPLING_RATE, padding=True,
                         padding_side="left", return_tensors=return_tensors)
    if timestamps:
        raise ValueError("timestamps=True needs format='tags' (the base model's word-timestamp prompt)")
    conversations = [
        [{"role": "user", "content": [{"type": "audio", "audio": clip, "sampling_rate": TARGET_SAMPLING_RATE},
                                      {"type": "text", "text": chat_request_text(lang, t, tgt)}]}]
        for clip, lang, t, tgt in zip(clips, languages, tasks, targets)
    ]
    return processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True, return_dict=True,
                                         return_tensors=return_tensors)


def parse_transcription(response: str, language: str | None = None) -> dict:
    """``{"text", "words"}`` of one decoded response (special tokens kept, the prompt left out). Timed words
    (``<|t|>word<|t|>``; a response to the word-timestamp prompt starts after its ``<|0.00|>``) give ``words`` =
    ``[{"text", "start", "end"}]`` in seconds of the clip, else ``[]``; ``text`` has no tags."""
    response = response_text(response)
    times = extract_timestamps(response)
    words = []
    if times:
        start = None if response.startswith(timestamp_token(times[0])) else 0.0
        words = [w for w in parse_timestamped_words(response, start=start) if not w.is_silence]
    if words:
        text = ("" if language in NO_SPACE_LANGUAGES else " ").join(w.text.strip() for w in words)
    else:
        plain = strip_tags(response)
        text = plain.strip() if language in NO_SPACE_LANGUAGES else " ".join(plain.split())
    return {"text": text, "words": [{"text": w.text.strip(), "start": w.start, "end": w.end} for w in words]}


def decode_transcription(tokenizer, token_ids: Any, *, return_format: str = "raw", batched: bool = False,
                         language: str | None = None, **kwargs):
    """Tokenizer decode, then for ``"parsed"`` a :func:`parse_transcription` dict and for ``"transcription_only"``
    its text. The parsed forms cut at the end token and drop every special token from the text."""
    if return_format not in RETURN_FORMATS:
        raise ValueError(f"return_format must be one of {', '.join(RETURN_FORMATS)}, got {return_format!r}")
    if return_format == "raw":
        return (tokenizer.batch_decode if batched else tokenizer.decode)(token_ids, **kwargs)
    kwargs["skip_special_tokens"] = False  # timestamps are special tokens; parse_transcription removes the rest
    texts = tokenizer.batch_decode(token_ids, **kwargs) if batched else [tokenizer.decode(token_ids, **kwargs)]
    parsed = [parse_transcription(text, language) for text in texts]
    if return_format == "transcription_only":
        parsed = [item["text"] for item in parsed]
    return parsed if batched else parsed[0]


__all__ = [
    "DEFAULT_LANGUAGE",
    "REQUEST_FORMATS",
    "RETURN_FORMATS",
    "TRANSCRIPTION_TASKS",
    "TRANSLATION_TARGET",
    "build_transcription_request",
    "chat_request_text",
    "decode_transcription",
    "normalize_language",
    "parse_transcription",
    "transcription_prompt",
]
