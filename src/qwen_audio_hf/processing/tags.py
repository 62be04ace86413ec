"""The Qwen-Audio tag grammar: build task prompts from typed fields, parse model outputs, strip tags.

A base-model task prompt is a run of special tags after the audio span, one per slot::

    <audio>clip.flac</audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>
                            mode                 audio task          text  timestamps      output
                                                 lang                lang                  instruction

The task slot holds ``transcribe``, ``translate``, ``caption``, ``keyword`` or ``question``. Audio
question answering replaces everything after it with ``<|question|>TEXT<|answer|>``. The output
instruction names the text style (``wo_itn``, ``itn``, caption styles) or, for ``keyword`` tasks, the
analysis to run: the original evaluation prompts put ``scene``, ``emotion_recognition``,
``vocal_classification`` and ``note_analysis`` there, and the other analysis tags of the vocabulary
(``audio_grounding``, ``speaker_meta``, ...) take the same slot. Every tag string comes from
:mod:`.special_tokens`; this module only arranges them and reads them back out of model outputs.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from . import special_tokens as st
from .special_tokens import check_tags, unknown_tags  # re-exported: tag validity is part of the grammar


def _name(tag: str) -> str:
    """``"<|en|>"`` -> ``"en"``."""
    return tag[2:-2]


def _names(tags: Iterable[str]) -> tuple[str, ...]:
    return tuple(_name(tag) for tag in tags)


# --- vocabularies of the prompt slots (names are tags without ``<|`` and ``|>``) ------------------
MODES = MappingProxyType({"transcription": st.TRANSCRIPTION_TAG, "analysis": st.ANALYSIS_TAG})
"""Mode name -> start tag (first tag of every prompt)."""
_MODE_BY_TAG = MappingProxyType({tag: mode for mode, tag in MODES.items()})

LANGUAGE_CODES = _names(st.LANGUAGE_TAGS)
"""Valid ``audio_language`` / ``text_language`` values: ``unknown``, ``en``, ``zh``, ..., ``zh_tr``."""

QUESTION_TASK = _name(st.QUESTION)
TASKS = (*_names(st.TASK_TAGS), QUESTION_TASK)
"""Tags of the task slot: ``translate``, ``transcribe``, ``caption``, ``keyword``, ``question``."""

TRANSCRIPTION_TASKS = _names(st.TASK_TAGS[:2])  # the vocabulary lists translate, transcribe first
"""Tasks whose default mode is ``transcription`` (all others default to ``analysis``)."""

OUTPUT_INSTRUCTIONS = _names(
    (
        *st.CAPTION_STYLE_TAGS,
        st.ITN,
        st.WITHOUT_ITN,
        st.NAMED_ENTITY_RECOGNITION,
        st.AUDIO_GROUNDING,
        st.EMOTION_RECOGNITION,
        st.MUSIC_DESCRIPTION,
        st.NOTE_ANALYSIS,
        st.SPEAKER_META,
        st.SONG_META,
        st.SCENE,
        st.EVENT,
        st.VOCAL_CLASSIFICATION,
        st.SPEECH_UNDERSTANDING,
        st.SPEECH_EDIT,
    )
)
"""Tags of the last slot: text style (``itn``, ``wo_itn``, caption styles) or the analysis to run."""

NOTE_ANALYSIS_QUERIES = _names((st.PITCH, st.VELOCITY, st.INSTRUMENT, st.SONIC))
"""Note-analysis fields; one can be appended to a note-analysis prompt to ask for it first."""

_SPECIALS = frozenset(st.SPECIAL_TOKEN_IDS)
_TAG_RE = re.compile(
    "|".join((r"<\|[^<>|]*\|>", re.escape(st.AUDIO_START), re.escape(st.AUDIO_END), re.escape(st.AUDIO_PAD)))
)
_TIMESTAMP_SECONDS = MappingProxyType({tag: step / 100 for step, tag in enumerate(st.TIMESTAMP_TOKENS)})
_MIDI_PITCH = MappingProxyType({tag: value for value, tag in enumerate(st.MIDI_PITCH_TOKENS)})
_MIDI_VELOCITY = MappingProxyType({tag: value for value, tag in enumerate(st.MIDI_VELOCITY_TOKENS)})


def _choices(valid: Iterable[str]) -> str:
    return ", ".join(valid)


def _hint(found: str, valid: Sequence[str], *, task_slot: bool = False) -> str:
    """A "did you mean" note for ``found``; analysis tags put in the task slot are sent to their slot."""
    bare = _name(found) if found.startswith("<|") and found.endswith("|>") else found
    if task_slot and bare in OUTPUT_INSTRUCTIONS:
        return f" ({bare!r} is an output instruction: use task='keyword', output_instruction={bare!r})"
    close = difflib.get_close_matches(found, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_choice(field: str, value: object, valid: Sequence[str]) -> str:
    """Return ``value`` as a bare name (``"<|en|>"`` accepted too) or raise naming the valid ones."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, got {type(value).__name__}; valid: {_choices(valid)}")
    name = _name(value) if value.startswith("<|") and value.endswith("|>") else value
    if name not in valid:
        hint = _hint(name, valid, task_slot=field == "task")
        raise ValueError(f"unknown {field} {value!r}{hint}; valid: {_choices(valid)}")
    return name


def _tag(name: str) -> str:
    return f"<|{name}|>"


# --- the prompt ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TaskPrompt:
    """A base-model task prompt, validated on construction; ``str(prompt)`` renders it.

    Fields (all names are tags without ``<|``/``|>``):
        task: one of :data:`TASKS`.
        audio_language: spoken language of the audio, one of :data:`LANGUAGE_CODES` (``unknown`` for none).
        text_language: language of the output text; required unless ``task == "question"``.
        mode: ``transcription`` or ``analysis``; defaults to ``transcription`` for transcribe/translate.
        timestamps: ask for word timestamps; ``None`` means ``False`` (and "absent" for ``question``).
        output_instruction: optional last tag, one of :data:`OUTPUT_INSTRUCTIONS`.
        question: the question text, only (and always) for ``task == "question"``.
        suffix: free text appended after the tags, e.g. ``<|0.00|>`` to start a timestamped transcript.
    """

    mode: str | None = None
    audio_language: str = "unknown"
    task: str
    text_language: str | None = None
    timestamps: bool | None = None
    output_instruction: str | None = None
    question: str | None = None
    suffix: str = ""

    def __post_init__(self) -> None:
        task = _check_choice("task", self.task, TASKS)
        default_mode = "transcription" if task in TRANSCRIPTION_TASKS else "analysis"
        mode = _MODE_BY_TAG.get(self.mode, self.mode) if isinstance(self.mode, str) else self.mode
        mode = default_mode if mode is None else _check_choice("mode", mode, tuple(MODES))
        values = {
            "task": task,
            "mode": mode,
            "audio_language": _check_choice("audio_language", self.audio_language, LANGUAGE_CODES),
        }
        if not isinstance(self.suffix, str):
            raise TypeError(f"suffix must be a str, got {type(self.suffix).__name__}")
        if task == QUESTION_TASK:
            self._check_question_fields()
        else:
            values.update(self._check_tagged_fields(task))
        for field, value in values.items():
            object.__setattr__(self, field, value)

    def _check_question_fields(self) -> None:
        if not isinstance(self.question, str):
            raise ValueError("task 'question' needs question=<the question text> (e.g. TaskPrompt.aqa(...))")
        if st.ANSWER in self.question:
            raise ValueError(f"question text must not contain {st.ANSWER}; the prompt adds it after the question")
        given = [f for f in ("text_language", "timestamps", "output_instruction") if getattr(self, f) is not None]
        if given:
            raise ValueError(
                f"task 'question' renders <|question|>TEXT<|answer|> and has no {', '.join(given)} slot; "
                "leave it as None"
            )

    def _check_tagged_fields(self, task: str) -> dict[str, object]:
        if self.question is not None:
            raise ValueError(f"question= is only for task 'question', not {task!r}")
        if self.text_language is None:
            raise ValueError(
                f"task {task!r} needs text_language (the output language; 'unknown' if none); "
                f"valid: {_choices(LANGUAGE_CODES)}"
            )
        timestamps = False if self.timestamps is None else self.timestamps
        if not isinstance(timestamps, bool):
            raise TypeError(f"timestamps must be a bool, got {type(timestamps).__name__}")
        instruction = self.output_instruction
        if instruction is not None:
            instruction = _check_choice("output_instruction", instruction, OUTPUT_INSTRUCTIONS)
        elif (lead := _TAG_RE.match(self.suffix)) and _name(lead.group()) in OUTPUT_INSTRUCTIONS:
            raise ValueError(
                f"suffix starts with {lead.group()}, which would parse as the output instruction; "
                f"pass output_instruction={_name(lead.group())!r} instead"
            )
        return {
            "text_language": _check_choice("text_language", self.text_language, LANGUAGE_CODES),
            "timestamps": timestamps,
            "output_instruction": instruction,
        }

    # -- rendering -------------------------------------------------------------------------------
    @property
    def tags(self) -> tuple[str, ...]:
        """The prompt's special tags in order (the question text and suffix excluded)."""
        head = (MODES[self.mode], _tag(self.audio_language), _tag(self.task))
        if self.task == QUESTION_TASK:
            return (*head, st.ANSWER)
        flag = st.TIMESTAMPS if self.timestamps else st.NO_TIMESTAMPS
        tail = () if self.output_instruction is None else (_tag(self.output_instruction),)
        return (*head, _tag(self.text_language), flag, *tail)

    def to_text(self, audio: str | None = None) -> str:
        """Render the prompt; with ``audio`` (a path, or ``""`` for a placeholder) prefix ``<audio>audio</audio>``."""
        tags = self.tags
        if self.task == QUESTION_TASK:
            body = "".join(tags[:-1]) + self.question + tags[-1]
        else:
            body = "".join(tags)
        prefix = "" if audio is None else f"{st.AUDIO_START}{audio}{st.AUDIO_END}"
        return prefix + body + self.suffix

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, object]:
        """The fields that are set (``None`` and an empty suffix left out), e.g. for a JSON dataset row."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != ""}

    @classmethod
    def from_dict(cls, fields: Mapping[str, object]) -> TaskPrompt:
        """Build from a mapping of field names (``None`` values ignored); unknown keys raise ``ValueError``."""
        if not isinstance(fields, Mapping):
            raise TypeError(f"from_dict expects a mapping of TaskPrompt fields, got {type(fields).__name__}")
        valid = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(valid))
        if unknown:
            raise ValueError(f"unknown TaskPrompt field(s) {unknown}; valid: {_choices(valid)}")
        return cls(**{key: value for key, value in fields.items() if value is not None})

    # -- parsing ---------------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str) -> TaskPrompt:
        """Parse a prompt that starts with its mode tag; text after the tags becomes ``suffix``.

        Round trip: ``TaskPrompt.from_text(p.to_text()) == p``. To locate a prompt inside a longer
        text (after an audio span, before a response) use :func:`find_task_prompt`.
        """
        if not isinstance(text, str):
            raise TypeError(f"from_text expects a str, got {type(text).__name__}")
        if text.startswith(st.AUDIO_START):
            raise ValueError(
                "text starts with an audio span; TaskPrompt holds only the tags. "
                "Use find_task_prompt(text) to locate the prompt inside a longer text"
            )
        prompt, end = _parse_prompt(text, 0)
        return dataclasses.replace(prompt, suffix=text[end:]) if end < len(text) else prompt

    # -- common tasks (the settings of the original evaluation prompts) -------------------------
    @classmethod
    def asr(cls, language: str = "en", *, itn: bool = False) -> TaskPrompt:
        """Speech recognition: ``<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>``."""
        instruction = _name(st.ITN if itn else st.WITHOUT_ITN)
        return cls(audio_language=language, task="transcribe", text_language=language, output_instruction=instruction)

    @classmethod
    def timestamped_asr(cls, language: str = "en") -> TaskPrompt:
        """Speech recognition with word timestamps (SRWT); the prompt ends with ``<|timestamps|><|0.00|>``."""
        return cls(
            audio_language=language,
            task="transcribe",
            text_language=language,
            timestamps=True,
            suffix=st.timestamp_token(0.0),
        )

    @classmethod
    def translation(cls, audio_language: str, text_language: str) -> TaskPrompt:
        """Speech translation from ``audio_language`` speech into ``text_language`` text (``<|itn|>``)."""
        return cls(
            audio_language=audio_language,
            task="translate",
            text_language=text_language,
            output_instruction=_name(st.ITN),
        )

    @classmethod
    def caption(cls, style: str = "clotho", text_language: str = "en") -> TaskPrompt:
        """Audio captioning; ``style`` is ``clotho``, ``audiocaps``, ``plain`` or ``audioset_ontology``."""
        instruction = style if style in OUTPUT_INSTRUCTIONS else f"caption_{style}"
        if instruction not in _names(st.CAPTION_STYLE_TAGS):
            valid = [name.removeprefix("caption_") for name in _names(st.CAPTION_STYLE_TAGS)]
            raise ValueError(f"unknown caption style {style!r}; valid: {_choices(valid)}")
        return cls(task="caption", text_language=text_language, output_instruction=instruction)

    @classmethod
    def aqa(cls, question: str, audio_language: str = "en") -> TaskPrompt:
        """Audio question answering: ``<|startofanalysis|><|en|><|question|>QUESTION<|answer|>``."""
        return cls(audio_language=audio_language, task=QUESTION_TASK, question=question)

    @classmethod
    def classification(
        cls, analysis: str, audio_language: str = "unknown", text_language: str = "en"
    ) -> TaskPrompt:
        """Keyword-style analysis named by ``analysis`` (an output instruction, e.g. ``scene``)."""
        return cls(
            audio_language=audio_language, task="keyword", text_language=text_language, output_instruction=analysis
        )

    @classmethod
    def scene(cls) -> TaskPrompt:
        """Acoustic scene classification (``<|unknown|>`` audio, ``<|scene|>``)."""
        return cls.classification(_name(st.SCENE))

    @classmethod
    def emotion(cls, audio_language: str = "en") -> TaskPrompt:
        """Speech emotion recognition (``<|emotion_recognition|>``)."""
        return cls.classification(_name(st.EMOTION_RECOGNITION), audio_language)

    @classmethod
    def vocal_sound(cls, audio_language: str = "en") -> TaskPrompt:
        """Vocal sound classification (``<|vocal_classification|>``)."""
        return cls.classification(_name(st.VOCAL_CLASSIFICATION), audio_language)

    @classmethod
    def note_analysis(cls, query: str | None = None) -> TaskPrompt:
        """Music note analysis; ``query`` (pitch, velocity, instrument, sonic) appends that field's tag."""
        suffix = "" if query is None else _tag(_check_choice("note analysis query", query, NOTE_ANALYSIS_QUERIES))
        return dataclasses.replace(cls.classification(_name(st.NOTE_ANALYSIS)), suffix=suffix)


def _expect(text: str, pos: int, valid: Sequence[str], slot: str, after: str) -> tuple[str, int]:
    """Read the tag at ``pos``; it must be one of ``valid`` (tag strings)."""
    match = _TAG_RE.match(text, pos)
    if match is None or match.group() not in valid:
        found = match.group() if match else text[pos : pos + 24] or "end of text"
        hint = _hint(found, valid, task_slot=slot == "a task tag") if match else ""
        raise ValueError(
            f"expected {slot} after {after} at position {pos}, found {found!r}{hint}; valid: {_choices(valid)}"
        )
    return match.group(), match.end()


def _parse_prompt(text: str, pos: int) -> tuple[TaskPrompt, int]:
    """Parse the tags of one prompt starting at ``pos``; return it (no suffix) and the end position."""
    mode_tag, pos = _expect(text, pos, tuple(MODES.values()), "a mode tag", "the start")
    audio_tag, pos = _expect(text, pos, st.LANGUAGE_TAGS, "an audio-language tag", mode_tag)
    task_tag, pos = _expect(text, pos, tuple(map(_tag, TASKS)), "a task tag", audio_tag)
    fields: dict[str, object] = {
        "mode": _MODE_BY_TAG[mode_tag],
        "audio_language": _name(audio_tag),
        "task": _name(task_tag),
    }
    if task_tag == st.QUESTION:
        answer = text.find(st.ANSWER, pos)
        if answer < 0:
            raise ValueError(f"question prompt has no {st.ANSWER} after the question text (position {pos})")
        return TaskPrompt(**fields, question=text[pos:answer]), answer + len(st.ANSWER)
    text_tag, pos = _expect(text, pos, st.LANGUAGE_TAGS, "a text-language tag", task_tag)
    flag, pos = _expect(text, pos, (st.NO_TIMESTAMPS, st.TIMESTAMPS), "a timestamps flag", text_tag)
    fields.update(text_language=_name(text_tag), timestamps=flag == st.TIMESTAMPS)
    match = _TAG_RE.match(text, pos)
    if match and _name(match.group()) in OUTPUT_INSTRUCTIONS:
        fields["output_instruction"] = _name(match.group())
        pos = match.end()
    return TaskPrompt(**fields), pos


@dataclass(frozen=True)
class PromptMatch:
    """A task prompt found in a longer text: ``text[start:end]`` renders ``prompt`` (without suffix)."""

    prompt: TaskPrompt
    start: int
    end: int


def find_task_prompt(text: str) -> PromptMatch | None:
    """Locate the first task prompt in ``text`` (e.g. after ``<audio>...</audio>``); ``None`` if there is none."""
    starts = [i for i in (text.find(tag) for tag in MODES.values()) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    prompt, end = _parse_prompt(text, start)
    return PromptMatch(prompt, start, end)


# --- decoding helpers ---------------------------------------------------------------------------
def _cut(text: str) -> str:
    """``text`` up to the first end token (``<|endoftext|>`` or ``<|im_end|>``)."""
    ends = [i for i in (text.find(st.ENDOFTEXT), text.find(st.IM_END)) if i >= 0]
    return text[: min(ends)] if ends else text


def response_text(text: str) -> str:
    """Cut decoded output at the first ``<|endoftext|>`` (or ``<|im_end|>``) and strip surrounding whitespace."""
    return _cut(text).strip()


def text_after_prompt(text: str) -> str:
    """The response in a decoded ``prompt + response`` text: what follows the prompt's tags, up to ``<|endoftext|>``.

    Any prompt suffix (the SRWT ``<|0.00|>``, a note-analysis query tag) stays in the response so the
    output parsers see it. Text without a task prompt is treated as a bare response.
    """
    match = find_task_prompt(text)
    return response_text(text if match is None else text[match.end :])


def strip_tags(text: str, *, keep: Iterable[str] = (), replacement: str = "") -> str:
    """Remove every special token from ``text`` (audio spans ``<audio>...</audio>`` as a whole).

    ``keep``: special-token strings to leave in place, e.g. ``special_tokens.TIMESTAMP_TOKENS``
    (keeping ``<audio>`` keeps audio spans). ``replacement`` is put where a token was removed.
    Strings that look like tags but are not special tokens are plain text and stay.
    """
    keep = frozenset(keep)
    if st.AUDIO_START not in keep:
        text = re.sub(f"{re.escape(st.AUDIO_START)}.*?{re.escape(st.AUDIO_END)}", replacement, text, flags=re.S)

    def drop(match: re.Match[str]) -> str:
        token = match.group()
        return token if token not in _SPECIALS or token in keep else replacement

    return _TAG_RE.sub(drop, text)


def is_timestamp(token: str) -> bool:
    """Whether ``token`` is one of ``<|0.00|>`` ... ``<|30.00|>``."""
    return token in _TIMESTAMP_SECONDS


def timestamp_seconds(token: str) -> float:
    """``"<|0.52|>"`` -> ``0.52``."""
    try:
        return _TIMESTAMP_SECONDS[token]
    except KeyError:
        raise ValueError(f"{token!r} is not a timestamp token (<|0.00|> ... <|30.00|> in 0.01 s steps)") from None


timestamp_token = st.timestamp_token


def extract_timestamps(text: str) -> list[float]:
    """All timestamps in ``text``, in order, as seconds."""
    return [_TIMESTAMP_SECONDS[m.group()] for m in _TAG_RE.finditer(text) if m.group() in _TIMESTAMP_SECONDS]


def convert_timestamps(text: str, template: str = "{:.2f}") -> str:
    """Replace every timestamp token with ``template.format(seconds)`` (``<|2.33|>`` -> ``2.33``)."""

    def render(match: re.Match[str]) -> str:
        token = match.group()
        return template.format(_TIMESTAMP_SECONDS[token]) if token in _TIMESTAMP_SECONDS else token

    return _TAG_RE.sub(render, text)


def _lex(text: str) -> list[str]:
    """Split ``text`` (up to its end token) into special tokens and the plain text between them."""
    text = _cut(text)
    pieces, pos = [], 0
    for match in _TAG_RE.finditer(text):
        if match.group() in _SPECIALS:
            pieces += [text[pos : match.start()], match.group()]
            pos = match.end()
    pieces.append(text[pos:])
    return [piece for piece in pieces if piece]


# --- output parsing -----------------------------------------------------------------------------
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
        return self.text == st.SILENCE


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
    for piece in _lex(text):
        if piece in _TIMESTAMP_SECONDS:
            seconds = _TIMESTAMP_SECONDS[piece]
            word = pending.strip()
            if word and current is not None:
                words.append(TimedWord(word, current, seconds))
            elif word and strict:
                raise ValueError(f"text {word!r} has no start timestamp")
            current, pending = seconds, ""
        elif piece == st.SILENCE or piece not in _SPECIALS:
            pending += piece
    if strict and pending.strip():
        raise ValueError(f"text {pending.strip()!r} has no end timestamp")
    return words if include_silence else [word for word in words if not word.is_silence]


def format_timestamped_words(words: Iterable[TimedWord]) -> str:
    """Render timed words as ``<|start|>word<|end|>``, sharing a timestamp where one word ends as the next starts."""
    parts: list[str] = []
    last_end = None
    for word in words:
        if not word.text.strip() or (word.text != st.SILENCE and _has_special(word.text)):
            raise ValueError(f"word text must be non-empty plain text or {st.SILENCE}, got {word.text!r}")
        first, last = st.timestamp_token(word.start), st.timestamp_token(word.end)
        parts += ([] if first == last_end else [first]) + [word.text, last]
        last_end = last
    return "".join(parts)


def parse_silences(text: str, *, start: float | None = None) -> list[TimeSpan]:
    """The ``<|sil|>`` spans of a timestamped transcript."""
    words = parse_timestamped_words(text, start=start, include_silence=True)
    return [TimeSpan(word.start, word.end) for word in words if word.is_silence]


def _has_special(text: str) -> bool:
    return any(match.group() in _SPECIALS for match in _TAG_RE.finditer(text))


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
    for piece in _lex(text):
        if piece == st.START_OF_WORD:
            if seen:
                phrases.append(GroundedPhrase(phrase.strip(), _pairs(times)))
            phrase, times, in_word, seen = "", [], True, True
        elif piece == st.END_OF_WORD:
            in_word = False
        elif in_word:
            phrase += piece
        elif piece in _TIMESTAMP_SECONDS:
            times.append(_TIMESTAMP_SECONDS[piece])
            seen = True
    if seen:
        phrases.append(GroundedPhrase(phrase.strip(), _pairs(times)))
    return phrases


def format_grounding(phrases: Iterable[GroundedPhrase]) -> str:
    """Render grounding results in the format :func:`parse_grounding` reads."""
    parts = []
    for phrase in phrases:
        head = f"{st.START_OF_WORD}{phrase.text}{st.END_OF_WORD}" if phrase.text else ""
        spans = st.DELIM.join(st.timestamp_token(s.start) + st.timestamp_token(s.end) for s in phrase.spans)
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
    pieces = _lex(text)
    for index, piece in enumerate(pieces):
        following = pieces[index + 1] if index + 1 < len(pieces) else ""
        plain = following if following not in _SPECIALS else ""
        if piece in _MIDI_PITCH:
            values.setdefault("pitch", _MIDI_PITCH[piece])
        elif piece in _MIDI_VELOCITY:
            values.setdefault("velocity", _MIDI_VELOCITY[piece])
        elif piece == st.INSTRUMENT and plain.strip():
            values.setdefault("instrument", plain.strip())
        elif piece == st.SONIC:
            values.setdefault("sonic", tuple(q.strip() for q in plain.split(",") if q.strip()))
    return NoteAnalysis(**values)


def format_note_analysis(note: NoteAnalysis) -> str:
    """Render the fields that are set, in the order pitch, velocity, instrument, sonic."""
    parts = []
    midi_fields = (("pitch", st.PITCH, st.MIDI_PITCH_TOKENS), ("velocity", st.VELOCITY, st.MIDI_VELOCITY_TOKENS))
    for field, tag, tokens in midi_fields:
        value = getattr(note, field)
        if value is not None:
            if not isinstance(value, int) or not 0 <= value < st.NUM_MIDI_VALUES:
                raise ValueError(f"{field} must be an int in 0..{st.NUM_MIDI_VALUES - 1}, got {value!r}")
            parts += [tag, tokens[value]]
    if note.instrument is not None:
        parts += [st.INSTRUMENT, note.instrument]
    if note.sonic:
        parts += [st.SONIC, ", ".join(note.sonic)]
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
    value_open, value_close, type_open, type_close = st.ENTITY_TAGS
    entities: list[NamedEntity] = []
    pending_type, last_typed = None, True
    pieces, index = _lex(text), 0
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
    value_open, value_close, type_open, type_close = st.ENTITY_TAGS
    parts = []
    for entity in entities:
        parts += [value_open, entity.value, value_close]
        if entity.type is not None:
            parts += [type_open, entity.type, type_close]
    return "".join(parts)


__all__ = [
    "LANGUAGE_CODES",
    "MODES",
    "NOTE_ANALYSIS_QUERIES",
    "OUTPUT_INSTRUCTIONS",
    "TASKS",
    "GroundedPhrase",
    "NamedEntity",
    "NoteAnalysis",
    "PromptMatch",
    "TaskPrompt",
    "TimeSpan",
    "TimedWord",
    "check_tags",
    "convert_timestamps",
    "extract_timestamps",
    "find_task_prompt",
    "format_grounding",
    "format_named_entities",
    "format_note_analysis",
    "format_timestamped_words",
    "is_timestamp",
    "parse_grounding",
    "parse_keywords",
    "parse_named_entities",
    "parse_note_analysis",
    "parse_silences",
    "parse_timestamped_words",
    "response_text",
    "strip_tags",
    "text_after_prompt",
    "timestamp_seconds",
    "timestamp_token",
    "unknown_tags",
]
