"""Audio-length arithmetic: samples -> mel frames -> conv-stem frames -> audio tokens -> ``<audio>`` span length.

One definition shared by the feature extractor (span lengths in the prompt), the audio encoder (valid frames per
clip), the training data checks and the benchmarks. Pure integer arithmetic: every function takes a Python int or
an integer numpy array / torch tensor (``//`` and ``-`` only), and this module imports neither torch nor numpy.
"""

from __future__ import annotations

TARGET_SAMPLING_RATE = 16000
"""Sampling rate the feature extractor and encoder work at (Hz)."""
HOP_LENGTH = 160
"""Samples per mel frame (10 ms at 16 kHz)."""
MAX_AUDIO_SECONDS = 30
MAX_AUDIO_SAMPLES = MAX_AUDIO_SECONDS * TARGET_SAMPLING_RATE
"""Longest clip the encoder takes (its 1500 positions after the conv stem = 3000 mel frames)."""
AUDIO_SPAN_EXTRA_TOKENS = 2
"""``<audio>`` and ``</audio>`` around the audio tokens; the model fills them with the learned audio bos/eos."""


def mel_frames_for_samples(num_samples: int) -> int:
    """Valid mel frames of a 16 kHz clip of ``num_samples`` samples (capped at 30 s)."""
    return min(int(num_samples), MAX_AUDIO_SAMPLES) // HOP_LENGTH


def conv_output_lengths(mel_frames):
    """Frames after the stride-2 conv stem: (mel_frames - 1) // 2 + 1."""
    return (mel_frames - 1) // 2 + 1


def audio_token_counts(mel_frames):
    """Audio embeddings per clip after the conv stem and the 2x average pooling."""
    return (conv_output_lengths(mel_frames) - 2) // 2 + 1


def audio_span_length(mel_frames: int) -> int:
    """Length of the ``<audio>`` ... ``</audio>`` span in the text (audio tokens plus bos/eos), e.g. 77 for 3 s."""
    return int(audio_token_counts(int(mel_frames))) + AUDIO_SPAN_EXTRA_TOKENS


def audio_span_length_for_samples(num_samples: int) -> int:
    """``<audio>`` ... ``</audio>`` span length of a 16 kHz clip of ``num_samples`` samples."""
    return audio_span_length(mel_frames_for_samples(num_samples))


__all__ = [
    "AUDIO_SPAN_EXTRA_TOKENS",
    "HOP_LENGTH",
    "MAX_AUDIO_SAMPLES",
    "MAX_AUDIO_SECONDS",
    "TARGET_SAMPLING_RATE",
    "audio_span_length",
    "audio_span_length_for_samples",
    "audio_token_counts",
    "conv_output_lengths",
    "mel_frames_for_samples",
]
