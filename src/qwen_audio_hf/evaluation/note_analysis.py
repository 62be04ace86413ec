"""Music note analysis (NSynth) scoring: instrument/velocity accuracy, sonic-quality MAP, pitch accuracy.

Parsing follows the original evaluation, not :func:`qwen_audio_hf.processing.tags.parse_note_analysis`:
a missing or unreadable pitch/velocity becomes 128 (a class of its own), instrument and sonic text run
to the next ``<``, and only the ten NSynth quality names count as sonic labels (split on ``", "``).

The paper's two figures are ``instrument_accuracy`` ("NS. Instrument (ACC)") and ``sonic_map``
("NS. Qualities (MAP)", macro average precision of the binary predictions, via scikit-learn).
Pitch accuracies follow the HEAR kit as the original used it: pitches are one-hot encoded over the
sorted set of pitches that occur in references and predictions, and ``pitch_chroma_accuracy`` compares
those class *indices* modulo 12 (not MIDI numbers), which is what the original reports.
``pitch_chroma_accuracy_midi`` is the octave-invariant accuracy on MIDI numbers, for reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SONIC_QUALITIES = frozenset(
    {
        "bright",
        "dark",
        "distortion",
        "fast_decay",
        "long_release",
        "multiphonic",
        "nonlinear_env",
        "percussive",
        "reverb",
        "tempo-synced",
    }
)
UNKNOWN_MIDI_VALUE = 128

_PITCH = re.compile(r"<\|pitch\|><\|midi_pitch_(.*?)\|>")
_VELOCITY = re.compile(r"<\|velocity\|><\|midi_velocity_(.*?)\|>")
_INSTRUMENT = re.compile(r"<\|instrument\|>(.*)")
_SONIC = re.compile(r"<\|sonic\|>(.*)")


def _midi_value(pattern: re.Pattern, text: str) -> int:
    match = pattern.search(text)
    try:
        return int(match.group(1)) if match else UNKNOWN_MIDI_VALUE
    except ValueError:
        return UNKNOWN_MIDI_VALUE


def _field_text(pattern: re.Pattern, text: str) -> str:
    match = pattern.search(text)
    return match.group(1).split("<")[0] if match else ""


def parse_note_fields(text: str) -> dict:
    """``{"pitch": int, "velocity": int, "instrument": str, "sonic": str}`` read from one answer."""
    if not isinstance(text, str):
        raise TypeError(f"expected the note-analysis text as a str, got {type(text).__name__}")
    return {
        "pitch": _midi_value(_PITCH, text),
        "velocity": _midi_value(_VELOCITY, text),
        "instrument": _field_text(_INSTRUMENT, text),
        "sonic": _field_text(_SONIC, text),
    }


def sonic_labels(sonic_text: str) -> list[str]:
    """The NSynth quality names in a ``"bright, percussive"`` string (others dropped)."""
    return [label for label in sonic_text.split(", ") if label in SONIC_QUALITIES] if sonic_text else []


def note_analysis_scores(references: Sequence[str], hypotheses: Sequence[str]) -> dict:
    """All note-analysis scores for one source (see the module docstring)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, average_precision_score
    from sklearn.preprocessing import MultiLabelBinarizer

    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"note analysis: need equally many references and hypotheses, got "
                         f"{len(references)} and {len(hypotheses)}")
    refs = [parse_note_fields(text) for text in references]
    hyps = [parse_note_fields(text) for text in hypotheses]

    sonic = MultiLabelBinarizer().fit_transform([sonic_labels(x["sonic"]) for x in refs + hyps])
    sonic_map = float(average_precision_score(sonic[: len(refs)], sonic[len(refs) :], average="macro"))

    classes = sorted({x["pitch"] for x in refs + hyps})
    ref_index = np.array([classes.index(x["pitch"]) for x in refs])
    hyp_index = np.array([classes.index(x["pitch"]) for x in hyps])
    ref_midi = np.array([x["pitch"] for x in refs])
    hyp_midi = np.array([x["pitch"] for x in hyps])
    return {
        "instrument_accuracy": float(accuracy_score([x["instrument"] for x in refs], [x["instrument"] for x in hyps])),
        "velocity_accuracy": float(accuracy_score([x["velocity"] for x in refs], [x["velocity"] for x in hyps])),
        "sonic_map": sonic_map,
        "pitch_accuracy": float(np.mean(ref_index == hyp_index)),
        "pitch_chroma_accuracy": float(np.mean(ref_index % 12 == hyp_index % 12)),
        "pitch_chroma_accuracy_midi": float(np.mean(ref_midi % 12 == hyp_midi % 12)),
    }
