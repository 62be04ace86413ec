"""Checks of uploaded or recorded audio, so a bad file becomes a message in the page instead of a failed request."""

from __future__ import annotations

import os

import numpy as np

from ..core.audio_lengths import TARGET_SAMPLING_RATE
from ..long_form.reading import read_long_audio


class AudioInputError(ValueError):
    """Audio the page cannot use; the message names the problem and what to do instead."""


def read_upload(path: str | None, max_duration_s: float, what: str = "audio") -> np.ndarray:
    """The upload at ``path`` as 16 kHz mono float32; raises :class:`AudioInputError` for a missing, unreadable,
    empty or too long (over ``max_duration_s``) recording."""
    if not path:
        raise AudioInputError(f"No {what} given: upload an audio file or record one with the microphone first.")
    name = os.path.basename(path)
    if os.path.getsize(path) == 0:
        raise AudioInputError(f"{name!r} is empty (0 bytes): record again or upload another file.")
    try:
        waveform = read_long_audio(path, name=repr(name))
    except (ValueError, OSError, RuntimeError) as error:
        raise AudioInputError(f"{name!r} is not audio this app can read ({error}). Upload wav, flac, ogg or mp3."
                              ) from error
    if waveform.shape[0] == 0:
        raise AudioInputError(f"{name!r} holds no samples (an empty recording): record again or upload another file.")
    duration = waveform.shape[0] / TARGET_SAMPLING_RATE
    if duration > max_duration_s:
        raise AudioInputError(f"{name!r} is {duration:.1f} s long, over this server's limit of {max_duration_s:g} s "
                              "(qwen-audio-hf web --max-audio-s); cut it or use `qwen-audio-hf transcribe`.")
    return waveform


__all__ = ["AudioInputError", "read_upload"]
