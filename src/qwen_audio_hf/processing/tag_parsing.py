"""Model outputs: cut and clean decoded text, and parse the structured answers of the tag grammar.

Timestamped words, ``<|sil|>`` spans, audio grounding, note analysis, keywords and named entities, each with a
``format_*`` that writes what its ``parse_*`` reads. Tags are lexed with ``tag_grammar``; ``text_after_prompt``
finds the prompt with ``tag_prompts``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..core.token_ids import (
    AUDIO_END,
    AUDIO_START,
    DELIM,
    END_OF_WORD,
    ENTITY_TAGS,
    INSTRUMENT,
    MIDI_PITCH_TOKENS,
    MIDI_VELOCITY_TOKENS,
    NUM_MIDI_VALUES,
    PITCH,
    SILENCE,
    SONIC,
    START_OF_WORD,
    VELOCITY,
    timestamp_token,
)
from .tag_grammar import (
    MIDI_PITCH_VALUES,
    MIDI_VELOCITY_VALUES,
    SPECIALS,
    TAG_RE,
    TIMESTAMP_SECONDS,
    cut_at_end_token,
    lex,
)
from .tag_prompts import find_task_prompt


# --- decoded text -------------------------------------------------------------------------------
def response_text(text: str) -> str:
    """Cut decoded output at the first ``<|endoftext|>`` (or ``<|im_end|>``) and strip surrounding whitespace."""
    return cut_at_end_token(text).strip()


def text_after_prompt(text: str) -> str:
    """The response in a decoded ``prompt + response`` text: what follows the prompt's tags, up to ``<|endoftext|>``.

    Any prompt suffix (the SRWT ``<|0.00|>``, a note-analysis query tag) stays in the response so the
    output parsers see it. Text without a task prompt is treated as a bare response.
    """
    match = find_task_prompt(text)
    return response_text(text if match is None else text[match.end :])


def strip_tags(text: str, *, keep: Iterable[str] = (), replacement: str = "") -> str:
    """Remove every special token from ``text`` (audio spans ``<audio>...</audio>`` as a whole).

    ``keep``: special-token strings to leave in place, e.g. ``token_ids.TIMESTAMP_TOKENS``
    (keeping ``<audio>`` keeps audio spans). ``replacement`` is put where a token was removed.
    Strings that look like tags but are not special tokens are plain text and stay.
    """
    keep = frozenset(keep)
    if AUDIO_START not in keep:
        text = re.sub(f"{re.escape(AUDIO_START)}.*?{re.escape(AUDIO_END)}", replacement, text, flags=re.S)

    def drop(match: re.Match[str]) -> str:
        token = match.group()
        return token if token not in SPECIALS or token in keep else replacement

    return TAG_RE.sub(drop, text)


def extract_timestamps(text: str) -> list[float]:
    """All timestamps in ``text``, in order, as seconds."""
    return [TIMESTAMP_SECONDS[m.group()] for m in TAG_RE.finditer(text) if m.group() in TIMESTAMP_SECONDS]


def convert_timestamps(text: str, template: str = "{:.2f}") -> str:
    """Replace every timestamp token with ``template.format(seconds)`` (``<|2.33|>`` -> ``2.33``)."""

    def render(match: re.Match[str]) -> str:
        token = match.group()
        return template.format(TIMESTAMP_SECONDS[token]) if token in TIMESTAMP_SECONDS else token

    return TAG_RE.sub(render, text)


# --- structured outputs -------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeSpan:
    """A time interval in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class TimedWord:
    """A word (or ``<|sil|>``) with its start and end in seconds."""

    text: str
    start: float
    end: float

    @property
    def is_silence(self) -> bool:
        return self.text == SILENCE


def parse_timestamped_words(
    text: str, *, start: float | None = None, include_silence: bool = False, strict: bool = False
) -> list[TimedWord]:
    """Parse ``<|0.00|>word<|0.52|>word<|0.90|>`` output into timed words.

    Each non-empty text between two consecutive timestamps is one word; adjacent timestamps with
    nothing between them mark a gap. ``start``: time of a timestamp that precedes ``text`` (the SRWT
    prompt ends with ``<|0.00|>``). Tags other than timestamps and ``<|sil|>`` are ignored.
    ``strict``: raise ``ValueError`` on text that no pair of timestamps encloses.
    """
    words: list[TimedWord] = []
    current, pending = start, ""
    for piece in lex(text):
        if piece in TIMESTAMP_SECONDS:
            seconds = TIMESTAMP_SECONDS[piece]
            word = pending.strip()
            if word and current is not None:
                words.append(TimedWord(word, current, seconds))
            elif word and strict:
                raise ValueError(f"text {word!r} has no start timestamp")
            current, pending = seconds, ""
        elif piece == SILENCE or piece not in SPECIALS:
            pending += piece
    if strict and pending.strip():
        raise ValueError(f"text {pending.strip()!r} has no end timestamp")
    return words if include_silence else [word for word in words if not word.is_silence]


def format_timestamped_words(words: Iterable[TimedWord]) -> str:
    """Render timed words as ``<|start|>word<|end|>``, sharing a timestamp where one word ends as the next starts."""
    parts: list[str] = []
    last_end = None
    for word in words:
        if not word.text.strip() or (word.text != SILENCE and _has_special(word.text)):
            raise ValueError(f"word text must be non-empty plain text or {SILENCE}, got {word.text!r}")
        first, last = timestamp_token(word.start), timestamp_token(word.end)
        parts += ([] if first == last_end else [first]) + [word.text, last]
        last_end = last
    return "".join(parts)


def parse_silences(text: str, *, start: float | None = None) -> list[TimeSpan]:
    """The ``<|sil|>`` spans of a timestamped transcript."""
    words = parse_timestamped_words(text, start=start, include_silence=True)
    return [TimeSpan(word.start, word.end) for word in words if word.is_silence]


def _has_special(text: str) -> bool:
    return any(match.group() in SPECIALS for match in TAG_RE.finditer(text))


def _pairs(times: Sequence[float]) -> tuple[TimeSpan, ...]:
    return tuple(TimeSpan(times[i], times[i + 1]) for i in range(0, len(times) - 1, 2))


@dataclass(frozen=True)
class GroundedPhrase:
    """An audio-grounding result: a phrase and the time spans where it is heard."""

    text: str
    spans: tuple[TimeSpan, ...]


def parse_grounding(text: str) -> list[GroundedPhrase]:
    """Parse ``<|startofword|>phrase<|endofword|><|t0|><|t1|><|delim|><|t2|><|t3|>`` into phrases.

    Timestamps form (start, end) pairs; an unpaired last timestamp is dropped. Spans before any
    phrase tag (the phrase was in the prompt) belong to a phrase with empty text.
    """
    phrases: list[GroundedPhrase] = []
    phrase, times, in_word, seen = "", [], False, False
    for piece in lex(text):
        if piece == START_OF_WORD:
            if seen:
                phrases.append(GroundedPhrase(phrase.strip(), _pairs(times)))
            phrase, times, in_word, seen = "", [], True, True
        elif piece == END_OF_WORD:
            in_word = False
        elif in_word:
            phrase += piece
        elif piece in TIMESTAMP_SECONDS:
            times.append(TIMESTAMP_SECONDS[piece])
            seen = True
    if seen:
        phrases.append(GroundedPhrase(phrase.strip(), _pairs(times)))
    return phrases


def format_grounding(phrases: Iterable[GroundedPhrase]) -> str:
    """Render grounding results in the format :func:`parse_grounding` reads."""
    parts = []
    for phrase in phrases:
        head = f"{START_OF_WORD}{phrase.text}{END_OF_WORD}" if phrase.text else ""
        spans = DELIM.join(timestamp_token(s.start) + timestamp_token(s.end) for s in phrase.spans)
        parts.append(head + spans)
    return "".join(parts)


@dataclass(frozen=True)
class NoteAnalysis:
    """Note-analysis fields: MIDI pitch and velocity (0-127), instrument, sonic qualities."""

    pitch: int | None = None
    velocity: int | None = None
    instrument: str | None = None
    sonic: tuple[str, ...] = ()


def parse_note_analysis(text: str) -> NoteAnalysis:
    """Parse ``<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>x<|sonic|>a, b``.

    Missing fields are ``None`` (``()`` for sonic). Sonic qualities are comma separated.
    """
    values: dict[str, object] = {}
    pieces = lex(text)
    for index, piece in enumerate(pieces):
        following = pieces[index + 1] if index + 1 < len(pieces) else ""
        plain = following if following not in SPECIALS else ""
        if piece in MIDI_PITCH_VALUES:
            values.setdefault("pitch", MIDI_PITCH_VALUES[piece])
        elif piece in MIDI_VELOCITY_VALUES:
            values.setdefault("velocity", MIDI_VELOCITY_VALUES[piece])
        elif piece == INSTRUMENT and plain.strip():
            values.setdefault("instrument", plain.strip())
        elif piece == SONIC:
            values.setdefault("sonic", tuple(q.strip() for q in plain.split(",") if q.strip()))
    return NoteAnalysis(**values)


def format_note_analysis(note: NoteAnalysis) -> str:
    """Render the fields that are set, in the order pitch, velocity, instrument, sonic."""
    parts = []
    midi_fields = (("pitch", PITCH, MIDI_PITCH_TOKENS), ("velocity", VELOCITY, MIDI_VELOCITY_TOKENS))
    for field, tag, tokens in midi_fields:
        value = getattr(note, field)
        if value is not None:
            if not isinstance(value, int) or not 0 <= value < NUM_MIDI_VALUES:
                raise ValueError(f"{field} must be an int in 0..{NUM_MIDI_VALUES - 1}, got {value!r}")
            parts += [tag, tokens[value]]
    if note.instrument is not None:
        parts += [INSTRUMENT, note.instrument]
    if note.sonic:
        parts += [SONIC, ", ".join(note.sonic)]
    return "".join(parts)


def parse_keywords(text: str, separator: str = ",") -> list[str]:
    """Keyword output (tags removed) split on ``separator``, each stripped, empty ones dropped."""
    return [item.strip() for item in strip_tags(response_text(text)).split(separator) if item.strip()]


@dataclass(frozen=True)
class NamedEntity:
    """A named entity: its surface text and type (``None`` when the output gives none)."""

    value: str
    type: str | None = None


def _enclosed(pieces: Sequence[str], index: int, close: str) -> tuple[str, int]:
    """Plain text after ``pieces[index]`` up to the ``close`` tag; return it and the index of ``close``."""
    collected = []
    index += 1
    while index < len(pieces) and pieces[index] != close:
        collected.append(pieces[index])
        index += 1
    return "".join(collected).strip(), index


def parse_named_entities(text: str) -> list[NamedEntity]:
    """Parse ``<|startofentityvalue|>v<|endofentityvalue|><|startofentitytype|>t<|endofentitytype|>`` runs.

    A type attaches to the entity value just before it; a type that comes first waits for the next value.
    """
    value_open, value_close, type_open, type_close = ENTITY_TAGS
    entities: list[NamedEntity] = []
    pending_type, last_typed = None, True
    pieces, index = lex(text), 0
    while index < len(pieces):
        if pieces[index] == value_open:
            value, index = _enclosed(pieces, index, value_close)
            entities.append(NamedEntity(value, pending_type))
            last_typed, pending_type = pending_type is not None, None
        elif pieces[index] == type_open:
            kind, index = _enclosed(pieces, index, type_close)
            if not last_typed:
                entities[-1] = dataclasses.replace(entities[-1], type=kind)
                last_typed = True
            else:
                pending_type = kind
        index += 1
    return entities


def format_named_entities(entities: Iterable[NamedEntity]) -> str:
    """Render entities as value then type, the format :func:`parse_named_entities` reads."""
    value_open, value_close, type_open, type_close = ENTITY_TAGS
    parts = []
    for entity in entities:
        parts += [value_open, entity.value, value_close]
        if entity.type is not None:
            parts += [type_open, entity.type, type_close]
    return "".join(parts)
