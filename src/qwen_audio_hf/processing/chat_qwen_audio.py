"""Qwen-Audio-Chat's ChatML for ``QwenAudioProcessor.apply_chat_template``: template, history window, audio items.

The rules of the original ``make_context``: a default system turn, turns joined by ``"\\n"``, each user audio as
``Audio N:<audio>PATH</audio>\\n``; message content is encoded with only the audio tags as special tokens (the
template marks it with two Unicode noncharacters, ``CONTENT_START`` / ``CONTENT_END``, that the processor strips);
with ``max_window_size`` set the oldest history turns are dropped once the context would reach it. In-memory clips
become empty ``<audio></audio>`` placeholders that the processor fills in order.
"""

from __future__ import annotations

import re
from typing import Any

from transformers.utils.chat_template_utils import render_jinja_template

from ..core.audio_lengths import audio_span_length
from ..core.token_ids import AUDIO_START, IM_END, IM_START_ID

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
_MARKED_CONTENT = re.compile(CONTENT_START + "(.*?)" + CONTENT_END, re.DOTALL)
_PROCESSOR_WINDOW = object()  # apply_chat_template's default: the processor's max_window_size
ENCODE_OPTIONS = ("padding", "padding_side", "truncation", "max_length", "pad_to_multiple_of", "validate_tags")
"""The processor options ``apply_chat_template(processor_kwargs=...)`` passes on to the encoding."""


def split_marked_content(text: str) -> list[str]:
    """``text`` as [outside, content, outside, content, ..., outside] around the marked message contents."""
    return _MARKED_CONTENT.split(text)


class QwenAudioChatMixin:
    """``apply_chat_template`` of ``QwenAudioProcessor`` (which provides ``_process``, the tokenizer, the feature
    extractor and ``max_window_size``)."""

    ignored_call_kwargs: frozenset = frozenset()
    """Keyword arguments other processors take that this one accepts and ignores."""

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
        options = {"padding": True, "padding_side": "left", "validate_tags": False, **processor_kwargs}
        unknown = set(options) - set(ENCODE_OPTIONS) - self.ignored_call_kwargs
        if unknown:
            raise TypeError(f"processor_kwargs has unsupported keys {sorted(unknown)}.")
        options = {key: value for key, value in options.items() if key in ENCODE_OPTIONS}
        out = self._process(prompts, clips or None, rates or None, return_tensors=return_tensors,
                            allow_urls=allow_urls, content_marked=True, **options)
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
        ids = self._process([marked], clips or None, rates or None, padding=False, return_tensors=None,
                            allow_urls=allow_urls, validate_tags=False, content_marked=True)["input_ids"][0]
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


__all__ = ["CHAT_TEMPLATE", "CONTENT_END", "CONTENT_START", "DEFAULT_SYSTEM_PROMPT", "QwenAudioChatMixin",
           "split_marked_content"]
