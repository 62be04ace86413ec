"""Audio-length arithmetic: samples -> mel frames -> conv stem -> audio tokens -> span, for ints and arrays."""

import numpy as np
import pytest
import torch

from qwen_audio_hf.core.audio_lengths import (
    audio_span_length,
    audio_span_length_for_samples,
    audio_token_counts,
    conv_output_lengths,
    mel_frames_for_samples,
)


@pytest.mark.parametrize(
    "seconds, span",
    [(1.0, 27), (3.0, 77), (7.45, 188), (30.0, 752), (33.0, 752), (0.03, 3), (1.2345, 33)],
)
def test_span_length_formula(seconds, span):
    samples = int(round(seconds * 16000))
    frames = mel_frames_for_samples(samples)
    assert frames == min(samples, 480000) // 160
    after_conv = (frames - 1) // 2 + 1
    assert conv_output_lengths(frames) == after_conv
    assert audio_token_counts(frames) == (after_conv - 2) // 2 + 1
    assert audio_span_length(frames) == span == audio_span_length_for_samples(samples)


def test_arrays_and_tensors_give_the_int_results_elementwise():
    frames = [1, 2, 3, 299, 300, 301, 3000]
    expected = [audio_token_counts(value) for value in frames]
    assert audio_token_counts(np.array(frames)).tolist() == expected
    assert audio_token_counts(torch.tensor(frames)).tolist() == expected
    assert conv_output_lengths(torch.tensor(frames)).dtype == torch.int64
