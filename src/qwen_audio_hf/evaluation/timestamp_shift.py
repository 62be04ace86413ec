"""Average absolute shift (AAS) of word timestamps, the SRWT metric of the paper.

No library computes this, so it is our own code (the word alignment itself comes from the
``edit_distance`` package, whose tie-breaking decides which words count as matched; other aligners,
e.g. rapidfuzz, pick different but equally short alignments and change the number).

Per utterance the reference and the hypothesis are read as ``<|t0|>w1<|t1|>w2<|t2|>...``: the text
before the first timestamp is ignored (the prompt already ends with ``<|0.00|>``, so a response starts
with its first word), ``<|sil|>`` counts as a word, and ``<|startoftranscript|>``, ``<|transcribe|>`` and
one language tag (``<|en|>`` or ``<|zh|>``) are removed first. Words that the alignment marks equal are
paired; each pair contributes ``|start - start'| + |end - end'|``. AAS = total shift / matched words,
in seconds (the paper reports milliseconds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_TIMESTAMP = re.compile(r"<\|\d{1,2}\.\d+\|>")
_IGNORED_TAGS = ("<|startoftranscript|>", "<|transcribe|>")
_LANGUAGE_TAGS = ("<|en|>", "<|zh|>")


@dataclass(frozen=True)
class TimedText:
    """Words (``<|sil|>`` included) and their ``[start, end]`` times in seconds."""

    words: tuple[str, ...]
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ShiftResult:
    """AAS in seconds, with the counts behind it."""

    average_shift: float | None
    matched_words: int
    total_shift: float
    scored_utterances: int
    malformed_utterances: int


def read_timed_text(text: str) -> TimedText | None:
    """Parse one timestamped transcript; ``None`` if timestamps and words do not alternate."""
    for tag in _IGNORED_TAGS:
        text = text.replace(tag, "")
    for tag in _LANGUAGE_TAGS:
        if tag in text:
            text = text.replace(tag, "")
            break
    times = [float(token[2:-2]) for token in _TIMESTAMP.findall(text)]
    words = _TIMESTAMP.split(text)[1:-1]
    if len(times) != len(words) + 1:
        return None
    return TimedText(tuple(words), tuple(zip(times[:-1], times[1:])))


def _token_sequence(words: Sequence[str]) -> list[str]:
    # the original aligns "\t".join(words).split("\t"): identical except an empty list becomes [""]
    return "\t".join(words).split("\t")


def matched_spans(reference: TimedText, hypothesis: TimedText) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """(reference span, hypothesis span) of every word the edit-distance alignment marks equal."""
    import edit_distance

    matcher = edit_distance.SequenceMatcher(_token_sequence(reference.words), _token_sequence(hypothesis.words))
    pairs = []
    for tag, ref_start, _ref_end, hyp_start, _hyp_end in matcher.get_opcodes():
        if tag == "equal" and ref_start < len(reference.spans) and hyp_start < len(hypothesis.spans):
            pairs.append((reference.spans[ref_start], hypothesis.spans[hyp_start]))
    return pairs


def average_shift(references: Sequence[str], hypotheses: Sequence[str]) -> ShiftResult:
    """AAS over a corpus. Pairs where either side is malformed are skipped and counted.

    (The original drops malformed lines from each side separately and then zips the two lists; it
    stops with an assertion when the counts differ. Skipping the pair keeps the lists aligned.)
    """
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("average_shift: pass lists of timestamped transcripts, not a single string")
    if len(references) != len(hypotheses):
        raise ValueError(f"average_shift: got {len(references)} references but {len(hypotheses)} hypotheses")
    total, matched, scored, malformed = 0.0, 0, 0, 0
    for ref_text, hyp_text in zip(references, hypotheses):
        reference, hypothesis = read_timed_text(ref_text), read_timed_text(hyp_text)
        if reference is None or hypothesis is None:
            malformed += 1
            continue
        pairs = matched_spans(reference, hypothesis)
        if not pairs:
            continue
        total += sum(abs(r[0] - h[0]) + abs(r[1] - h[1]) for r, h in pairs)
        matched += len(pairs)
        scored += 1
    return ShiftResult(total / matched if matched else None, matched, total, scored, malformed)
