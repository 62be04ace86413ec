"""Qwen-Audio audio tower: Whisper-style encoder that runs only over the frames the batch really needs.

Layout and names follow Whisper / Qwen2-Audio (conv1, conv2, layers.N.{self_attn,fc1,fc2,...}, layer_norm) so
Whisper weights map 1:1. Behaviour follows the original Qwen-Audio encoder run on each clip ALONE: the clip's
mel is cut to 2 * T frames (T = its length after the conv stem) and the convolutions zero-pad past it, frames
past T are zeroed after the positions are added and masked out as attention keys, blocks are pre-LN with exact
(erf) GELU, then AvgPool1d(2, 2) and the final LayerNorm.

Batch invariance (a deliberate difference from the original, `config.batch_invariant=False` turns it off): the
original cuts a whole batch to its longest clip, so a shorter clip's conv stem reads the real mel frames past its
own end (0.17 max abs difference on the tiny fixtures). Here each clip's mel frames past its own 2 * T are zeroed
before conv1, which is exactly the zero padding its convolutions see when it is encoded alone; everything later
only reads frames < T.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from ..core.audio_lengths import audio_token_counts, conv_output_lengths
from .configuration_qwen_audio import QwenAudioEncoderConfig


def sinusoid_positions(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed sinusoid table, shape (length, channels): [sin | cos] halves."""
    half = channels // 2
    log_increment = math.log(max_timescale) / (half - 1)
    inv_timescales = torch.exp(-log_increment * torch.arange(half, dtype=torch.float32))
    scaled_time = torch.arange(length, dtype=torch.float32)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


@dataclass
class QwenAudioEncoderOutput(BaseModelOutputWithPooling):
    """last_hidden_state: (N, T_pool, d_model); output_lengths: valid pooled frames (audio tokens) per clip.

    `pooler_output` is filled by `QwenAudioModel.get_audio_features` (the projected [bos, tokens, eos] spans).
    """

    output_lengths: torch.Tensor | None = None


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class QwenAudioEncoderAttention(nn.Module):
    """Bidirectional multi-head self-attention (key projection has no bias, as in Whisper)."""

    def __init__(self, config: QwenAudioEncoderConfig):
        super().__init__()
        self.config = config
        self.embed_dim = config.d_model
        self.num_heads = config.encoder_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.is_causal = False
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=False)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        batch, length, _ = hidden_states.shape
        shape = (batch, length, self.num_heads, self.head_dim)
        query = self.q_proj(hidden_states).view(shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(shape).transpose(1, 2)
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=0.0 if not self.training else self.dropout,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = self.out_proj(attn_output.reshape(batch, length, -1).contiguous())
        return attn_output, attn_weights


class QwenAudioEncoderLayer(GradientCheckpointingLayer):
    """Pre-LN transformer block: x + attn(ln(x)); x + fc2(gelu(fc1(ln(x))))."""

    def __init__(self, config: QwenAudioEncoderConfig):
        super().__init__()
        self.self_attn = QwenAudioEncoderAttention(config)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.fc1 = nn.Linear(config.d_model, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)
        self.activation_fn = ACT2FN[config.activation_function]
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        """Returns (hidden_states, attention weights or None)."""
        residual = hidden_states
        hidden_states, attn_weights = self.self_attn(self.self_attn_layer_norm(hidden_states), attention_mask, **kwargs)
        hidden_states = residual + nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)
        residual = hidden_states
        hidden_states = self.activation_fn(self.fc1(self.final_layer_norm(hidden_states)))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        hidden_states = self.fc2(hidden_states)
        hidden_states = residual + nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)
        return hidden_states, attn_weights


def init_encoder_positions(module: nn.Module) -> None:
    """(Re)compute the sinusoid buffer (it is not saved, and is allocated on meta during from_pretrained)."""
    if isinstance(module, QwenAudioEncoder):
        init.copy_(module.embed_positions, sinusoid_positions(*module.embed_positions.shape))


class QwenAudioEncoderPreTrainedModel(PreTrainedModel):
    config: QwenAudioEncoderConfig
    base_model_prefix = "audio_tower"
    main_input_name = "input_features"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    _no_split_modules = ["QwenAudioEncoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = False
    _supports_attention_backend = True

    def _init_weights(self, module):
        super()._init_weights(module)
        init_encoder_positions(module)


class QwenAudioEncoder(QwenAudioEncoderPreTrainedModel):
    """Audio tower. `forward(input_features, feature_attention_mask)` -> pooled, normalised frames per clip."""

    def __init__(self, config: QwenAudioEncoderConfig):
        super().__init__(config)
        d_model = config.d_model
        self.conv1 = nn.Conv1d(config.num_mel_bins, d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel_size=3, stride=2, padding=1)
        self.register_buffer(
            "embed_positions", sinusoid_positions(config.max_source_positions, d_model), persistent=False
        )
        self.layers = nn.ModuleList([QwenAudioEncoderLayer(config) for _ in range(config.encoder_layers)])
        self.avg_pooler = nn.AvgPool1d(2, stride=2)
        self.layer_norm = nn.LayerNorm(d_model)
        self.gradient_checkpointing = False
        # Encoder frames run: a multiple of this (None: the longest clip's); see compile_with_length_buckets.
        self.length_bucket: int | None = None
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.conv1

    def compile_with_length_buckets(self, bucket_frames: int = 100, **compile_kwargs) -> "QwenAudioEncoder":
        """Compile the encoder blocks (`torch.compile(dynamic=False, **compile_kwargs)`) and pad every batch's
        encoder frames up to a multiple of `bucket_frames` (100 frames = 2 s of audio; capped at 30 s), so clips
        of different lengths reuse at most ceil(1500 / bucket_frames) graphs per batch size instead of
        recompiling. Outputs are unchanged: padded frames are zeroed, masked as keys and cut after the pooling.
        """
        if bucket_frames < 1:
            raise ValueError(f"bucket_frames must be a positive number of encoder frames, got {bucket_frames}.")
        self.length_bucket = bucket_frames
        compile_kwargs.setdefault("dynamic", False)
        for layer in self.layers:  # one graph serves every block: the parameters are graph inputs
            layer.compile(**compile_kwargs)
        return self

    def forward(
        self,
        input_features: torch.Tensor,
        feature_attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> QwenAudioEncoderOutput:
        """input_features: (N, num_mel_bins, frames) log-mel; feature_attention_mask: (N, frames), 1 = real frame.

        hidden_states (when asked): the input of every block, then the pooled, normalised output.
        attentions (when asked; eager attention only): every block's attention weights.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        if input_features.dim() != 3 or input_features.shape[1] != self.config.num_mel_bins:
            raise ValueError(
                f"input_features must have shape (num_audios, {self.config.num_mel_bins}, frames), got "
                f"{tuple(input_features.shape)}; pass the feature extractor's `input_features`."
            )
        num_audios, _, total_frames = input_features.shape
        if feature_attention_mask is None:
            mel_frames = torch.full((num_audios,), total_frames, dtype=torch.long, device=input_features.device)
        else:
            if feature_attention_mask.shape != (num_audios, total_frames):
                raise ValueError(
                    f"feature_attention_mask must have shape {(num_audios, total_frames)}, got "
                    f"{tuple(feature_attention_mask.shape)}."
                )
            mel_frames = feature_attention_mask.to(input_features.device).long().sum(-1)
        conv_lengths = conv_output_lengths(mel_frames)
        # Encode only up to the longest clip of the batch (never a fixed 30 s window); at least two conv frames so
        # the pooling has an input even when every clip is under 30 ms (such clips give no audio tokens).
        length = max(int(conv_lengths.max()), 2)
        if length > self.config.max_source_positions:
            raise ValueError(
                f"audio too long: {length} encoder frames > max_source_positions={self.config.max_source_positions} "
                "(30 s); cut the audio to 30 s before feature extraction."
            )
        features = input_features[..., : 2 * length]
        features = features.to(dtype=self.conv1.weight.dtype, device=self.conv1.weight.device)
        output_frames, length = length // 2, self._bucketed(length)
        if features.shape[-1] < 2 * length:  # zeros past the longest clip, as the original's cut-off conv sees
            features = nn.functional.pad(features, (0, 2 * length - features.shape[-1]))
        conv_lengths = conv_lengths.to(features.device)
        if self.config.batch_invariant:
            # Each clip sees zeros past its own 2 * T mel frames, as when it is encoded alone.
            mel_mask = torch.arange(2 * length, device=features.device)[None, :] < 2 * conv_lengths[:, None]
            features = features.masked_fill(~mel_mask[:, None, :], 0.0)
        hidden_states = nn.functional.gelu(self.conv1(features))
        hidden_states = nn.functional.gelu(self.conv2(hidden_states)).permute(0, 2, 1)
        hidden_states = (hidden_states + self.embed_positions[:length]).to(hidden_states.dtype)

        frame_mask = torch.arange(length, device=hidden_states.device)[None, :] < conv_lengths[:, None]
        # Padded frames are zeroed (as the original does) and never attended to as keys. A clip with no frame at
        # all (under 10 ms) keeps key 0 so its (unused) rows stay finite instead of softmax over nothing.
        hidden_states = hidden_states.masked_fill(~frame_mask[..., None], 0.0)
        key_mask = frame_mask.clone()
        key_mask[:, 0] = True
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=key_mask
        )

        kwargs.pop("return_dict", None)
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            hidden_states, attn_weights = layer(hidden_states, attention_mask, **kwargs)
            if output_attentions:
                all_attentions += (attn_weights,)

        hidden_states = self.avg_pooler(hidden_states.permute(0, 2, 1)).permute(0, 2, 1)[:, :output_frames]
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return QwenAudioEncoderOutput(
            last_hidden_state=hidden_states,
            output_lengths=audio_token_counts(mel_frames),
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )

    def _bucketed(self, length: int) -> int:
        """Encoder frames to run: `length` rounded up to the length bucket (if any), at most max_source_positions."""
        if not self.length_bucket:
            return length
        return min(-(-length // self.length_bucket) * self.length_bucket, self.config.max_source_positions)


__all__ = [
    "QwenAudioEncoder",
    "QwenAudioEncoderPreTrainedModel",
    "audio_token_counts",
    "conv_output_lengths",
    "sinusoid_positions",
]
