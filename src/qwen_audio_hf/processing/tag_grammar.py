"""The Qwen-Audio tag grammar: the slots of a task prompt, their vocabularies, tag lexing and tag validation.

A base-model task prompt is a run of special tags after the audio span, one per slot::

    <audio>clip.flac</audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>
                            mode                 audio task          text  timestamps      output
                                                 lang                lang                  instruction

The task slot holds ``transcribe``, ``translate``, ``caption``, ``keyword`` or ``question``. Audio
question answering replaces everything after it with ``<|question|>TEXT<|answer|>``. The output
instruction names the text style (``wo_itn``, ``itn``, caption styles) or, for ``keyword`` tasks, the
analysis to run: the original evaluation prompts put ``scene``, ``emotion_recognition``,
``vocal_classification`` and ``note_analysis`` there, and the other analysis tags of the vocabulary
(``audio_grounding``, ``speaker_meta``, ...) take the same slot.

This module owns the grammar; ``tag_prompts`` builds and parses prompts with it, ``tag_parsing`` reads model
outputs with it. Every tag string comes from the ``core/token_ids.py`` inventory.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from ..core.token_ids import (
    ANALYSIS_TAG,
    AUDIO_END,
    AUDIO_GROUNDING,
    AUDIO_PAD,
    AUDIO_START,
    CAPTION_STYLE_TAGS,
    EMOTION_RECOGNITION,
    ENDOFTEXT,
    EVENT,
    IM_END,
    INSTRUMENT,
    ITN,
    LANGUAGE_TAGS,
    MIDI_PITCH_TOKENS,
    MIDI_VELOCITY_TOKENS,
    MUSIC_DESCRIPTION,
    NAMED_ENTITY_RECOGNITION,
    NOTE_ANALYSIS,
    PITCH,
    QUESTION,
    SCENE,
    SONG_META,
    SONIC,
    SPEAKER_META,
    SPECIAL_TOKENS,
    SPECIAL_TOKEN_IDS,
    SPEECH_EDIT,
    SPEECH_UNDERSTANDING,
    TASK_TAGS,
    TIMESTAMP_TOKENS,
    TRANSCRIPTION_TAG,
    VELOCITY,
    VOCAL_CLASSIFICATION,
    WITHOUT_ITN,
)


def tag_name(tag: str) -> str:
    """``"<|en|>"`` -> ``"en"``."""
    return tag[2:-2]


def tag_names(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(tag_name(tag) for tag in tags)


def make_tag(name: str) -> str:
    """``"en"`` -> ``"<|en|>"``."""
    return f"<|{name}|>"


# --- vocabularies of the prompt slots (names are tags without ``<|`` and ``|>``) ------------------
MODES = MappingProxyType({"transcription": TRANSCRIPTION_TAG, "analysis": ANALYSIS_TAG})
"""Mode name -> start tag (first tag of every prompt)."""
MODE_BY_TAG = MappingProxyType({tag: mode for mode, tag in MODES.items()})

LANGUAGE_CODES = tag_names(LANGUAGE_TAGS)
"""Valid ``audio_language`` / ``text_language`` values: ``unknown``, ``en``, ``zh``, ..., ``zh_tr``."""

QUESTION_TASK = tag_name(QUESTION)
TASKS = (*tag_names(TASK_TAGS), QUESTION_TASK)
"""Tags of the task slot: ``translate``, ``transcribe``, ``caption``, ``keyword``, ``question``."""

TRANSCRIPTION_TASKS = tag_names(TASK_TAGS[:2])  # the vocabulary lists translate, transcribe first
"""Tasks whose default mode is ``transcription`` (all others default to ``analysis``)."""

OUTPUT_INSTRUCTIONS = tag_names(
    (
        *CAPTION_STYLE_TAGS,
        ITN,
        WITHOUT_ITN,
        NAMED_ENTITY_RECOGNITION,
        AUDIO_GROUNDING,
        EMOTION_RECOGNITION,
        MUSIC_DESCRIPTION,
        NOTE_ANALYSIS,
        SPEAKER_META,
        SONG_META,
        SCENE,
        EVENT,
        VOCAL_CLASSIFICATION,
        SPEECH_UNDERSTANDING,
        SPEECH_EDIT,
    )
)
"""Tags of the last slot: text style (``itn``, ``wo_itn``, caption styles) or the analysis to run."""

NOTE_ANALYSIS_QUERIES = tag_names((PITCH, VELOCITY, INSTRUMENT, SONIC))
"""Note-analysis fields; one can be appended to a note-analysis prompt to ask for it first."""

SPECIALS = frozenset(SPECIAL_TOKEN_IDS)
TAG_RE = re.compile(
    "|".join((r"<\|[^<>|]*\|>", re.escape(AUDIO_START), re.escape(AUDIO_END), re.escape(AUDIO_PAD)))
)
TIMESTAMP_SECONDS = MappingProxyType({tag: step / 100 for step, tag in enumerate(TIMESTAMP_TOKENS)})
MIDI_PITCH_VALUES = MappingProxyType({tag: value for value, tag in enumerate(MIDI_PITCH_TOKENS)})
MIDI_VELOCITY_VALUES = MappingProxyType({tag: value for value, tag in enumerate(MIDI_VELOCITY_TOKENS)})


def choices_text(valid: Iterable[str]) -> str:
    """``"a, b, c"``: the valid values an error message lists."""
    return ", ".join(valid)


def slot_hint(found: str, valid: Sequence[str], *, task_slot: bool = False) -> str:
    """A "did you mean" note for ``found``; analysis tags put in the task slot are sent to their slot."""
    bare = tag_name(found) if found.startswith("<|") and found.endswith("|>") else found
    if task_slot and bare in OUTPUT_INSTRUCTIONS:
        return f" ({bare!r} is an output instruction: use task='keyword', output_instruction={bare!r})"
    close = difflib.get_close_matches(found, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(field: str, value: object, valid: Sequence[str]) -> str:
    """Return ``value`` as a bare name (``"<|en|>"`` accepted too) or raise naming the valid ones."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}; valid: {choices_text(valid)}")
    name = tag_name(value) if value.startswith("<|") and value.endswith("|>") else value
    if name not in valid:
        hint = slot_hint(name, valid, task_slot=field == "task")
        raise ValueError(f"unknown {field} {value!r}{hint}; valid: {choices_text(valid)}")
    return name


# --- lexing -------------------------------------------------------------------------------------
def cut_at_end_token(text: str) -> str:
    """``text`` up to the first end token (``<|endoftext|>`` or ``<|im_end|>``)."""
    ends = [i for i in (text.find(ENDOFTEXT), text.find(IM_END)) if i >= 0]
    return text[: min(ends)] if ends else text


def lex(text: str) -> list[str]:
    """Split ``text`` (up to its end token) into special tokens and the plain text between them."""
    text = cut_at_end_token(text)
    pieces, pos = [], 0
    for match in TAG_RE.finditer(text):
        if match.group() in SPECIALS:
            pieces += [text[pos : match.start()], match.group()]
            pos = match.end()
    pieces.append(text[pos:])
    return [piece for piece in pieces if piece]


# --- timestamps ---------------------------------------------------------------------------------
def is_timestamp(token: str) -> bool:
    """Whether ``token`` is one of ``<|0.00|>`` ... ``<|30.00|>``."""
    return token in TIMESTAMP_SECONDS


def timestamp_seconds(token: str) -> float:
    """``"<|0.52|>"`` -> ``0.52``."""
    try:
        return TIMESTAMP_SECONDS[token]
    except KeyError:
        raise ValueError(f"{token!r} is not a timestamp token (<|0.00|> ... <|30.00|> in 0.01 s steps)") from None


# --- validation ---------------------------------------------------------------------------------
_TAG_SHAPE_RE = re.compile(r"<\|[^<>|\s]+\|>")


def unknown_tags(text: str, known: Iterable[str] = SPECIAL_TOKENS) -> list[str]:
    """Tag-shaped strings (``<|...|>``) in ``text`` that are not in ``known``, in order of appearance.

    Such strings are not special tokens: a tokenizer encodes them as plain text, so a typo like
    ``<|startoftranscription|>`` silently changes the task instead of failing.
    """
    known = known if isinstance(known, (set, frozenset, Mapping)) else frozenset(known)
    return [match.group() for match in _TAG_SHAPE_RE.finditer(text) if match.group() not in known]


def check_tags(text: str, known: Iterable[str] = SPECIAL_TOKENS) -> None:
    """Raise ValueError for the first tag-shaped string in ``text`` that is not a special token."""
    found = unknown_tags(text, known)
    if found:
        close = difflib.get_close_matches(found[0], list(known), n=1, cutoff=0.75)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown tag {found[0]!r} in the text: it is not a Qwen-Audio special token and would be encoded as "
            f"plain text.{hint} Build prompts with TaskPrompt (it lists the valid tags), or pass "
            "validate_tags=False to encode such strings as ordinary text."
        )
