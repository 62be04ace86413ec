"""Read ORIGINAL Qwen-Audio hub checkpoints (Qwen/Qwen-Audio, Qwen/Qwen-Audio-Chat) without remote code.

The original layout is detected from its config.json (model_type "qwen" with an "audio" dict). The config is
translated to `QwenAudioConfig`; the weights are translated while they load, by transformers' own load-time
conversion machinery (`WeightRenaming` for renames, `WeightConverter` + `Chunk` to split the fused c_attn into
q/k/v). Why the two hooks instead of `register_checkpoint_conversion_mapping`: a mapping registered for our
model type would also be applied IN REVERSE by `save_pretrained`, so every save would write the original layout.
We only want the translation when the checkpoint being read is an original one, so `from_pretrained` detects
the layout and `_load_pretrained_model` adds the mapping to that one load (then clears it, so saving writes the
native layout). `.bin` shards go through transformers' loader, which reads them with `weights_only=True`.

The model and config modules do not import this one: `register(config_class, model_class)` (called when
qwen_audio_hf.modeling is imported) plugs the reader into `QwenAudioConfig.layout_translators` and
`QwenAudioPreTrainedModel.checkpoint_layout_reader`. A Hub export ships without this module and reads native
checkpoints only.
"""

import contextlib
import contextvars
import dataclasses
from typing import Any

from transformers import PretrainedConfig
from transformers.core_model_loading import Chunk, WeightConverter, WeightRenaming

from ..core.original_config import ORIGINAL_MODEL_TYPE, is_original_config
from ..core.original_keys import FUSED_QKV_SOURCE, ORIGINAL_KEY_RENAMES
from ..core.token_ids import AUDIO_PAD_ID, AUDIO_START_ID, CHAT_STOP_TOKEN_IDS, ENDOFTEXT_ID, PADDED_VOCAB_SIZE
from .configuration_qwen_audio import QwenAudioConfig

# Set while `from_pretrained` reads an original-layout checkpoint.
_LOADING_ORIGINAL_LAYOUT = contextvars.ContextVar("qwen_audio_loading_original_layout", default=False)

SPLIT_QKV_TARGETS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"]


def original_weight_mapping() -> list:
    """The load-time transforms from original keys to native keys."""
    transforms: list = [WeightRenaming(source, target) for source, target in ORIGINAL_KEY_RENAMES]
    transforms.append(WeightConverter(FUSED_QKV_SOURCE, list(SPLIT_QKV_TARGETS), operations=[Chunk(dim=0)]))
    return transforms


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"unsupported original Qwen-Audio config: {message}")


def translate_original_config(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Original config.json dict -> `QwenAudioConfig` dict (see SPEC "Config mapping")."""
    audio = config_dict["audio"]
    hidden_size = config_dict.get("hidden_size", 4096)
    num_heads = config_dict.get("num_attention_heads", 32)
    head_dim = config_dict.get("kv_channels", hidden_size // num_heads)
    _require(audio.get("output_dim", hidden_size) == hidden_size, "audio output_dim must equal hidden_size")
    _require(audio.get("avg_pool", True), "audio avg_pool=false")
    _require(audio.get("add_audio_bos_eos_token", True), "add_audio_bos_eos_token=false")
    _require(config_dict.get("rotary_pct", 1.0) == 1.0, "rotary_pct != 1 (partial rotary)")
    _require(config_dict.get("no_bias", True), "no_bias=false (biased MLP / output projection)")
    _require(head_dim * num_heads == hidden_size, "kv_channels * num_attention_heads != hidden_size")
    start_id = audio.get("audio_start_id", AUDIO_START_ID)
    d_model = audio["n_state"]
    text_config = {
        "model_type": "qwen_audio_text",
        "vocab_size": config_dict.get("vocab_size", PADDED_VOCAB_SIZE),
        "hidden_size": hidden_size,
        "intermediate_size": config_dict.get("intermediate_size", 22016) // 2,
        "num_hidden_layers": config_dict.get("num_hidden_layers", 32),
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_heads,
        "head_dim": head_dim,
        "rms_norm_eps": config_dict.get("layer_norm_epsilon", 1e-6),
        "rope_parameters": {"rope_type": "default", "rope_theta": float(config_dict.get("rotary_emb_base", 10000))},
        "max_position_embeddings": config_dict.get("max_position_embeddings", 8192),
        "seq_length": config_dict.get("seq_length", 2048),
        "use_dynamic_ntk": bool(config_dict.get("use_dynamic_ntk", True)),
        "use_logn_attn": bool(config_dict.get("use_logn_attn", True)),
        "initializer_range": config_dict.get("initializer_range", 0.02),
        "attention_dropout": config_dict.get("attn_dropout_prob", 0.0),
        "tie_word_embeddings": bool(config_dict.get("tie_word_embeddings", False)),
        "use_cache": bool(config_dict.get("use_cache", True)),
        "bos_token_id": ENDOFTEXT_ID,
        "eos_token_id": ENDOFTEXT_ID,
        "pad_token_id": ENDOFTEXT_ID,
    }
    audio_config = {
        "model_type": "qwen_audio_encoder",
        "num_mel_bins": audio.get("n_mels", 80),
        "max_source_positions": audio.get("n_ctx", 1500),
        "d_model": d_model,
        "encoder_attention_heads": audio["n_head"],
        "encoder_layers": audio["n_layer"],
        "encoder_ffn_dim": 4 * d_model,
        "initializer_range": config_dict.get("initializer_range", 0.02),
    }
    native = {
        "model_type": "qwen_audio",
        "architectures": ["QwenAudioForConditionalGeneration"],
        "audio_config": audio_config,
        "text_config": text_config,
        "audio_token_id": AUDIO_PAD_ID,
        "audio_start_token_id": start_id,
        "audio_end_token_id": start_id + 1,
        "tie_word_embeddings": text_config["tie_word_embeddings"],
    }
    for key in ("bf16", "fp16"):
        if config_dict.get(key):
            native["dtype"] = "bfloat16" if key == "bf16" else "float16"
    return native


def describe_unsupported_qwen(config_dict: dict[str, Any]) -> str:
    """The error for a model_type "qwen" config.json that is not Qwen-Audio (Qwen-7B/-14B, Qwen-VL, ...)."""
    kind = "Qwen-VL (a \"visual\" section)" if isinstance(config_dict.get("visual"), dict) else "a Qwen text model"
    return (
        f"this folder is {kind}: its config.json has model_type \"qwen\" but no \"audio\" section, so it is not "
        "Qwen-Audio. qwen_audio_hf reads only Qwen-Audio / Qwen-Audio-Chat checkpoints (original layout: "
        "model_type \"qwen\" with an \"audio\" section, or converted: model_type \"qwen_audio\"). Load other "
        "Qwen models with their own code (trust_remote_code=True) or with transformers' Qwen2 classes."
    )


_DOWNLOAD_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")


def read_raw_config_dict(pretrained_model_name_or_path, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """config.json of a local directory or hub repo as a plain dict (None if there is none)."""
    download_kwargs = {key: kwargs[key] for key in _DOWNLOAD_KWARGS if key in kwargs}
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **download_kwargs)
    except (OSError, ValueError):
        return None
    return config_dict


@contextlib.contextmanager
def original_layout_loading(pretrained_model_name_or_path, kwargs: dict[str, Any]):
    """Around `from_pretrained`: if the checkpoint is original, supply the translated config and flag the load.

    Yields (kwargs for from_pretrained, function to call on the loaded model)."""
    config_dict = None
    if pretrained_model_name_or_path is not None and kwargs.get("gguf_file") is None:
        config_dict = read_raw_config_dict(pretrained_model_name_or_path, kwargs)
    if config_dict is None or not is_original_config(config_dict):
        yield kwargs, lambda model: None
        return
    kwargs = dict(kwargs)
    if kwargs.get("config") is None:
        kwargs["config"] = QwenAudioConfig.from_dict(translate_original_config(config_dict))
        kwargs["config"].name_or_path = str(pretrained_model_name_or_path)
    token = _LOADING_ORIGINAL_LAYOUT.set(True)
    try:
        yield kwargs, adapt_original_generation_config
    finally:
        _LOADING_ORIGINAL_LAYOUT.reset(token)


_ORIGINAL_ONLY_GENERATION_KEYS = ("chat_format", "stop_words_ids", "max_window_size")


def adapt_original_generation_config(model) -> None:
    """Express the original generation_config.json in native terms.

    The original stopped ChatML generation on <|im_end|>/<|im_start|> through its own `stop_words_ids` logic,
    which transformers does not read; here those become eos ids. Original-only keys are dropped.
    """
    generation_config = getattr(model, "generation_config", None)
    if generation_config is None:
        return
    if getattr(generation_config, "chat_format", None) == "chatml":
        generation_config.eos_token_id = list(CHAT_STOP_TOKEN_IDS)
    for key in _ORIGINAL_ONLY_GENERATION_KEYS:
        if hasattr(generation_config, key):
            delattr(generation_config, key)


@contextlib.contextmanager
def with_original_weight_mapping(model, load_config):
    """Around `_load_pretrained_model`: add the original->native transforms when an original checkpoint loads."""
    if not _LOADING_ORIGINAL_LAYOUT.get():
        yield load_config
        return
    mapping = original_weight_mapping() + list(load_config.weight_mapping or [])
    yield dataclasses.replace(load_config, weight_mapping=mapping)
    # The model now holds native weights: never reverse the translation when it is saved.
    model._weight_conversions = []


def describe_unsupported_qwen(path, config_dict: dict[str, Any]) -> str:
    """The error for a model_type "qwen" config.json that is not Qwen-Audio (Qwen-7B/-14B, Qwen-VL, ...)."""
    kind = "a Qwen-VL checkpoint (it has a \"visual\" section)" if isinstance(config_dict.get("visual"), dict) else (
        "a Qwen text model (Qwen-7B/-14B/-72B family)")
    return (
        f"{path or 'this folder'!s} is {kind}: its config.json has model_type \"qwen\" but no \"audio\" section, so it is not "
        "Qwen-Audio. qwen_audio_hf reads Qwen-Audio and Qwen-Audio-Chat checkpoints only (the released layout: "
        "model_type \"qwen\" with an \"audio\" section, or converted: model_type \"qwen_audio\"). To run this "
        "model with its own remote code, pass trust_remote_code=True."
    )


def translate_if_original(config_dict: dict[str, Any]) -> dict[str, Any] | None:
    """The native dict for an original config.json, None for any other (the `layout_translators` protocol); a
    model_type "qwen" config without an "audio" section (Qwen-7B, Qwen-VL) is an error naming what it is."""
    if config_dict.get("model_type") == ORIGINAL_MODEL_TYPE and not is_original_config(config_dict):
        raise ValueError(describe_unsupported_qwen(config_dict.get("_name_or_path"), config_dict))
    return translate_original_config(config_dict) if is_original_config(config_dict) else None


class OriginalLayoutReader:
    """The `QwenAudioPreTrainedModel.checkpoint_layout_reader` for ORIGINAL hub checkpoints."""

    loading = staticmethod(original_layout_loading)
    weight_mapping = staticmethod(with_original_weight_mapping)


def register(config_class, model_class) -> None:
    """Let `config_class` (QwenAudioConfig) and `model_class` (QwenAudioPreTrainedModel, with its subclasses) read
    original hub checkpoints (idempotent)."""
    if translate_if_original not in config_class.layout_translators:
        config_class.layout_translators.append(translate_if_original)
    model_class.checkpoint_layout_reader = OriginalLayoutReader


__all__ = [
    "OriginalLayoutReader",
    "describe_unsupported_qwen",
    "register",
    "is_original_config",
    "original_layout_loading",
    "original_weight_mapping",
    "translate_original_config",
    "with_original_weight_mapping",
]
