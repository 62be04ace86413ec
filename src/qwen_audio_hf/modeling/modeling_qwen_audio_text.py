"""Qwen-Audio language model: transformers' Qwen2 decoder plus the original Qwen long-context tricks.

Why not stock Qwen2: the released Qwen-Audio checkpoints were trained with a 2048-token context and the original
inference code extends it at evaluation time with (1) dynamic NTK-aware rope scaling, whose alpha is chosen from
the prefill length and then kept for the whole generation, and (2) log-n query scaling beyond `seq_length`.
Stock Qwen2 has neither, so prompts longer than `seq_length` would give different (worse) outputs than the
original. For faithfulness we reproduce both, in eval mode only and only when the config enables them; in
training mode (and whenever the prompt fits in `seq_length`) this model computes exactly what Qwen2 computes.
Unlike the original, positions come from the attention mask, so left-padded batches are handled correctly.

Compilable decoding: the alpha is a per-row tensor computed with tensor ops at the prefill, returned as
`ntk_alpha` in the output and passed back as `ntk_alpha=` on every later forward (`generate()` does this through
its model kwargs), so it works with every cache class and a decode step has no host sync or graph break.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.qwen2.modeling_qwen2 import (
    Qwen2Attention,
    Qwen2Model,
    Qwen2RotaryEmbedding,
    apply_rotary_pos_emb,
    eager_attention_forward,
)
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_qwen_audio import QwenAudioTextConfig

_MAX_LOG2_CHUNKS = 62  # ceil(log2(n / seq_length)) for any int64 length n


def dynamic_ntk_alpha(real_lengths: torch.Tensor, seq_length: int) -> torch.Tensor:
    """alpha = max(2 ** ceil(log2(n / seq_length) + 1) - 1, 1) per row, float64, shape (B,); tensor ops only.

    With m = ceil(n / seq_length), ceil(log2(n / seq_length)) is the number of powers 2**j (j >= 0) below m
    (exact integer arithmetic, no float log2 whose rounding could move a length onto the next alpha).
    """
    lengths = real_lengths.long()
    chunks = (lengths + seq_length - 1) // seq_length
    powers = 2 ** torch.arange(_MAX_LOG2_CHUNKS, device=lengths.device)
    exponent = (powers < chunks[..., None]).sum(-1)
    return (2 ** (exponent + 1) - 1).to(torch.float64)


def logn_query_scale(position_ids: torch.Tensor, seq_length: int) -> torch.Tensor:
    """log(p) / log(seq_length) for 1-based positions p > seq_length, else 1; shape (B, 1, S, 1), float32."""
    positions = (position_ids.to(torch.float64) + 1).clamp(min=1)
    scaled = torch.log(positions) / math.log(seq_length)
    scale = torch.where(positions > seq_length, scaled, torch.ones_like(positions))
    return scale.to(torch.float32)[:, None, :, None]


@dataclass
class QwenAudioTextModelOutputWithPast(BaseModelOutputWithPast):
    """`BaseModelOutputWithPast` plus `ntk_alpha` (B,): the dynamic-NTK alpha of each row, to pass back when
    continuing this cache (None when dynamic NTK is off or in training mode)."""

    ntk_alpha: torch.Tensor | None = None


class QwenAudioRotaryEmbedding(Qwen2RotaryEmbedding):
    """Qwen2 rope that also accepts a per-row NTK alpha: base_b = theta * alpha_b ** (d / (d - 2)).

    cos/sin are returned in float32 whatever the model dtype: like the original, the rotation is applied in
    float32 and only the rotated q/k are cast back (stock Qwen2 rotates in the model dtype, e.g. bf16).

    Dynamic NTK is refused together with a configured `rope_parameters` type other than "default" (linear,
    dynamic, yarn, ...): both are context extensions that rescale the same rotary frequencies, the original
    never combines them, no checkpoint was trained or evaluated with the mix, and "dynamic" is itself a second
    dynamic-NTK rule. With `use_dynamic_ntk=False` the configured type is used at every length, as in Qwen2.
    """

    def __init__(self, config: QwenAudioTextConfig):
        rope_type = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
        if getattr(config, "use_dynamic_ntk", False) and rope_type != "default":
            raise ValueError(
                f"use_dynamic_ntk=True (the original Qwen-Audio long-context rule) and rope_parameters "
                f"rope_type={rope_type!r} both rescale the rotary frequencies beyond the training context and "
                f"cannot be combined. Set use_dynamic_ntk=False to use the {rope_type!r} rope at every length, "
                "or drop rope_scaling / rope_parameters to keep the original's dynamic NTK."
            )
        super().__init__(config)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor, ntk_alpha: torch.Tensor | None = None):
        x = torch.empty(0, device=x.device, dtype=torch.float32)  # only device and dtype of x are used
        if ntk_alpha is None:
            return super().forward(x, position_ids)
        dim = self.inv_freq.shape[0] * 2
        # float64 base as in the original (a Python float); MPS has no float64.
        wide = torch.float64 if x.device.type != "mps" else torch.float32
        base = self.config.rope_parameters["rope_theta"] * ntk_alpha.to(x.device, wide) ** (dim / (dim - 2))
        exponents = torch.arange(0, dim, 2, dtype=torch.int64, device=x.device).float() / dim
        inv_freq = 1.0 / (base.float()[:, None] ** exponents)  # (B, dim / 2); == float32(base) ** e, as in Qwen2
        freqs = position_ids[..., None].float() * inv_freq[:, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos() * self.attention_scaling, emb.sin() * self.attention_scaling


class QwenAudioTextAttention(Qwen2Attention):
    """Qwen2 attention that rotates q/k in float32 and can scale the rotated queries per position (log-n)."""

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        cache: Cache | None = None,
        query_scale: torch.Tensor | None = None,
        **kwargs,
    ):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key_states = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)

        cos, sin = position_embeddings
        dtype = query_states.dtype
        query_states, key_states = apply_rotary_pos_emb(
            query_states.float(), key_states.float(), cos.float(), sin.float()
        )
        query_states, key_states = query_states.to(dtype), key_states.to(dtype)
        if query_scale is not None:
            query_states = query_states * query_scale.to(query_states.dtype)

        if cache is not None:
            key_states, value_states = cache.update(key_states, value_states, self.layer_idx, kwargs=kwargs)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            sliding_window=self.sliding_window,
            **kwargs,
        )
        attn_output = self.o_proj(attn_output.reshape(*input_shape, -1).contiguous())
        return attn_output, attn_weights


class QwenAudioTextModel(Qwen2Model):
    """Qwen2Model (same decoder layers and weight names) + dynamic NTK rope + log-n attention in eval mode."""

    config: QwenAudioTextConfig

    def __init__(self, config: QwenAudioTextConfig):
        super().__init__(config)
        # <|endoftext|> is both pad and eos: it is a trained token in the original (no padding_idx), so its
        # embedding must keep receiving gradients and be initialised like any other row: a fresh embedding
        # without padding_idx (Qwen2's was already initialised with that row zeroed).
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.rotary_emb = QwenAudioRotaryEmbedding(config=config)
        for layer_idx, layer in enumerate(self.layers):
            layer.self_attn = QwenAudioTextAttention(config, layer_idx)
        self.post_init()

    def _long_context_inputs(
        self, position_ids: torch.Tensor, cache: Cache | None, ntk_alpha: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """NTK alpha (B,) and log-n query scale (B, 1, S, 1) for this forward; None where not applicable.

        Tensor ops only when `ntk_alpha` is given (every decode step of `generate()`): no host sync. log-n is
        always applied in eval mode; its scale is exactly 1 up to `seq_length`, so short prompts are unchanged.
        """
        seq_length = getattr(self.config, "seq_length", None)
        if self.training or seq_length is None:
            return None, None
        if not getattr(self.config, "use_dynamic_ntk", False):
            ntk_alpha = None
        elif ntk_alpha is None:
            self._check_prefill_can_choose_alpha(position_ids, cache, seq_length)
            # Prefill: alpha from each row's real length (positions come from the attention mask).
            ntk_alpha = dynamic_ntk_alpha(position_ids.max(dim=-1).values + 1, seq_length)
        query_scale = None
        if getattr(self.config, "use_logn_attn", False):
            query_scale = logn_query_scale(position_ids, seq_length)
        return ntk_alpha, query_scale

    @staticmethod
    def _check_prefill_can_choose_alpha(position_ids: torch.Tensor, cache: Cache | None, seq_length: int) -> None:
        """A forward that continues a filled cache without `ntk_alpha` cannot know the alpha its prefill chose.

        Only decidable (and harmless) when the whole sequence fits in `seq_length` (alpha 1 either way); else
        refuse. Eager only: a compiled continuation must be passed `ntk_alpha` (generate() always does).
        """
        if cache is None or torch.compiler.is_compiling():
            return
        past = int(cache.get_seq_length())
        if past > 0 and int(position_ids.max()) + 1 > seq_length:
            raise ValueError(
                f"this forward continues a cache of {past} tokens beyond seq_length={seq_length} without "
                "`ntk_alpha`: the dynamic-NTK alpha is chosen once, at the prefill. Pass "
                "ntk_alpha=<previous output>.ntk_alpha with the cache (generate() does this), and prefill the "
                "whole prompt in one forward (no prefill_chunk_size)."
            )

    @merge_with_config_defaults
    @capture_outputs
    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        ntk_alpha: torch.Tensor | None = None,
        **kwargs,
    ) -> QwenAudioTextModelOutputWithPast:
        """`ntk_alpha` (B,): the alpha returned by the forward that filled `cache`; None at the prefill."""
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)

        if position_ids is None:
            past_seen_tokens = cache.get_seq_length() if cache is not None else 0
            position_ids = self._positions_from_mask(attention_mask, inputs_embeds, past_seen_tokens)

        if not isinstance(causal_mask_mapping := attention_mask, dict):
            mask_kwargs = {
                "config": self.config,
                "inputs_embeds": inputs_embeds,
                "attention_mask": attention_mask,
                "cache": cache,
                "position_ids": position_ids,
            }
            causal_mask_mapping = {"full_attention": create_causal_mask(**mask_kwargs)}

        ntk_alpha, query_scale = self._long_context_inputs(position_ids, cache, ntk_alpha)
        hidden_states = inputs_embeds
        position_embeddings = self.rotary_emb(hidden_states, position_ids, ntk_alpha=ntk_alpha)
        if query_scale is not None:
            kwargs["query_scale"] = query_scale

        for i, decoder_layer in enumerate(self.layers[: self.config.num_hidden_layers]):
            hidden_states = decoder_layer(
                hidden_states,
                attention_mask=causal_mask_mapping[self.config.layer_types[i]],
                position_embeddings=position_embeddings,
                position_ids=position_ids,
                cache=cache,
                use_cache=use_cache,
                **kwargs,
            )
        hidden_states = self.norm(hidden_states)
        return QwenAudioTextModelOutputWithPast(
            last_hidden_state=hidden_states, cache=cache if use_cache else None, ntk_alpha=ntk_alpha
        )

    @staticmethod
    def _positions_from_mask(attention_mask, inputs_embeds, past_seen_tokens) -> torch.Tensor:
        """Positions from a 2D padding mask (left padding safe), else a plain range after the cached tokens."""
        length = inputs_embeds.shape[1]
        if isinstance(attention_mask, torch.Tensor) and attention_mask.dim() == 2:
            positions = attention_mask.long().cumsum(-1) - 1
            positions = positions.masked_fill(attention_mask == 0, 0)
            return positions[:, -length:].to(inputs_embeds.device)
        positions = torch.arange(length, device=inputs_embeds.device) + past_seen_tokens
        return positions.unsqueeze(0)


__all__ = ["QwenAudioTextModel", "QwenAudioTextModelOutputWithPast", "dynamic_ntk_alpha", "logn_query_scale"]
