"""QwenAudioProcessor: text with ``<audio>`` spans + clips -> input_ids, attention_mask and log-mel features.

Text holds ``<audio>PATH</audio>`` (the clip is read from disk, as in the original release) or empty
``<audio></audio>`` placeholders that take the ``audio`` clips in order. Each span becomes ``<audio>`` +
``[[[AUDIO:modality]]]`` * (span - 2) + ``</audio>``, with the span length given by the clip duration, so the ids
equal the original tokenizer's. Text is encoded in pieces split right after each ``<|im_start|>ROLE\\n`` header,
which reproduces the original ``make_context`` (it encodes role and content separately).

``apply_chat_template`` follows the two other chat rules of the original ``make_context``: message content is
encoded with only the audio tags as special tokens (a typed ``<|im_end|>`` stays plain text), and with
``max_window_size`` set the oldest history turns are dropped once the context would reach it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils.chat_template_utils import render_jinja_template

from .audio_io import is_url, load_audio
from .feature_extraction_qwen_audio import (
    QwenAudioFeatureExtractor,
    _looks_like_original_checkpoint,
    _read_json_object,
    as_clip_list,
)
from ..core.audio_lengths import audio_span_length
from ..core.token_ids import AUDIO_END, AUDIO_PAD, AUDIO_START, IM_END, IM_START, IM_START_ID
from .tag_grammar import check_tags
from .tokenization_qwen_audio import QwenAudioTokenizer

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# The chat template wraps each message's content in these two Unicode noncharacters (template variables
# content_start / content_end, empty when another renderer fills the template): the processor encodes what lies
# between them with only the audio tags special, and strips them from rendered text.
CONTENT_START, CONTENT_END = "\ufdd0", "\ufdd1"

# ChatML exactly as Qwen-Audio-Chat builds it: default system turn, turns joined by "\n", each user audio rendered
# as "Audio N:<audio>PATH</audio>\n" with N restarting at 1 in every message. In-memory clips render as empty
# placeholders "<audio></audio>" (the processor fills them in order).
CHAT_TEMPLATE = (
    "{%- set state = namespace(started=false) -%}"
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM_PROMPT + "<|im_end|>' -}}"
    "{%- set state.started = true -%}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if state.started -%}{{- '\\n' -}}{%- endif -%}"
    "{%- set state.started = true -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{{- content_start|default('') -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- set audio = namespace(count=0) -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' or (item['type'] is not defined and 'audio' in item) -%}"
    "{%- set audio.count = audio.count + 1 -%}"
    "{%- set source = item['path'] if item['path'] is string else "
    "(item['url'] if item['url'] is string else (item['audio'] if item['audio'] is string else '')) -%}"
    "{{- 'Audio ' + audio.count|string + ':<audio>' + source + '</audio>\\n' -}}"
    "{%- elif item['type'] == 'text' or (item['type'] is not defined and 'text' in item) -%}"
    "{{- item['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- content_end|default('') -}}"
    "{{- '<|im_end|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '\\n<|im_start|>assistant\\n' -}}{%- endif -%}"
)

_AUDIO_SPAN = re.compile(re.escape(AUDIO_START) + "(.*?)" + re.escape(AUDIO_END))
_ROLE_HEADER = re.compile(re.escape(IM_START) + r"[^\n<]*\n")
_MARKED_CONTENT = re.compile(CONTENT_START + "(.*?)" + CONTENT_END, re.DOTALL)
_PADDING_CHOICES = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, "do_not_pad": None}
_IGNORED_CALL_KWARGS = {"add_special_tokens", "return_attention_mask", "verbose"}
_PROCESSOR_WINDOW = object()  # apply_chat_template's default: the processor's max_window_size


def _is_placeholder(span_content: str) -> bool:
    """Empty span, or one already expanded with pad tokens (round trip of a decoded prompt)."""
    return span_content.replace(AUDIO_PAD, "").strip() == ""


class QwenAudioProcessor(ProcessorMixin):
    """Feature extractor + tokenizer for Qwen-Audio (see module docstring for the span rules)."""

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
        unknown = set(kwargs) - _IGNORED_CALL_KWARGS
        if unknown:
            raise TypeError(
                f"QwenAudioProcessor got unexpected keyword arguments {sorted(unknown)}. Supported: text, audio, "
                "sampling_rate, padding, padding_side, truncation, max_length, pad_to_multiple_of, return_tensors, "
                "allow_urls, validate_tags."
            )
        return self._process(
            text, audio, sampling_rate, padding, padding_side, truncation, max_length, pad_to_multiple_of,
            return_tensors, allow_urls, validate_tags,
        )

    def _process(
        self, text, audio, sampling_rate, padding, padding_side, truncation, max_length, pad_to_multiple_of,
        return_tensors, allow_urls, validate_tags, content_marked: bool = False,
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
        parts = _MARKED_CONTENT.split(text)  # outside, content, outside, content, ..., outside
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

    # ------------------------------------------------------------------ chat
    # ------------------------------------------------------------------ transcription (transcription_request.py)
    def apply_transcription_request(self, audio, language=None, task="transcribe", timestamps: bool = False,
                                    format: str = "tags", **kwargs) -> BatchFeature:
        """Batched, left-padded inputs asking to transcribe (or translate) each clip; see
        :func:`~qwen_audio_hf.processing.transcription_request.build_transcription_request`."""
        from .transcription_request import build_transcription_request  # the tag modules load on first use

        return build_transcription_request(self, audio, language=language, task=task, timestamps=timestamps,
                                           format=format, **kwargs)

    def decode(self, *args, return_format: str = "raw", **kwargs):
        """Tokenizer decode; ``return_format="parsed"`` gives ``{"text", "words"}``, ``"transcription_only"`` the
        text alone (special tokens dropped, timestamps read into ``words``)."""
        from .transcription_request import decode_transcription

        return decode_transcription(self.tokenizer, *args, return_format=return_format, **kwargs)

    def batch_decode(self, *args, return_format: str = "raw", **kwargs):
        """:meth:`decode` for a batch of sequences."""
        from .transcription_request import decode_transcription

        return decode_transcription(self.tokenizer, *args, return_format=return_format, batched=True, **kwargs)

    def apply_chat_template(
        self,
        conversation,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = False,
        return_dict: bool = False,
        return_tensors: str | None = "pt",
        sampling_rate: int | None = None,
        allow_urls: bool = False,
        processor_kwargs: dict | None = None,
        max_window_size: Any = _PROCESSOR_WINDOW,
        **kwargs,
    ):
        """Render Qwen-Audio-Chat ChatML; with ``tokenize=True`` also encode it and extract audio features.

        Content items: ``{"type": "text", "text": ...}``, ``{"type": "audio", "path"|"url": ...}`` or
        ``{"type": "audio", "audio": array, "sampling_rate": sr}`` (``"audio"`` may also hold a path string, a
        ``{"array", "sampling_rate"}`` dict or a torchcodec ``AudioDecoder`` from ``datasets``). ``sampling_rate``
        (or ``processor_kwargs={"sampling_rate": sr}``) is the rate of arrays whose item gives none.
        ``continue_final_message=True`` leaves the last message open (no closing ``<|im_end|>``).

        As in the original ``make_context``: message content is encoded with only the audio tags as special
        tokens, so typed control strings (``<|im_end|>``, ``<|im_start|>``, ``<|endoftext|>``, ...) become plain
        text ids (this needs ``tokenize=True``: the rendered string cannot tell them apart, and unknown
        ``<|...|>`` strings in content are not refused unless ``processor_kwargs={"validate_tags": True}``).
        ``max_window_size`` (default: the processor's, 6144 for Qwen-Audio-Chat; None keeps every turn) drops the
        oldest history turns (a user message and the replies after it) once system + kept history would reach it;
        the last user message and what follows are always kept. Measuring turns near the window loads their audio.
        """
        if kwargs.pop("return_assistant_tokens_mask", False):
            raise ValueError(
                "return_assistant_tokens_mask is not supported by QwenAudioProcessor; build training labels with "
                "the training collator of the qwen-audio-hf package (it masks everything but the assistant replies)."
            )
        if continue_final_message and add_generation_prompt:
            raise ValueError("continue_final_message and add_generation_prompt cannot both be set.")
        processor_kwargs = dict(processor_kwargs or {})
        sampling_rate = processor_kwargs.pop("sampling_rate", sampling_rate)  # pipeline(processor_kwargs=...)
        window = self.max_window_size if max_window_size is _PROCESSOR_WINDOW else max_window_size
        conversations, is_batched = _normalize_conversations(conversation)
        template = self._resolve_chat_template(chat_template)
        render_kwargs = {
            **self.tokenizer.special_tokens_map, **kwargs, "content_start": CONTENT_START, "content_end": CONTENT_END
        }

        def render(messages_list):
            prompts, _ = render_jinja_template(
                conversations=messages_list, chat_template=template, add_generation_prompt=add_generation_prompt,
                **render_kwargs,
            )
            return prompts

        prepared, clips, rates = [], [], []
        for messages in conversations:
            _check_no_content_markers(messages)
            if window is not None:
                messages = self._fit_window(messages, window, render, add_generation_prompt, sampling_rate, allow_urls)
            prepared.append(_extract_in_memory_audio(messages, clips, rates, sampling_rate))
        prompts = render(prepared)
        if continue_final_message:
            prompts = [prompt.removesuffix(IM_END) for prompt in prompts]
        if not tokenize:
            prompts = [prompt.replace(CONTENT_START, "").replace(CONTENT_END, "") for prompt in prompts]
            return prompts if is_batched else prompts[0]
        options = {"padding": True, "padding_side": "left", "truncation": False, "max_length": None,
                   "pad_to_multiple_of": None, "validate_tags": False, **processor_kwargs}
        unknown = set(options) - {"padding", "padding_side", "truncation", "max_length", "pad_to_multiple_of",
                                  "validate_tags"} - _IGNORED_CALL_KWARGS
        if unknown:
            raise TypeError(f"processor_kwargs has unsupported keys {sorted(unknown)}.")
        out = self._process(
            prompts, clips or None, rates or None, options["padding"], options["padding_side"],
            options["truncation"], options["max_length"], options["pad_to_multiple_of"], return_tensors, allow_urls,
            options["validate_tags"], content_marked=True,
        )
        return out if return_dict else out["input_ids"]

    def _fit_window(self, messages, window, render, add_generation_prompt, sampling_rate, allow_urls):
        """``messages`` without the oldest history turns that make_context would drop for ``window`` tokens.

        Newest turn first, a turn is kept while system + kept turns stay below ``window`` (the current query is
        not counted, as in the original); the first turn that does not fit ends the history.
        """
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"max_window_size must be a positive int, got {window!r}.")
        first, turns, query_start = _history_turns(messages)
        if not turns:
            return messages
        clips, rates = [], []
        marked = render([_extract_in_memory_audio(messages, clips, rates, sampling_rate)])[0]
        # Upper bound without loading audio: a text token holds >= 1 byte, an audio span <= a full 30 s window.
        longest_span = audio_span_length(self.feature_extractor.nb_max_frames)
        if len(marked.encode("utf-8")) + marked.count(AUDIO_START) * longest_span < window:
            return messages
        ids = self._process(
            [marked], clips or None, rates or None, False, "left", False, None, None, None, allow_urls, False,
            content_marked=True,
        )["input_ids"][0]
        starts = [position for position, token in enumerate(ids) if token == IM_START_ID]
        offset = len(starts) - len(messages) - int(add_generation_prompt)  # 1 when the template adds the system
        if not starts or starts[0] != 0 or offset != 1 - first:
            raise ValueError(
                "max_window_size needs a chat template that renders a system turn first and opens every message "
                "with <|im_start|> (like the default one); pass max_window_size=None to keep every turn."
            )
        used = starts[1] - 1  # the system turn, without the newline that joins it to the next turn
        kept_from = len(turns)
        for index in reversed(range(len(turns))):
            cost = sum(starts[offset + k + 1] - starts[offset + k] for k in turns[index])  # newline + turn
            if used + cost >= window:
                break
            used += cost
            kept_from = index
        kept = [k for turn in turns[kept_from:] for k in turn]
        return messages[:first] + [messages[k] for k in kept] + messages[query_start:]


def _has_processor_files(directory: str) -> bool:
    return any(
        os.path.isfile(os.path.join(directory, name))
        for name in ("processor_config.json", "preprocessor_config.json")
    )


def _history_turns(messages):
    """(1 if a system message leads else 0, history turns as lists of message indices, index of the query).

    The query is the last user message (it and everything after it are always kept); a history turn is a user
    message with the non-user messages that follow it.
    """
    roles = [message.get("role") if isinstance(message, dict) else None for message in messages]
    first = 1 if roles and roles[0] == "system" else 0
    users = [index for index in range(first, len(messages)) if roles[index] == "user"]
    if not users:
        return first, [], len(messages)
    turns = []
    for index in range(first, users[-1]):
        if roles[index] == "user" or not turns:
            turns.append([index])
        else:
            turns[-1].append(index)
    return first, turns, users[-1]


def _check_no_content_markers(messages):
    for message in messages:
        content = message.get("content", "") if isinstance(message, dict) else ""
        texts = [content] if isinstance(content, str) else [
            value for item in content if isinstance(item, dict) for value in item.values() if isinstance(value, str)
        ]
        if any(CONTENT_START in text or CONTENT_END in text for text in texts):
            raise ValueError(
                "Message content contains U+FDD0 or U+FDD1, Unicode noncharacters the processor reserves to mark "
                "message content; remove them from the text."
            )


def _normalize_conversations(conversation):
    if not isinstance(conversation, (list, tuple)) or not conversation:
        raise TypeError("`conversation` must be a non-empty list of messages (or a list of such lists).")
    if isinstance(conversation[0], (list, tuple)):
        return [list(messages) for messages in conversation], True
    return [list(conversation)], False


def _extract_in_memory_audio(messages, clips, rates, default_rate):
    """Copy messages, replacing in-memory clips with empty placeholders and collecting them in order."""
    prepared = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise TypeError(f"Each message must be a dict with 'role' and 'content', got {message!r}.")
        content = message.get("content", "")
        if isinstance(content, str):
            prepared.append({"role": message["role"], "content": content})
            continue
        items = []
        for item in content:
            kind = item.get("type") or ("audio" if "audio" in item else "text" if "text" in item else None)
            if kind == "audio":
                source = next((item[k] for k in ("path", "url", "audio") if isinstance(item.get(k), str)), None)
                if source is None:
                    array = item.get("audio", item.get("array"))
                    if array is None:
                        raise ValueError(f"Audio item {item!r} has no 'path', 'url' or 'audio' value.")
                    clips.append(array)
                    rates.append(item.get("sampling_rate", default_rate))
                    source = ""
                items.append({"type": "audio", "path": source})
            elif kind == "text":
                items.append({"type": "text", "text": item["text"]})
            else:
                raise ValueError(f"Unsupported content item {item!r}: use type 'text' or 'audio'.")
        prepared.append({"role": message["role"], "content": items})
    return prepared


__all__ = ["CHAT_TEMPLATE", "DEFAULT_SYSTEM_PROMPT", "QwenAudioProcessor"]
