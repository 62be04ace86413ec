"""Per-window model outputs -> one result for the recording, every timestamp shifted to absolute time.

Window responses are read with the tag parsers of ``processing.tags``: SRWT word timestamps (``<|t|>word<|t|>``),
``<|sil|>`` spans and grounding spans are moved by the time at which the window's decoded audio starts. Texts of
transcription/translation windows are joined (a space between windows, none for Chinese/Japanese); other tasks
(captions, analysis) keep one answer per window. With overlapping windows, words that two windows share at a
seam are kept once: by time (each word belongs to the window holding its midpoint) when there are word
timestamps, else by dropping the longest run of words that ends the previous window and starts the next one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..processing import tags
from ..processing.tags import GroundedPhrase, TimedWord, TimeSpan

NO_SPACE_LANGUAGES = frozenset({"zh", "zh_tr", "ja", "yue", "th", "lo", "my", "km", "bo"})
"""Languages written without spaces between words: their window texts are joined directly."""
_NO_SPACE_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC", "FULLWIDTH", "THAI")


@dataclass(frozen=True)
class WindowResult:
    """One window: its span of the recording, where its decoded audio starts, the raw response and its text."""

    start_s: float
    end_s: float
    text: str
    response: str = ""
    offset_s: float = 0.0
    decoded: bool = True


@dataclass
class LongFormResult:
    """The stitched result for one recording (times in seconds from its start)."""

    audio: str
    duration_s: float
    text: str
    windows: list[WindowResult]
    words: list[TimedWord] = field(default_factory=list)
    silences: list[TimeSpan] = field(default_factory=list)
    grounding: list[GroundedPhrase] = field(default_factory=list)

    def to_dict(self, timestamps: bool = False) -> dict:
        """The CLI's JSON object; ``words`` only with ``timestamps``."""
        data = {
            "audio": self.audio,
            "duration_s": round(self.duration_s, 6),
            "text": self.text,
            "windows": [{"start_s": round(w.start_s, 6), "end_s": round(w.end_s, 6), "text": w.text} for w in self.windows],
        }
        if timestamps:
            data["words"] = [{"text": w.text, "start_s": round(w.start, 6), "end_s": round(w.end, 6)} for w in self.words]
        return data


def _no_space_char(char: str) -> bool:
    return any(script in unicodedata.name(char, "") for script in _NO_SPACE_SCRIPTS)


def join_texts(texts: Sequence[str], language: str | None = None) -> str:
    """Join window texts: with a space, or without for :data:`NO_SPACE_LANGUAGES` (for an unknown language,
    without one where both sides of the seam are CJK/Thai characters). Empty texts are skipped."""
    joined = ""
    for text in (t.strip() for t in texts):
        if not text:
            continue
        if joined:
            direct = language in NO_SPACE_LANGUAGES or (
                language in (None, "unknown") and _no_space_char(joined[-1]) and _no_space_char(text[0])
            )
            joined += "" if direct else " "
        joined += text
    return joined


def shift_words(words: Sequence[TimedWord], offset: float) -> list[TimedWord]:
    return [replace(word, start=word.start + offset, end=word.end + offset) for word in words]


def shift_spans(spans: Sequence[TimeSpan], offset: float) -> list[TimeSpan]:
    return [TimeSpan(span.start + offset, span.end + offset) for span in spans]


def shift_grounding(phrases: Sequence[GroundedPhrase], offset: float) -> list[GroundedPhrase]:
    return [GroundedPhrase(p.text, tuple(shift_spans(p.spans, offset))) for p in phrases]


def _normalise(word: str) -> str:
    return re.sub(r"[^\w]", "", word.casefold())


def drop_repeated_prefix(previous: Sequence[str], current: Sequence[str]) -> int:
    """How many leading words of ``current`` repeat the last words of ``previous`` (the longest such run,
    compared without case and punctuation)."""
    prev = [_normalise(w) for w in previous]
    cur = [_normalise(w) for w in current]
    for size in range(min(len(prev), len(cur)), 0, -1):
        if prev[len(prev) - size :] == cur[:size] and any(cur[:size]):
            return size
    return 0


def window_text(response: str, words: Sequence[TimedWord], language: str | None) -> str:
    """The plain text of a window: its timed words joined, or the response with every tag removed."""
    separator = "" if language in NO_SPACE_LANGUAGES else " "
    if words:
        return separator.join(word.text.strip() for word in words)
    plain = tags.strip_tags(tags.response_text(response))
    return plain.strip() if language in NO_SPACE_LANGUAGES else " ".join(plain.split())


def parse_window(response: str, offset_s: float, timestamp_start: float | None):
    """Absolute (words, silences, grounding) of one window's response."""
    timed = tags.parse_timestamped_words(response, start=timestamp_start, include_silence=True)
    words = shift_words([w for w in timed if not w.is_silence], offset_s) if timestamp_start is not None else []
    silences = shift_spans([TimeSpan(w.start, w.end) for w in timed if w.is_silence], offset_s)
    grounding = shift_grounding(tags.parse_grounding(response), offset_s) if timestamp_start is None else []
    return words, silences, grounding


def stitch(
    audio: str,
    duration_s: float,
    windows: Sequence[WindowResult],
    *,
    join: bool,
    language: str | None = None,
    timestamp_start: float | None = None,
    overlap: bool = False,
) -> LongFormResult:
    """Combine the windows of one recording. ``join``: one text (ASR, translation) or one answer per line
    (other tasks). ``timestamp_start``: the timestamp that ends the prompt (SRWT: 0.0), i.e. word timestamps
    are expected. ``overlap``: windows' decoded audio overlaps, so remove words repeated at seams."""
    all_words: list[TimedWord] = []
    silences: list[TimeSpan] = []
    grounding: list[GroundedPhrase] = []
    texts: list[str] = []
    previous_words: list[str] = []
    for window in windows:
        words, spans, phrases = parse_window(window.response, window.offset_s, timestamp_start)
        if overlap and words:
            words = [w for w in words if window.start_s <= (w.start + w.end) / 2 < window.end_s]
            text = window_text("", words, language)
        elif overlap:
            pieces = window.text.split()
            text = " ".join(pieces[drop_repeated_prefix(previous_words, pieces):])
        else:
            text = window.text
        previous_words = window.text.split()
        all_words += words
        silences += spans
        grounding += phrases
        texts.append(text)
    text = join_texts(texts, language) if join else "\n".join(t for t in (t.strip() for t in texts) if t)
    return LongFormResult(audio, duration_s, text, list(windows), all_words, silences, grounding)


__all__ = [
    "NO_SPACE_LANGUAGES",
    "LongFormResult",
    "WindowResult",
    "drop_repeated_prefix",
    "join_texts",
    "parse_window",
    "shift_grounding",
    "shift_spans",
    "shift_words",
    "stitch",
    "window_text",
]
