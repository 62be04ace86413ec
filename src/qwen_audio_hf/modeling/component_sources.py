"""Read the parts `from_components` assembles, tensor by tensor, without building their models.

Each reader returns a config plus a *stream* of `(name, tensor)` pairs in the names of the part of QwenAudio they
fill (audio tower, or language model with `lm_head.weight`). Checkpoint files are read one tensor at a time
(safetensors) or memory-mapped (`.bin` / openai-whisper `.pt`), so no reader holds a second copy of a model, and
only the tensors that are needed are read: a Whisper checkpoint's decoder is never loaded.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .configuration_qwen_audio import QwenAudioEncoderConfig, QwenAudioTextConfig

TensorStream = Iterator[tuple[str, torch.Tensor]]

_OPENAI_BLOCK_RENAMES = (
    (r"^blocks\.(\d+)\.attn\.query\.", r"layers.\1.self_attn.q_proj."),
    (r"^blocks\.(\d+)\.attn\.key\.", r"layers.\1.self_attn.k_proj."),
    (r"^blocks\.(\d+)\.attn\.value\.", r"layers.\1.self_attn.v_proj."),
    (r"^blocks\.(\d+)\.attn\.out\.", r"layers.\1.self_attn.out_proj."),
    (r"^blocks\.(\d+)\.attn_ln\.", r"layers.\1.self_attn_layer_norm."),
    (r"^blocks\.(\d+)\.mlp\.0\.", r"layers.\1.fc1."),
    (r"^blocks\.(\d+)\.mlp\.2\.", r"layers.\1.fc2."),
    (r"^blocks\.(\d+)\.mlp_ln\.", r"layers.\1.final_layer_norm."),
    (r"^ln_post\.", r"layer_norm."),
    (r"^positional_embedding$", r"embed_positions.weight"),
)


def checkpoint_tensors(path: str, keep: Callable[[str], bool]) -> TensorStream:
    """(key, tensor) of every tensor of a checkpoint directory with keep(key), one at a time.

    safetensors files are read tensor by tensor; pytorch `.bin` shards are memory-mapped."""
    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    if files:
        from safetensors import safe_open

        for name in files:
            with safe_open(os.path.join(path, name), framework="pt") as handle:
                for key in handle.keys():
                    if keep(key):
                        yield key, handle.get_tensor(key)
        return
    files = sorted(f for f in os.listdir(path) if f.endswith(".bin"))
    if not files:
        raise ValueError(f"{path} has no *.safetensors or *.bin weight files.")
    for name in files:
        state = torch.load(os.path.join(path, name), map_location="cpu", weights_only=True, mmap=True)
        for key in [k for k in state if keep(k)]:
            yield key, state.pop(key)


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def dtype_of_config(config_dict: dict) -> torch.dtype | None:
    """The dtype a checkpoint's config.json declares (`dtype` / `torch_dtype`), if any."""
    name = config_dict.get("dtype") or config_dict.get("torch_dtype")
    if isinstance(name, str) and isinstance(getattr(torch, name.replace("torch.", ""), None), torch.dtype):
        return getattr(torch, name.replace("torch.", ""))
    return None


# ------------------------------------------------------------------------------------------- audio encoder
def _encoder_config_from_whisper(config: Any) -> QwenAudioEncoderConfig:
    if getattr(config, "model_type", None) != "whisper":
        raise TypeError(f"audio_encoder must be a Whisper model, got model_type {getattr(config, 'model_type', None)!r}.")
    return QwenAudioEncoderConfig(
        num_mel_bins=config.num_mel_bins,
        max_source_positions=config.max_source_positions,
        d_model=config.d_model,
        encoder_attention_heads=config.encoder_attention_heads,
        encoder_layers=config.encoder_layers,
        encoder_ffn_dim=config.encoder_ffn_dim,
        activation_function=config.activation_function,
    )


def _openai_encoder(path: str) -> tuple[QwenAudioEncoderConfig, TensorStream, None]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ValueError(f"{path} is not an openai-whisper checkpoint (expected a dict with 'dims' and 'model_state_dict').")
    dims, weights = checkpoint["dims"], checkpoint["model_state_dict"]
    ffn_weight = weights.get("encoder.blocks.0.mlp.0.weight")
    config = QwenAudioEncoderConfig(
        num_mel_bins=dims["n_mels"],
        max_source_positions=dims["n_audio_ctx"],
        d_model=dims["n_audio_state"],
        encoder_attention_heads=dims["n_audio_head"],
        encoder_layers=dims["n_audio_layer"],
        encoder_ffn_dim=ffn_weight.shape[0] if ffn_weight is not None else 4 * dims["n_audio_state"],
    )

    def stream() -> TensorStream:
        for key, value in weights.items():
            if key.startswith("encoder."):
                key = key[len("encoder.") :]
                for pattern, replacement in _OPENAI_BLOCK_RENAMES:
                    key = re.sub(pattern, replacement, key)
                yield key, value

    return config, stream(), None


def _whisper_directory_encoder(path: str) -> tuple[QwenAudioEncoderConfig, TensorStream, torch.dtype | None]:
    from transformers import WhisperConfig

    config = _encoder_config_from_whisper(WhisperConfig.from_pretrained(path))
    prefixes = ("model.encoder.", "encoder.")

    def stream() -> TensorStream:
        for key, value in checkpoint_tensors(path, lambda k: k.startswith(prefixes)):
            prefix = next(p for p in prefixes if key.startswith(p))
            yield key[len(prefix) :], value

    return config, stream(), dtype_of_config(read_json(os.path.join(path, "config.json")))


def audio_encoder_source(audio_encoder: Any) -> tuple[QwenAudioEncoderConfig, TensorStream, torch.dtype | None]:
    """(encoder config, audio-tower tensors, stored dtype or None) of a Whisper directory, .pt file or model."""
    if isinstance(audio_encoder, (str, os.PathLike)):
        path = os.fspath(audio_encoder)
        if os.path.isfile(path):
            return _openai_encoder(path)
        if os.path.isfile(os.path.join(path, "config.json")):
            return _whisper_directory_encoder(path)
        raise ValueError(
            f"audio_encoder {path!r} is neither an openai-whisper .pt file nor a transformers Whisper directory "
            "(no config.json)."
        )
    if isinstance(audio_encoder, torch.nn.Module) and hasattr(audio_encoder, "config"):
        config = _encoder_config_from_whisper(audio_encoder.config)
        encoder = audio_encoder.get_encoder() if hasattr(audio_encoder, "get_encoder") else audio_encoder
        return config, ((k, v.detach()) for k, v in encoder.state_dict().items()), None
    raise TypeError(
        f"audio_encoder must be a path (Whisper directory or openai-whisper .pt) or a Whisper model, "
        f"got {type(audio_encoder).__name__}."
    )


# ------------------------------------------------------------------------------------------- language model
def is_original_qwen_dir(path: str) -> bool:
    config_path = os.path.join(path, "config.json")
    return os.path.isfile(config_path) and read_json(config_path).get("model_type") == "qwen"


def _original_qwen(path: str) -> tuple[QwenAudioTextConfig, TensorStream, torch.dtype | None]:
    """An original Qwen(-7B) directory, translated with `original_checkpoint`'s config and key renames."""
    from .original_checkpoint import FUSED_QKV_SOURCE, ORIGINAL_KEY_RENAMES, SPLIT_QKV_TARGETS, translate_original_config

    config_dict = read_json(os.path.join(path, "config.json"))
    hidden = config_dict.get("hidden_size", 4096)
    # The translation reads the text settings only; a stand-in audio dict satisfies its audio checks.
    stand_in_audio = {"n_state": 8, "n_head": 1, "n_layer": 1, "output_dim": hidden}
    text_dict = translate_original_config({**config_dict, "audio": stand_in_audio})["text_config"]
    text_config = QwenAudioTextConfig(**{k: v for k, v in text_dict.items() if k != "model_type"})
    prefix = "model.language_model."

    def stream() -> TensorStream:
        for key, value in checkpoint_tensors(path, lambda k: not k.startswith("transformer.audio.")):
            for pattern, replacement in ORIGINAL_KEY_RENAMES:
                key = re.sub(pattern, replacement, key)
            if key == "lm_head.weight":
                yield key, value
            elif key.startswith(prefix) and FUSED_QKV_SOURCE in key:
                for target, chunk in zip(SPLIT_QKV_TARGETS, value.chunk(3, dim=0)):
                    yield key[len(prefix) :].replace(FUSED_QKV_SOURCE, target), chunk
            elif key.startswith(prefix):
                yield key[len(prefix) :], value
            else:
                yield key, value  # reported as unexpected by the assembly

    return text_config, stream(), dtype_of_config(config_dict)


def _transformers_causal_lm(path: str) -> tuple[Any, TensorStream, torch.dtype | None]:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    try:
        prefix = AutoModelForCausalLM._model_mapping[type(config)].base_model_prefix + "."
    except KeyError as error:
        raise ValueError(f"{path} is not a causal language model transformers knows ({type(config).__name__}).") from error

    def stream() -> TensorStream:
        for key, value in checkpoint_tensors(path, lambda k: True):
            yield (key[len(prefix) :] if key.startswith(prefix) else key), value

    return config.get_text_config(), stream(), dtype_of_config(read_json(os.path.join(path, "config.json")))


def language_model_source(language_model: Any) -> tuple[Any, TensorStream, torch.dtype | None, Any]:
    """(text config, decoder tensors + `lm_head.weight`, stored dtype or None, tokenizer or None)."""
    from transformers import AutoTokenizer, PreTrainedModel

    if isinstance(language_model, (str, os.PathLike)):
        path = os.fspath(language_model)
        if not os.path.isdir(path):
            raise ValueError(f"language_model {path!r} is not a directory (expected a Qwen or transformers checkpoint).")
        if is_original_qwen_dir(path):
            return (*_original_qwen(path), None)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError, TypeError):
            tokenizer = None
        return (*_transformers_causal_lm(path), tokenizer)
    if not isinstance(language_model, PreTrainedModel) or language_model.get_output_embeddings() is None:
        raise TypeError(
            f"language_model must be a causal-LM directory or model with an LM head, got {type(language_model).__name__}."
        )
    config = language_model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    decoder = language_model.get_decoder()
    head = language_model.get_output_embeddings().weight.detach()
    stream = ((k, v.detach()) for k, v in decoder.state_dict().items())
    dtype = next(decoder.parameters()).dtype
    return text_config, _chain(stream, [("lm_head.weight", head)]), dtype, None


def _chain(*streams) -> TensorStream:
    for stream in streams:
        yield from stream


__all__ = ["audio_encoder_source", "checkpoint_tensors", "is_original_qwen_dir", "language_model_source"]
