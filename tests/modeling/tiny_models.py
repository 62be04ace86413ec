"""Tiny Qwen-Audio configs and inputs shared by the modeling tests (CPU, seconds)."""

import torch

from qwen_audio_hf.core.audio_lengths import audio_token_counts
from qwen_audio_hf.core.token_ids import AUDIO_END_ID as AUDIO_END
from qwen_audio_hf.core.token_ids import AUDIO_PAD_ID as AUDIO_PAD
from qwen_audio_hf.core.token_ids import AUDIO_START_ID as AUDIO_START
from qwen_audio_hf.core.token_ids import ENDOFTEXT_ID
from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioForConditionalGeneration
TEXT_IDS = [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]


def tiny_config(**text_overrides) -> QwenAudioConfig:
    text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, seq_length=2048)
    text.update(text_overrides)
    return QwenAudioConfig(
        audio_config=dict(d_model=32, encoder_layers=2, encoder_attention_heads=4, num_mel_bins=80),
        text_config=text,
    )


def tiny_model(seed: int = 0, **text_overrides) -> QwenAudioForConditionalGeneration:
    torch.manual_seed(seed)
    model = QwenAudioForConditionalGeneration(tiny_config(**text_overrides)).eval()
    # Larger random weights than the default init so that tokens/logits differ visibly between inputs.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2 and "norm" not in name:
                param.normal_(0.0, 0.08)
    return model


def audio_features(mel_frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(80, 3000) random log-mel with frames past `mel_frames` set like padding, and its (3000,) mask."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(80, 3000, generator=generator) * 0.5
    features[:, mel_frames:] = -0.5
    mask = torch.zeros(3000, dtype=torch.long)
    mask[:mel_frames] = 1
    return features, mask


def audio_span(mel_frames: int) -> list[int]:
    count = audio_token_counts(mel_frames)
    return [AUDIO_START] + [AUDIO_PAD] * count + [AUDIO_END]


def prompt_ids(mel_frames: int | None, n_text: int, offset: int = 0) -> list[int]:
    text = [TEXT_IDS[(offset + i) % len(TEXT_IDS)] + i for i in range(n_text)]
    return (audio_span(mel_frames) if mel_frames else []) + text


def left_pad_batch(rows: list[list[int]], pad_id: int = ENDOFTEXT_ID) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask
