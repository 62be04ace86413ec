"""Qwen-Audio audio tower and projector in plain torch, for the vLLM model (vLLM's transformers cannot import ours).

Same parameter names and maths as `qwen_audio_hf.modeling` (Whisper-style conv stem, sinusoid positions, pre-LN
blocks with exact GELU, 2x average pooling, final LayerNorm; projector + learned audio bos/eos). Each clip is
encoded on its own, cut to its own length, which is what the transformers model computes for a clip alone, so
a clip's embeddings do not depend on what else is in the batch. The tower is replicated on every
tensor-parallel rank (it is small next to the decoder).
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..core.audio_lengths import conv_output_lengths


def sinusoid_positions(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed sinusoid table, (length, channels): [sin | cos] halves."""
    half = channels // 2
    inv_timescales = torch.exp(-(math.log(max_timescale) / (half - 1)) * torch.arange(half, dtype=torch.float32))
    scaled_time = torch.arange(length, dtype=torch.float32)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


class EncoderAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=True)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=True)
        self.out_proj = nn.Linear(d_model, d_model, bias=True)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        length, d_model = hidden_states.shape
        shape = (length, self.num_heads, d_model // self.num_heads)
        query, key, value = (
            proj(hidden_states).view(shape).transpose(0, 1) for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        attended = F.scaled_dot_product_attention(query, key, value)
        return self.out_proj(attended.transpose(0, 1).reshape(length, d_model))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ffn_dim: int):
        super().__init__()
        self.self_attn = EncoderAttention(d_model, num_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d_model)
        self.final_layer_norm = nn.LayerNorm(d_model)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states + self.self_attn(self.self_attn_layer_norm(hidden_states))
        return hidden_states + self.fc2(F.gelu(self.fc1(self.final_layer_norm(hidden_states))))


class QwenAudioTower(nn.Module):
    """log-mel (num_mel_bins, frames) of one clip + its valid frame count -> (audio tokens, d_model)."""

    def __init__(self, audio_config):
        super().__init__()
        if audio_config.activation_function != "gelu":
            raise ValueError(f"audio activation {audio_config.activation_function!r} is not supported (gelu only).")
        d_model = audio_config.d_model
        self.num_mel_bins = audio_config.num_mel_bins
        self.max_source_positions = audio_config.max_source_positions
        self.conv1 = nn.Conv1d(audio_config.num_mel_bins, d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel_size=3, stride=2, padding=1)
        self.register_buffer(
            "embed_positions", sinusoid_positions(audio_config.max_source_positions, d_model), persistent=False
        )
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, audio_config.encoder_attention_heads, audio_config.encoder_ffn_dim)
            for _ in range(audio_config.encoder_layers)
        )
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, features: torch.Tensor, mel_frames: int) -> torch.Tensor:
        conv_frames = conv_output_lengths(int(mel_frames))
        if conv_frames < 2:  # a clip under 30 ms: no audio token, as in the original's arithmetic
            return self.layer_norm.weight.new_zeros((0, self.layer_norm.weight.shape[0]))
        if conv_frames > self.max_source_positions:
            raise ValueError(
                f"audio too long: {conv_frames} encoder frames > {self.max_source_positions} (30 s); split it first."
            )
        features = features[:, : 2 * conv_frames].to(self.conv1.weight.dtype)
        hidden_states = F.gelu(self.conv2(F.gelu(self.conv1(features[None]))))[0].T
        positions = self.embed_positions[: hidden_states.shape[0]].to(torch.float32)
        hidden_states = (hidden_states + positions).to(hidden_states.dtype)
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        hidden_states = F.avg_pool1d(hidden_states.T[None], kernel_size=2, stride=2)[0].T
        return self.layer_norm(hidden_states)


class QwenAudioProjector(nn.Module):
    """Audio frames -> decoder width, framed by the learned audio bos / eos embeddings."""

    def __init__(self, audio_hidden_size: int, text_hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(audio_hidden_size, text_hidden_size, bias=True)
        self.audio_bos_eos_embedding = nn.Embedding(2, text_hidden_size)

    def forward(self, audio_frames: torch.Tensor) -> torch.Tensor:
        """(n, d_audio) -> (n + 2, hidden): [bos, linear(frames)..., eos]."""
        projected = self.linear(audio_frames)
        bos_eos = self.audio_bos_eos_embedding.weight.to(projected.dtype)
        return torch.cat([bos_eos[0:1], projected, bos_eos[1:2]])


__all__ = ["QwenAudioProjector", "QwenAudioTower", "sinusoid_positions"]
