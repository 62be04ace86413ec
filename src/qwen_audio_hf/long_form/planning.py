"""Which planner cuts a recording into windows: ``segmentation="energy"`` (at pauses, tiling everything) or
``"vad"`` (around the speech Silero VAD finds; :mod:`.speech_activity`)."""

from __future__ import annotations

import numpy as np

from ..core.command_options import SEGMENTATIONS
from ..processing.audio_io import MAX_AUDIO_SECONDS
from .speech_activity import vad_windows
from .windows import Window, segment


def check_segmentation(segmentation: str) -> None:
    """Raise unless ``segmentation`` is one of :data:`SEGMENTATIONS`."""
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"segmentation must be one of {', '.join(SEGMENTATIONS)}, got {segmentation!r}")


def plan_windows(waveform: np.ndarray, chunk_length_s: float = MAX_AUDIO_SECONDS,
                 segmentation: str = "energy") -> list[Window]:
    """The windows to decode: :func:`~.windows.segment` (``"energy"``) or :func:`~.speech_activity.vad_windows`
    (``"vad"``: none when the recording holds no speech)."""
    check_segmentation(segmentation)
    return segment(waveform, chunk_length_s) if segmentation == "energy" else vad_windows(waveform, chunk_length_s)


__all__ = ["check_segmentation", "plan_windows"]
