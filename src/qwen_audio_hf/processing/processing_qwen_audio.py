"""QwenAudioProcessor: text with ``<audio>`` spans + clips -> input_ids, attention_mask and log-mel features.

Text holds ``<audio>PATH</audio>`` (the clip is read from disk, as in the original release) or empty
``<audio></audio>`` placeholders that take the ``audio`` clips in order. Each span becomes ``<audio>`` +
``[[[AUDIO:modality]]]`` * (span - 2) + ``</audio>``, with the span length given by the clip duration, so the ids
equal the original tokenizer's. Text is encoded in pieces split right after each ``<|im_start|>ROLE\\n`` header,
which reproduces the original ``make_context`` (it encodes role and content separately).

``apply_chat_template`` (rendering, history window, audio items: ``chat_qwen_audio``) follows the two other chat
rules of the original ``make_context``: message content is encoded with only the audio tags as special tokens (a
typed ``<|im_end|>`` stays plain text), and with ``max_window_size`` set the oldest history turns are dropped once
the context would reach it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from ..core.token_ids import AUDIO_END, AUDIO_PAD, AUDIO_START, IM_START
from .audio_io import is_url, load_audio
from .chat_qwen_audio import CHAT_TEMPLATE, QwenAudioChatMixin, split_marked_content
from .feature_extraction_qwen_audio import (
    QwenAudioFeatureExtractor,
    _looks_like_original_checkpoint,
    _read_json_object,
    as_clip_list,
)
from .tag_grammar import check_tags
from .tokenization_qwen_audio import QwenAudioTokenizer
from .transcription_request import build_transcription_request, decode_transcription

_AUDIO_SPAN = re.compile(re.escape(AUDIO_START) + "(.*?)" + re.escape(AUDIO_END))
_ROLE_HEADER = re.compile(re.escape(IM_START) + r"[^\n<]*\n")
_PADDING_CHOICES = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, "do_not_pad": None}


def _is_placeholder(span_content: str) -> bool:
    """Empty span, or one already expanded with pad tokens (round trip of a decoded prompt)."""
    return span_content.replace(AUDIO_PAD, "").strip() == ""


class QwenAudioProcessor(QwenAudioChatMixin, ProcessorMixin):
    """Feature extractor + tokenizer for Qwen-Audio (see module docstring for the span rules; chat:
    ``chat_qwen_audio``)."""

    ignored_call_kwargs = frozenset({"add_special_tokens", "return_attention_mask", "verbose"})

    def __init__(
        self, feature_extractor=None, tokenizer=None, chat_template=None, max_window_size: int | None = None, **kwargs
    ):
        """``max_window_size``: chat history budget of ``apply_chat_template`` (the original's generation setting;
        6144 for Qwen-Audio-Chat, read from an original checkpoint's generation_config.json); None keeps all turns."""
        if max_window_size is not None and (isinstance(max_window_size, bool) or not isinstance(max_window_size, int)
                                            or max_window_size < 1):
            raise ValueError(f"max_window_size must be a positive int or None, got {max_window_size!r}.")
        self.max_window_size = max_window_size
        if feature_extractor is None:
            feature_extractor = QwenAudioFeatureExtractor()
        if tokenizer is None:
            raise ValueError("QwenAudioProcessor needs a tokenizer: pass tokenizer=QwenAudioTokenizer(...).")
        super().__init__(feature_extractor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE, **kwargs)
        self.audio_start_token, self.audio_end_token, self.audio_token = AUDIO_START, AUDIO_END, AUDIO_PAD
        self.audio_start_token_id = tokenizer.convert_tokens_to_ids(AUDIO_START)
        self.audio_end_token_id = tokenizer.convert_tokens_to_ids(AUDIO_END)
        self.audio_token_id = tokenizer.convert_tokens_to_ids(AUDIO_PAD)

    # ------------------------------------------------------------------ loading
    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        """Load our own classes directly (native layout or an original checkpoint directory)."""
        if not kwargs.get("subfolder"):
            kwargs.pop("subfolder", None)
        tokenizer = QwenAudioTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
        feature_extractor = QwenAudioFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return [feature_extractor, tokenizer]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load from a saved processor directory, or an original Qwen-Audio(-Chat) checkpoint directory."""
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isdir(path) and _looks_like_original_checkpoint(path) and not _has_processor_files(path):
            tokenizer = QwenAudioTokenizer.from_pretrained(path, **kwargs)
            window = _read_json_object(os.path.join(path, "generation_config.json")).get("max_window_size")
            return cls(QwenAudioFeatureExtractor(), tokenizer, max_window_size=window)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # Callables (processor, save_directory) run after save_pretrained; the package's export module adds one that
    # writes the remote-code files + auto_map (see QwenAudioPreTrainedModel.save_pretrained_hooks).
    save_pretrained_hooks: list = []

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        saved = super().save_pretrained(save_directory, **kwargs)
        for hook in type(self).save_pretrained_hooks:
            hook(self, save_directory)
        if push_to_hub:  # push_to_hub saves again (into a temporary folder, hooks included) and uploads that
            repo_id = kwargs.get("repo_id") or os.path.basename(os.path.normpath(save_directory))
            self.push_to_hub(repo_id, token=kwargs.get("token"), private=kwargs.get("private"))
        return saved

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "input_features", "feature_attention_mask"]

    # ------------------------------------------------------------------ main call
    def __call__(
        self,
        text: str | list[str] | None = None,
        audio: Any = None,
        sampling_rate: int | list[int] | None = None,
        padding: bool | str = True,
        padding_side: str = "left",
        truncation: bool = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = "pt",
        allow_urls: bool = False,
        validate_tags: bool = True,
        **kwargs,
    ) -> BatchFeature:
        """Tokenize ``text`` with its audio spans expanded and extract features for every clip, in span order.

        Returns input_ids and attention_mask (B, S), plus input_features (N, 80, 3000) float32 and
        feature_attention_mask (N, 3000) when the batch has audio. With ``validate_tags`` (default), a
        ``<|...|>`` string that is not a token of the tokenizer raises instead of being encoded as plain text.
        """
        for modality in ("images", "videos"):  # the any-to-any pipeline passes them as None; others are refused
            if modality in kwargs and kwargs[modality] is None:
                del kwargs[modality]
        unknown = set(kwargs) - self.ignored_call_kwargs
        if unknown:
            raise TypeError(
                f"QwenAudioProcessor got unexpected keyword arguments {sorted(unknown)}. Supported: text, audio, "
                "sampling_rate, padding, padding_side, truncation, max_length, pad_to_multiple_of, return_tensors, "
                "allow_urls, validate_tags."
            )
        return self._process(
            text, audio, sampling_rate, padding=padding, padding_side=padding_side, truncation=truncation,
            max_length=max_length, pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors,
            allow_urls=allow_urls, validate_tags=validate_tags,
        )

    def _process(
        self, text, audio=None, sampling_rate=None, *, padding: bool | str = True, padding_side: str = "left",
        truncation: bool = False, max_length: int | None = None, pad_to_multiple_of: int | None = None,
        return_tensors: str | None = "pt", allow_urls: bool = False, validate_tags: bool = True,
        content_marked: bool = False,
    ) -> BatchFeature:
        """``__call__`` without the keyword check; ``content_marked``: text from ``apply_chat_template``."""
        if text is None:
            if audio is None:
                raise ValueError("Pass `text` (with <audio> spans) and/or `audio`.")
            features = self.feature_extractor(audio, sampling_rate=sampling_rate, allow_urls=allow_urls)
            return BatchFeature(dict(features), tensor_type=return_tensors)
        texts = self._validate_text(text)
        if validate_tags:
            known = self.tokenizer.get_added_vocab()  # special tokens plus any tokens a user added
            for sample in texts:
                check_tags(sample, known)
        padding = self._validate_padding(padding, padding_side, max_length)

        sources = self._collect_audio_sources(texts, audio, sampling_rate)
        waveforms = [
            load_audio(source, rate, allow_urls=allow_urls, name=name) for source, rate, name in sources
        ]
        data: dict[str, Any] = {}
        spans: list[int] = []
        if waveforms:
            features = self.feature_extractor.extract(waveforms)
            spans = self.feature_extractor.span_lengths(features["feature_attention_mask"])
            data.update(features)

        expanded = self._expand_spans(texts, spans)
        rows = [self._encode(sample, content_marked) for sample in expanded]
        if truncation:
            rows = self._truncate(rows, max_length)
        input_ids, attention_mask = self._pad(rows, padding, padding_side, max_length, pad_to_multiple_of)
        if return_tensors is not None and padding is None and len({len(row) for row in input_ids}) > 1:
            raise ValueError(
                "Samples have different lengths and padding is disabled; use padding=True to return tensors."
            )
        data = {"input_ids": input_ids, "attention_mask": attention_mask, **data}
        return BatchFeature(data, tensor_type=return_tensors)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _validate_text(text) -> list[str]:
        texts = [text] if isinstance(text, str) else text
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError("`text` must be a string or a non-empty list of strings.")
        for index, sample in enumerate(texts):
            starts, ends = sample.count(AUDIO_START), sample.count(AUDIO_END)
            closed = len(_AUDIO_SPAN.findall(sample))
            if not starts == ends == closed:
                raise ValueError(
                    f"Sample {index} has malformed audio tags ({starts} '{AUDIO_START}', {ends} '{AUDIO_END}', "
                    f"{closed} closed spans on one line): write each clip as {AUDIO_START}PATH{AUDIO_END} or an "
                    f"empty {AUDIO_START}{AUDIO_END} placeholder."
                )
        return list(texts)

    @staticmethod
    def _validate_padding(padding, padding_side, max_length):
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
        if padding not in _PADDING_CHOICES:
            raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}.")
        padding = _PADDING_CHOICES[padding]
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length.")
        return padding

    def _collect_audio_sources(self, texts, audio, sampling_rate):
        """(source, sampling_rate, name) for every span in reading order; placeholders take `audio` in order."""
        clips = [] if audio is None else as_clip_list(audio)
        rates = sampling_rate if isinstance(sampling_rate, (list, tuple)) else [sampling_rate] * len(clips)
        if len(rates) != len(clips):
            raise ValueError(f"Got {len(rates)} sampling rates for {len(clips)} audio clips; pass one per clip.")
        placeholders = sum(_is_placeholder(m) for t in texts for m in _AUDIO_SPAN.findall(t))
        if placeholders != len(clips):
            raise ValueError(
                f"The text has {placeholders} empty {AUDIO_START}{AUDIO_END} placeholder(s) but {len(clips)} audio "
                f"clip(s) were passed; give exactly one clip per placeholder (spans with a path load from disk)."
            )
        sources, next_clip = [], 0
        for row, sample in enumerate(texts):
            for index, content in enumerate(_AUDIO_SPAN.findall(sample)):
                if _is_placeholder(content):
                    name = f"audio #{next_clip} (sample {row}, span {index})"
                    sources.append((clips[next_clip], rates[next_clip], name))
                    next_clip += 1
                else:
                    label = "URL" if is_url(content) else "file"
                    sources.append((content, None, f"audio {label} {content!r} (sample {row}, span {index})"))
        return sources

    @staticmethod
    def _expand_spans(texts, spans):
        spans_iter = iter(spans)

        def expand(_match):
            return AUDIO_START + AUDIO_PAD * (next(spans_iter) - 2) + AUDIO_END

        return [_AUDIO_SPAN.sub(expand, sample) for sample in texts]

    def _encode(self, text: str, content_marked: bool = False) -> list[int]:
        """Ids of ``text``; with ``content_marked``, marked message content has only the audio tags special."""
        if not content_marked:
            return self._encode_structure(text)
        parts = split_marked_content(text)  # outside, content, outside, content, ..., outside
        contents = self.tokenizer.encode_message_content(parts[1::2]) if len(parts) > 1 else []
        ids = []
        for index, part in enumerate(parts):
            ids += self._encode_structure(part) if index % 2 == 0 else contents[index // 2]
        return ids

    def _encode_structure(self, text: str) -> list[int]:
        """Encode with a split after each ``<|im_start|>ROLE\\n`` header, as the original make_context does."""
        cuts = [0] + [match.end() for match in _ROLE_HEADER.finditer(text)] + [len(text)]
        pieces = [text[start:end] for start, end in zip(cuts, cuts[1:]) if end > start]
        if not pieces:
            return []
        encoded = self.tokenizer(pieces, add_special_tokens=False)["input_ids"]
        return [token for piece in encoded for token in piece]

    def _truncate(self, rows, max_length):
        if max_length is None:
            max_length = self.tokenizer.model_max_length
        side = getattr(self.tokenizer, "truncation_side", "right")
        truncated = []
        for index, row in enumerate(rows):
            if len(row) <= max_length:
                truncated.append(row)
                continue
            kept = range(len(row) - max_length, len(row)) if side == "left" else range(max_length)
            starts = [i for i, token in enumerate(row) if token == self.audio_start_token_id]
            ends = [i for i, token in enumerate(row) if token == self.audio_end_token_id]
            for span_start, span_end in zip(starts, ends):
                if span_start not in kept or span_end not in kept:
                    needed = len(row) - min(starts) if side == "left" else max(ends) + 1
                    raise ValueError(
                        f"Truncating sample {index} ({len(row)} tokens) to max_length={max_length} "
                        f"({side} side) would cut its audio span at tokens {span_start}..{span_end}. Use "
                        f"max_length >= {needed} to keep every audio span, shorten the text, or pass "
                        "truncation=False."
                    )
            truncated.append([row[i] for i in kept])
        return truncated

    def _pad(self, rows, padding, padding_side, max_length, pad_to_multiple_of):
        if padding is None:
            return rows, [[1] * len(row) for row in rows]
        target = max(len(row) for row in rows) if padding == "longest" else max_length
        if padding == "max_length" and any(len(row) > max_length for row in rows):
            target = max(len(row) for row in rows)
        if pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        pad_id = self.tokenizer.pad_token_id
        input_ids, attention_mask = [], []
        for row in rows:
            fill = target - len(row)
            if padding_side == "left":
                input_ids.append([pad_id] * fill + row)
                attention_mask.append([0] * fill + [1] * len(row))
            else:
                input_ids.append(row + [pad_id] * fill)
                attention_mask.append([1] * len(row) + [0] * fill)
        return input_ids, attention_mask

    # ------------------------------------------------------------------ transcription (transcription_request.py)
    def apply_transcription_request(self, audio, language=None, task="transcribe", timestamps: bool = False,
                                    format: str = "tags", **kwargs) -> BatchFeature:
        """Batched, left-padded inputs asking to transcribe (or translate) each clip; see
        `transcription_request.build_transcription_request`."""
        return build_transcription_request(self, audio, language=language, task=task, timestamps=timestamps,
                                           format=format, **kwargs)

    def decode(self, *args, return_format: str = "raw", **kwargs):
        """Tokenizer decode; ``return_format="parsed"`` gives ``{"text", "words"}``, ``"transcription_only"`` the
        text alone (special tokens dropped, timestamps read into ``words``)."""
        return decode_transcription(self.tokenizer, *args, return_format=return_format, **kwargs)

    def batch_decode(self, *args, return_format: str = "raw", **kwargs):
        """:meth:`decode` for a batch of sequences."""
        return decode_transcription(self.tokenizer, *args, return_format=return_format, batched=True, **kwargs)


def _has_processor_files(directory: str) -> bool:
    return any(
        os.path.isfile(os.path.join(directory, name))
        for name in ("processor_config.json", "preprocessor_config.json")
    )


__all__ = ["QwenAudioProcessor"]
