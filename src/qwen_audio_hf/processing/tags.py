"""The Qwen-Audio tag grammar, one import path for inference, training and evaluation.

Three modules behind it: ``tag_grammar`` (slots, vocabularies, lexing, tag validation: the one owner of the
grammar), ``tag_prompts`` (`TaskPrompt`: build, render and parse task prompts) and ``tag_parsing`` (cut and clean
decoded outputs, parse and format timestamped words, grounding, note analysis, keywords, entities).
"""

from ..core.token_ids import timestamp_token
from .tag_grammar import (
    LANGUAGE_CODES,
    MODES,
    NOTE_ANALYSIS_QUERIES,
    OUTPUT_INSTRUCTIONS,
    TASKS,
    check_tags,
    is_timestamp,
    timestamp_seconds,
    unknown_tags,
)
from .tag_parsing import (
    GroundedPhrase,
    NamedEntity,
    NoteAnalysis,
    TimedWord,
    TimeSpan,
    convert_timestamps,
    extract_timestamps,
    format_grounding,
    format_named_entities,
    format_note_analysis,
    format_timestamped_words,
    parse_grounding,
    parse_keywords,
    parse_named_entities,
    parse_note_analysis,
    parse_silences,
    parse_timestamped_words,
    response_text,
    strip_tags,
    text_after_prompt,
)
from .tag_prompts import PromptMatch, TaskPrompt, find_task_prompt

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
