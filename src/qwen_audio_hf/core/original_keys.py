"""Checkpoint keys of the ORIGINAL Qwen-Audio release (`transformer.*`) and their native names.

One table for both readers of original checkpoints: the transformers loader (`modeling.original_checkpoint`) and
the vLLM plugin (`serving.weights`). Pure data: no imports.
"""

# (original regex, native name) in application order; each rename sees the result of the previous ones.
ORIGINAL_KEY_RENAMES = [
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
    (r"\.mlp\.w1\.", ".mlp.up_proj."),  # original: c_proj(w1(x) * silu(w2(x))) -> w1 is the linear "up" side
    (r"\.mlp\.w2\.", ".mlp.gate_proj."),  # w2 goes through SiLU -> gate
    (r"\.mlp\.c_proj\.", ".mlp.down_proj."),
]
FUSED_QKV_SOURCE = "attn.c_attn"  # q, k, v stacked in that order on dim 0 (weight and bias)


__all__ = ["FUSED_QKV_SOURCE", "ORIGINAL_KEY_RENAMES"]
