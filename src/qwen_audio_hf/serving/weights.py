"""Checkpoint key translation for the vLLM model: native layout (written by this package) and original layout.

Native keys (`model.audio_tower.*`, `model.multi_modal_projector.*`, `model.language_model.*`, `lm_head.*`)
map onto the vLLM module tree (`audio_tower`, `multi_modal_projector`, `language_model.model`,
`language_model.lm_head`); vLLM's Qwen2 loader then fuses q/k/v and gate/up itself. Original hub keys
(`transformer.*`) are first renamed to native ones, and the fused `attn.c_attn` is split into q/k/v.
"""

import re
from collections.abc import Iterable, Iterator

import torch

# Original -> native renames, applied in order (each sees the previous result). w1 is the "up" side and w2 the
# SiLU "gate" side of the original MLP c_proj(w1(x) * silu(w2(x))).
ORIGINAL_TO_NATIVE = [
    (r"^transformer\.audio\.proj\.", "model.multi_modal_projector.linear."),
    (r"^transformer\.audio\.audio_bos_eos_token\.", "model.multi_modal_projector.audio_bos_eos_embedding."),
    (r"^transformer\.audio\.ln_post\.", "model.audio_tower.layer_norm."),
    (r"^transformer\.audio\.blocks\.", "model.audio_tower.layers."),
    (r"^transformer\.audio\.", "model.audio_tower."),
    (r"\.attn\.query\.", ".self_attn.q_proj."),
    (r"\.attn\.key\.", ".self_attn.k_proj."),
    (r"\.attn\.value\.", ".self_attn.v_proj."),
    (r"\.attn\.out\.", ".self_attn.out_proj."),
    (r"\.attn_ln\.", ".self_attn_layer_norm."),
    (r"\.mlp_ln\.", ".final_layer_norm."),
    (r"\.mlp\.0\.", ".fc1."),
    (r"\.mlp\.2\.", ".fc2."),
    (r"^transformer\.wte\.", "model.language_model.embed_tokens."),
    (r"^transformer\.ln_f\.", "model.language_model.norm."),
    (r"^transformer\.h\.", "model.language_model.layers."),
    (r"\.ln_1\.", ".input_layernorm."),
    (r"\.ln_2\.", ".post_attention_layernorm."),
    (r"\.attn\.c_proj\.", ".self_attn.o_proj."),
    (r"\.mlp\.w1\.", ".mlp.up_proj."),
    (r"\.mlp\.w2\.", ".mlp.gate_proj."),
    (r"\.mlp\.c_proj\.", ".mlp.down_proj."),
]
FUSED_QKV = ".attn.c_attn."
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
    for pattern, replacement in ORIGINAL_TO_NATIVE:
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
