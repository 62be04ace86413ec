"""The vLLM model's plain-torch audio tower (importable without vLLM): clips under 30 ms give no audio token."""

import pytest
import torch

from qwen_audio_hf.core.audio_lengths import audio_token_counts
from qwen_audio_hf.modeling import QwenAudioEncoderConfig
from qwen_audio_hf.serving.audio_encoder import QwenAudioProjector, QwenAudioTower


@pytest.mark.parametrize("mel_frames", [0, 1, 2, 3, 4, 7, 120])
def test_frames_per_clip_follow_the_original_arithmetic(mel_frames):
    torch.manual_seed(0)
    config = QwenAudioEncoderConfig(d_model=32, encoder_layers=1, encoder_attention_heads=4)
    tower, projector = QwenAudioTower(config).eval(), QwenAudioProjector(32, 48)
    with torch.no_grad():
        frames = tower(torch.randn(80, 3000), mel_frames)
        span = projector(frames)
    assert frames.shape == (audio_token_counts(mel_frames), 32)
    assert span.shape == (audio_token_counts(mel_frames) + 2, 48) and torch.isfinite(span).all()
