"""Task prompts: build a base-model prompt from typed fields (`TaskPrompt`), render it, and read one back.

The slots and their vocabularies are those of ``tag_grammar``; reading model outputs is ``tag_parsing``'s job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..core.token_ids import (
    ANSWER,
    AUDIO_END,
    AUDIO_START,
    CAPTION_STYLE_TAGS,
    EMOTION_RECOGNITION,
    ITN,
    LANGUAGE_TAGS,
    NOTE_ANALYSIS,
    NO_TIMESTAMPS,
    QUESTION,
    SCENE,
    TIMESTAMPS,
    VOCAL_CLASSIFICATION,
    WITHOUT_ITN,
    timestamp_token,
)
from .tag_grammar import (
    LANGUAGE_CODES,
    MODE_BY_TAG,
    MODES,
    NOTE_ANALYSIS_QUERIES,
    OUTPUT_INSTRUCTIONS,
    QUESTION_TASK,
    TAG_RE,
    TASKS,
    TRANSCRIPTION_TASKS,
    check_choice,
    choices_text,
    make_tag,
    slot_hint,
    tag_name,
    tag_names,
)


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
        task = check_choice("task", self.task, TASKS)
        default_mode = "transcription" if task in TRANSCRIPTION_TASKS else "analysis"
        mode = MODE_BY_TAG.get(self.mode, self.mode) if isinstance(self.mode, str) else self.mode
        mode = default_mode if mode is None else check_choice("mode", mode, tuple(MODES))
        values = {
            "task": task,
            "mode": mode,
            "audio_language": check_choice("audio_language", self.audio_language, LANGUAGE_CODES),
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
        if ANSWER in self.question:
            raise ValueError(f"question text must not contain {ANSWER}; the prompt adds it after the question")
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
                f"valid: {choices_text(LANGUAGE_CODES)}"
            )
        timestamps = False if self.timestamps is None else self.timestamps
        if not isinstance(timestamps, bool):
            raise TypeError(f"timestamps must be a bool, got {type(timestamps).__name__}")
        instruction = self.output_instruction
        if instruction is not None:
            instruction = check_choice("output_instruction", instruction, OUTPUT_INSTRUCTIONS)
        elif (lead := TAG_RE.match(self.suffix)) and tag_name(lead.group()) in OUTPUT_INSTRUCTIONS:
            raise ValueError(
                f"suffix starts with {lead.group()}, which would parse as the output instruction; "
                f"pass output_instruction={tag_name(lead.group())!r} instead"
            )
        return {
            "text_language": check_choice("text_language", self.text_language, LANGUAGE_CODES),
            "timestamps": timestamps,
            "output_instruction": instruction,
        }

    # -- rendering -------------------------------------------------------------------------------
    @property
    def tags(self) -> tuple[str, ...]:
        """The prompt's special tags in order (the question text and suffix excluded)."""
        head = (MODES[self.mode], make_tag(self.audio_language), make_tag(self.task))
        if self.task == QUESTION_TASK:
            return (*head, ANSWER)
        flag = TIMESTAMPS if self.timestamps else NO_TIMESTAMPS
        tail = () if self.output_instruction is None else (make_tag(self.output_instruction),)
        return (*head, make_tag(self.text_language), flag, *tail)

    def to_text(self, audio: str | None = None) -> str:
        """Render the prompt; with ``audio`` (a path, or ``""`` for a placeholder) prefix ``<audio>audio</audio>``."""
        tags = self.tags
        if self.task == QUESTION_TASK:
            body = "".join(tags[:-1]) + self.question + tags[-1]
        else:
            body = "".join(tags)
        prefix = "" if audio is None else f"{AUDIO_START}{audio}{AUDIO_END}"
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
            raise ValueError(f"unknown TaskPrompt field(s) {unknown}; valid: {choices_text(valid)}")
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
        if text.startswith(AUDIO_START):
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
        instruction = tag_name(ITN if itn else WITHOUT_ITN)
        return cls(audio_language=language, task="transcribe", text_language=language, output_instruction=instruction)

    @classmethod
    def timestamped_asr(cls, language: str = "en") -> TaskPrompt:
        """Speech recognition with word timestamps (SRWT); the prompt ends with ``<|timestamps|><|0.00|>``."""
        return cls(
            audio_language=language,
            task="transcribe",
            text_language=language,
            timestamps=True,
            suffix=timestamp_token(0.0),
        )

    @classmethod
    def translation(cls, audio_language: str, text_language: str) -> TaskPrompt:
        """Speech translation from ``audio_language`` speech into ``text_language`` text (``<|itn|>``)."""
        return cls(
            audio_language=audio_language,
            task="translate",
            text_language=text_language,
            output_instruction=tag_name(ITN),
        )

    @classmethod
    def caption(cls, style: str = "clotho", text_language: str = "en") -> TaskPrompt:
        """Audio captioning; ``style`` is ``clotho``, ``audiocaps``, ``plain`` or ``audioset_ontology``."""
        instruction = style if style in OUTPUT_INSTRUCTIONS else f"caption_{style}"
        if instruction not in tag_names(CAPTION_STYLE_TAGS):
            valid = [name.removeprefix("caption_") for name in tag_names(CAPTION_STYLE_TAGS)]
            raise ValueError(f"unknown caption style {style!r}; valid: {choices_text(valid)}")
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
        return cls.classification(tag_name(SCENE))

    @classmethod
    def emotion(cls, audio_language: str = "en") -> TaskPrompt:
        """Speech emotion recognition (``<|emotion_recognition|>``)."""
        return cls.classification(tag_name(EMOTION_RECOGNITION), audio_language)

    @classmethod
    def vocal_sound(cls, audio_language: str = "en") -> TaskPrompt:
        """Vocal sound classification (``<|vocal_classification|>``)."""
        return cls.classification(tag_name(VOCAL_CLASSIFICATION), audio_language)

    @classmethod
    def note_analysis(cls, query: str | None = None) -> TaskPrompt:
        """Music note analysis; ``query`` (pitch, velocity, instrument, sonic) appends that field's tag."""
        suffix = "" if query is None else make_tag(check_choice("note analysis query", query, NOTE_ANALYSIS_QUERIES))
        return dataclasses.replace(cls.classification(tag_name(NOTE_ANALYSIS)), suffix=suffix)


def _expect(text: str, pos: int, valid: Sequence[str], slot: str, after: str) -> tuple[str, int]:
    """Read the tag at ``pos``; it must be one of ``valid`` (tag strings)."""
    match = TAG_RE.match(text, pos)
    if match is None or match.group() not in valid:
        found = match.group() if match else text[pos : pos + 24] or "end of text"
        hint = slot_hint(found, valid, task_slot=slot == "a task tag") if match else ""
        raise ValueError(
            f"expected {slot} after {after} at position {pos}, found {found!r}{hint}; valid: {choices_text(valid)}"
        )
    return match.group(), match.end()


def _parse_prompt(text: str, pos: int) -> tuple[TaskPrompt, int]:
    """Parse the tags of one prompt starting at ``pos``; return it (no suffix) and the end position."""
    mode_tag, pos = _expect(text, pos, tuple(MODES.values()), "a mode tag", "the start")
    audio_tag, pos = _expect(text, pos, LANGUAGE_TAGS, "an audio-language tag", mode_tag)
    task_tag, pos = _expect(text, pos, tuple(map(make_tag, TASKS)), "a task tag", audio_tag)
    fields: dict[str, object] = {
        "mode": MODE_BY_TAG[mode_tag],
        "audio_language": tag_name(audio_tag),
        "task": tag_name(task_tag),
    }
    if task_tag == QUESTION:
        answer = text.find(ANSWER, pos)
        if answer < 0:
            raise ValueError(f"question prompt has no {ANSWER} after the question text (position {pos})")
        return TaskPrompt(**fields, question=text[pos:answer]), answer + len(ANSWER)
    text_tag, pos = _expect(text, pos, LANGUAGE_TAGS, "a text-language tag", task_tag)
    flag, pos = _expect(text, pos, (NO_TIMESTAMPS, TIMESTAMPS), "a timestamps flag", text_tag)
    fields.update(text_language=tag_name(text_tag), timestamps=flag == TIMESTAMPS)
    match = TAG_RE.match(text, pos)
    if match and tag_name(match.group()) in OUTPUT_INSTRUCTIONS:
        fields["output_instruction"] = tag_name(match.group())
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
