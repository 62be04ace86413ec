"""Config of a converted Qwen-Audio checkpoint as vLLM's own transformers (which predates ours) can read it.

vLLM pins an older transformers than the modeling package needs, so `QwenAudioConfig` cannot be imported
in vLLM's environment. This class reads the same config.json (model_type "qwen_audio") with only what every
transformers 5 release has: the text side becomes a stock `Qwen2Config` (vLLM's Qwen2 decoder runs it) that keeps
`seq_length`, `use_dynamic_ntk` and `use_logn_attn` as extra attributes; the audio side a plain config.
"""

from huggingface_hub.dataclasses import strict
from transformers import PretrainedConfig, Qwen2Config

from ..core.token_ids import AUDIO_END_ID, AUDIO_PAD_ID, AUDIO_START_ID, ENDOFTEXT_ID

MODEL_TYPE = "qwen_audio"
ARCHITECTURE = "QwenAudioForConditionalGeneration"

# Defaults of the released model, applied to keys a config.json leaves out (tests check they equal the
# modeling package's `QwenAudioTextConfig` / `QwenAudioEncoderConfig` defaults).
TEXT_DEFAULTS = {
    "vocab_size": 155947,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-5,
    "seq_length": 2048,
    "use_dynamic_ntk": True,
    "use_logn_attn": True,
    "pad_token_id": ENDOFTEXT_ID,
    "bos_token_id": ENDOFTEXT_ID,
    "eos_token_id": ENDOFTEXT_ID,
}
AUDIO_DEFAULTS = {
    "num_mel_bins": 80,
    "encoder_layers": 32,
    "encoder_attention_heads": 20,
    "d_model": 1280,
    "max_source_positions": 1500,
    "activation_function": "gelu",
}


def text_config_from_dict(text: dict) -> Qwen2Config:
    """The decoder config as a stock Qwen2Config (same weights and maths as our text model within seq_length)."""
    values = {**TEXT_DEFAULTS, **{k: v for k, v in text.items() if k not in ("model_type", "layer_types")}}
    if values.get("head_dim") is None:
        values["head_dim"] = values["hidden_size"] // values["num_attention_heads"]
    if values.get("num_key_value_heads") is None:
        values["num_key_value_heads"] = values["num_attention_heads"]
    return Qwen2Config(**values)


def audio_config_from_dict(audio: dict) -> PretrainedConfig:
    values = {**AUDIO_DEFAULTS, **{k: v for k, v in audio.items() if k != "model_type"}}
    if values.get("encoder_ffn_dim") is None:
        values["encoder_ffn_dim"] = 4 * values["d_model"]
    return PretrainedConfig(**values)


@strict
class QwenAudioServingConfig(PretrainedConfig):
    """`model_type` "qwen_audio" for vLLM: `text_config` (Qwen2Config) + `audio_config` + span token ids."""

    model_type = MODEL_TYPE
    sub_configs = {"text_config": Qwen2Config, "audio_config": PretrainedConfig}

    audio_config: dict | PretrainedConfig | None = None
    text_config: dict | PretrainedConfig | None = None
    audio_token_id: int = AUDIO_PAD_ID
    audio_start_token_id: int = AUDIO_START_ID
    audio_end_token_id: int = AUDIO_END_ID
    tie_word_embeddings: bool | None = None

    def __post_init__(self, **kwargs):
        if not isinstance(self.text_config, PretrainedConfig):
            self.text_config = text_config_from_dict(self.text_config or {})
        if not isinstance(self.audio_config, PretrainedConfig):
            self.audio_config = audio_config_from_dict(self.audio_config or {})
        if self.tie_word_embeddings is None:
            self.tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", False))
        super().__post_init__(**kwargs)

    def get_text_config(self, *args, **kwargs):
        return self.text_config


def check_max_model_len(max_model_len: int, text_config) -> None:
    """Refuse contexts past `seq_length` when the checkpoint relies on dynamic NTK + log-n there.

    vLLM itself already derives its maximum from `seq_length` (one of the keys it reads); this check also holds
    when that limit is overridden (VLLM_ALLOW_LONG_MAX_MODEL_LEN=1).

    Our transformers model reproduces the original's dynamic NTK rope and log-n query scaling beyond
    `seq_length`; vLLM's Qwen2 decoder has neither, so longer contexts would silently give other tokens.
    """
    seq_length = getattr(text_config, "seq_length", None)
    long_context = getattr(text_config, "use_dynamic_ntk", False) or getattr(text_config, "use_logn_attn", False)
    if seq_length and long_context and max_model_len > seq_length:
        raise ValueError(
            f"max_model_len={max_model_len} exceeds this checkpoint's seq_length={seq_length}. Beyond seq_length "
            "Qwen-Audio uses dynamic NTK rope scaling and log-n attention, which the vLLM plugin does not "
            f"reproduce; serve with --max-model-len {seq_length} (LLM(..., max_model_len={seq_length})) or use "
            "the transformers model (generate()) for longer prompts."
        )


__all__ = ["QwenAudioServingConfig", "check_max_model_len", "text_config_from_dict"]
