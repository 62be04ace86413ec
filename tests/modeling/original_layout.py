"""Write a tiny model in the ORIGINAL Qwen-Audio hub layout (keys, config.json, extra files) for loading tests.

The native -> original key mapping here is written out independently of `original_checkpoint.py`, so the tests
check the library's translation against a second, hand-written one.
"""

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.modeling.modeling_qwen_audio_encoder import sinusoid_positions

from ..original_fixtures import add_original_tokenizer_files

RELEASED_REMOTE_CODE = ("audio.py", "configuration_qwen.py", "cpp_kernels.py", "modeling_qwen.py",
                        "qwen_generation_utils.py", "tokenization_qwen.py")
"""The .py files the released Qwen/Qwen-Audio(-Chat) repos ship beside the weights (their remote code)."""
REMOTE_CODE_TRAP = "raise RuntimeError('remote code must never be imported: ' + __name__)\n"
"""What those files hold here: importing or executing any of them fails loudly."""

_LM_LAYER = {
    "input_layernorm": "ln_1",
    "post_attention_layernorm": "ln_2",
    "self_attn.o_proj": "attn.c_proj",
    "mlp.gate_proj": "mlp.w2",
    "mlp.up_proj": "mlp.w1",
    "mlp.down_proj": "mlp.c_proj",
}
_AUDIO_LAYER = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "final_layer_norm": "mlp_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
}
_TOP = {
    "model.language_model.embed_tokens": "transformer.wte",
    "model.language_model.norm": "transformer.ln_f",
    "lm_head": "lm_head",
    "model.audio_tower.conv1": "transformer.audio.conv1",
    "model.audio_tower.conv2": "transformer.audio.conv2",
    "model.audio_tower.layer_norm": "transformer.audio.ln_post",
    "model.multi_modal_projector.linear": "transformer.audio.proj",
    "model.multi_modal_projector.audio_bos_eos_embedding": "transformer.audio.audio_bos_eos_token",
}


def to_original_state_dict(model: QwenAudioForConditionalGeneration) -> dict[str, torch.Tensor]:
    native = {k: v.detach().clone() for k, v in model.state_dict().items()}
    original: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in native.items():
        module, param = key.rsplit(".", 1)
        if module in _TOP:
            original[f"{_TOP[module]}.{param}"] = value
        elif match := re.fullmatch(r"model\.language_model\.layers\.(\d+)\.(.+)", module):
            index, name = int(match[1]), match[2]
            if name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                qkv.setdefault((index, param), {})[name[10]] = value
            else:
                original[f"transformer.h.{index}.{_LM_LAYER[name]}.{param}"] = value
        elif match := re.fullmatch(r"model\.audio_tower\.layers\.(\d+)\.(.+)", module):
            original[f"transformer.audio.blocks.{match[1]}.{_AUDIO_LAYER[match[2]]}.{param}"] = value
        else:
            raise KeyError(f"no original name for {key}")
    for (index, param), parts in qkv.items():
        original[f"transformer.h.{index}.attn.c_attn.{param}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    audio = model.config.audio_config
    original["transformer.audio.positional_embedding"] = sinusoid_positions(audio.max_source_positions, audio.d_model)
    return original


def original_config_dict(model_or_config) -> dict:
    """The original config.json of a model (or of a `QwenAudioConfig`)."""
    config = getattr(model_or_config, "config", model_or_config)
    text, audio = config.text_config, config.audio_config
    return {
        "architectures": ["QWenLMHeadModel"],
        "auto_map": {
            "AutoConfig": "configuration_qwen.QWenConfig",
            "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel",
        },
        "model_type": "qwen",
        "attn_dropout_prob": 0.0,
        "emb_dropout_prob": 0.0,
        "bf16": False,
        "fp16": False,
        "fp32": False,
        "hidden_size": text.hidden_size,
        "intermediate_size": 2 * text.intermediate_size,
        "initializer_range": 0.02,
        "kv_channels": text.head_dim,
        "layer_norm_epsilon": text.rms_norm_eps,
        "max_position_embeddings": text.max_position_embeddings,
        "no_bias": True,
        "num_attention_heads": text.num_attention_heads,
        "num_hidden_layers": text.num_hidden_layers,
        "onnx_safe": None,
        "rotary_emb_base": text.rope_parameters["rope_theta"],
        "rotary_pct": 1.0,
        "scale_attn_weights": True,
        "seq_length": text.seq_length,
        "tie_word_embeddings": False,
        "tokenizer_type": "QWenTokenizer",
        "transformers_version": "4.31.0",
        "use_cache": True,
        "use_dynamic_ntk": text.use_dynamic_ntk,
        "use_logn_attn": text.use_logn_attn,
        "vocab_size": text.vocab_size,
        "audio": {
            "n_mels": audio.num_mel_bins,
            "n_ctx": audio.max_source_positions,
            "n_state": audio.d_model,
            "n_head": audio.encoder_attention_heads,
            "n_layer": audio.encoder_layers,
            "output_dim": text.hidden_size,
            "avg_pool": True,
            "add_audio_bos_eos_token": True,
            "audio_start_id": config.audio_start_token_id,
        },
    }


def write_original_shards(shards: list[dict[str, Callable[[], torch.Tensor]]], directory: str,
                          weights_format: str = "safetensors") -> int:
    """Write weight shards + their index; each shard maps original keys to functions making the tensors, called
    one shard at a time (so a full-size checkpoint never has more than one shard in memory). Returns the bytes."""
    os.makedirs(directory, exist_ok=True)
    stem, ext = ("model", "safetensors") if weights_format == "safetensors" else ("pytorch_model", "bin")
    weight_map, total_size = {}, 0
    for shard, makers in enumerate(shards):
        name = f"{stem}-{shard + 1:05d}-of-{len(shards):05d}.{ext}"
        part = {k: make().contiguous() for k, make in makers.items()}
        if ext == "safetensors":
            save_file(part, os.path.join(directory, name), metadata={"format": "pt"})
        else:
            torch.save(part, os.path.join(directory, name))
        weight_map.update({k: name for k in part})
        total_size += sum(v.numel() * v.element_size() for v in part.values())
        del part
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    with open(os.path.join(directory, f"{stem}.{ext}.index.json"), "w") as handle:
        json.dump(index, handle)
    return total_size


def write_original_files(config, directory: str, generation_config: dict | None = None) -> None:
    """Everything of a released checkpoint folder but the weights: config.json, generation_config.json,
    tokenizer_config.json, qwen.tiktoken, mel_filters.npz and the remote-code file names (traps: importing any
    of them raises)."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as handle:
        json.dump(original_config_dict(config), handle, indent=2)
    with open(os.path.join(directory, "generation_config.json"), "w") as handle:
        generation = {"chat_format": "raw", "eos_token_id": 151643, "pad_token_id": 151643, "max_new_tokens": 512}
        json.dump(generation_config or generation, handle)
    for name in RELEASED_REMOTE_CODE:
        with open(os.path.join(directory, name), "w") as handle:
            handle.write(REMOTE_CODE_TRAP)
    np.savez(os.path.join(directory, "mel_filters.npz"), mel_80=np.zeros((80, 201), dtype=np.float32))
    add_original_tokenizer_files(Path(directory))


def write_original_checkpoint(model, directory: str, weights_format: str = "safetensors", shards: int = 2) -> str:
    """Write `model` as an original hub checkpoint: sharded weights + index, config.json, remote-code leftovers."""
    state = to_original_state_dict(model)
    keys = sorted(state)
    write_original_shards([{k: state[k].clone for k in keys[s::shards]} for s in range(shards)], directory,
                          weights_format)
    write_original_files(model.config, directory)
    return directory


def released_and_converted_folders(root: Path, seed: int = 3) -> dict[str, str]:
    """{"original": a tiny model in the released layout (remote code as traps), "converted": the same weights
    after `qwen-audio-hf convert`} under root; the parametrization of the every-entry-point tests."""
    from qwen_audio_hf.modeling.conversion import convert_checkpoint

    from ..tiny_models import tiny_model

    original = write_original_checkpoint(tiny_model(seed=seed), str(root / "Qwen-Audio"))
    return {"original": original, "converted": convert_checkpoint(original, str(root / "converted"))}
