"""The tiny random Qwen-Audio the evaluation tests decode with (one layer each side: fast on CPU)."""

import torch

from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioForConditionalGeneration


def tiny_eval_model(seed: int = 0) -> QwenAudioForConditionalGeneration:
    torch.manual_seed(seed)
    config = QwenAudioConfig(
        audio_config=dict(d_model=32, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=64),
        text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
    )
    return QwenAudioForConditionalGeneration(config).eval()
