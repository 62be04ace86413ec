"""Checkpoint key translation for the vLLM model: native layout (written by this package) and original layout.

Native keys (`model.audio_tower.*`, `model.multi_modal_projector.*`, `model.language_model.*`, `lm_head.*`)
map onto the vLLM module tree (`audio_tower`, `multi_modal_projector`, `language_model.model`,
`language_model.lm_head`); vLLM's Qwen2 loader then fuses q/k/v and gate/up itself. Original hub keys
(`transformer.*`) are first renamed to native ones, and the fused `attn.c_attn` is split into q/k/v.
"""

import re
from collections.abc import Iterable, Iterator

import torch

from ..core.original_keys import FUSED_QKV_SOURCE, ORIGINAL_KEY_RENAMES

FUSED_QKV = f".{FUSED_QKV_SOURCE}."
# Buffers the original saves that are recomputed here.
IGNORED = re.compile(r"(positional_embedding|rotary_emb\.inv_freq|masked_bias|logn_tensor|embed_positions)")

NATIVE_TO_VLLM = [
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
    ("model.audio_tower.", "audio_tower."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
]


def native_name(name: str) -> str:
    """Original (`transformer.*`) keys renamed to native ones; native keys (and `lm_head.*`) unchanged."""
    if not name.startswith("transformer."):
        return name
    for pattern, replacement in ORIGINAL_KEY_RENAMES:
        name = re.sub(pattern, replacement, name)
    return name


def vllm_name(name: str) -> str:
    for prefix, replacement in NATIVE_TO_VLLM:
        if name.startswith(prefix):
            return replacement + name[len(prefix) :]
    raise ValueError(f"unexpected checkpoint key {name!r}: not a Qwen-Audio weight (native or original layout).")


def vllm_weights(weights: Iterable[tuple[str, torch.Tensor]]) -> Iterator[tuple[str, torch.Tensor]]:
    """(key, tensor) of either layout -> (vLLM module path, tensor); fused original q/k/v are split."""
    for name, tensor in weights:
        if IGNORED.search(name):
            continue
        if FUSED_QKV in name:
            base = native_name(name.replace(FUSED_QKV, ".attn.query_key_value_placeholder."))
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                yield vllm_name(base.replace(".attn.query_key_value_placeholder.", f".self_attn.{part}.")), chunk
            continue
        yield vllm_name(native_name(name)), tensor


__all__ = ["vllm_weights"]
