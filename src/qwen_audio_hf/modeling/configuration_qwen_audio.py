"""Configurations for Qwen-Audio: audio encoder, language model and the composite model."""

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig, Qwen2Config
from transformers.configuration_utils import SubConfigSpec

from ..core.token_ids import AUDIO_END_ID, AUDIO_PAD_ID, AUDIO_START_ID, ENDOFTEXT_ID, PADDED_VOCAB_SIZE


@strict
class QwenAudioEncoderConfig(PreTrainedConfig):
    """Whisper-style audio encoder (conv stem, sinusoid positions, pre-LN blocks, 2x average pooling, final LN).

    Defaults are those of the released Qwen-Audio audio tower (80 mels, 32 layers, d_model 1280, 20 heads).

    batch_invariant: each clip is encoded exactly as the original encodes it alone, whatever else is in the batch
    (default). False reproduces the original's batched encoder bit for bit, where a shorter clip's conv stem reads
    the mel frames of the batch past its own end (so its output depends on the longest clip of the batch, also
    between the audios of one prompt).
    """

    model_type = "qwen_audio_encoder"
    attribute_map = {
        "num_hidden_layers": "encoder_layers",
        "hidden_size": "d_model",
        "num_attention_heads": "encoder_attention_heads",
        "intermediate_size": "encoder_ffn_dim",
    }

    num_mel_bins: int = 80
    encoder_layers: int = 32
    encoder_attention_heads: int = 20
    encoder_ffn_dim: int | None = None
    d_model: int = 1280
    dropout: float | int = 0.0
    attention_dropout: float | int = 0.0
    activation_dropout: float | int = 0.0
    activation_function: str = "gelu"
    max_source_positions: int = 1500
    initializer_range: float = 0.02
    batch_invariant: bool = True

    def __post_init__(self, **kwargs):
        if self.encoder_ffn_dim is None:
            self.encoder_ffn_dim = 4 * self.d_model
        if self.d_model % self.encoder_attention_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by encoder_attention_heads "
                f"({self.encoder_attention_heads}); pick a head count that divides it."
            )
        if self.d_model % 2:
            raise ValueError(f"d_model ({self.d_model}) must be even for the sinusoid positions.")
        super().__post_init__(**kwargs)


@strict
class QwenAudioTextConfig(Qwen2Config):
    """Qwen2 decoder configuration plus the original Qwen(-7B) long-context switches.

    seq_length: the training context; dynamic NTK and log-n scaling start beyond it (eval mode only).
    use_dynamic_ntk: scale the rope base from the prefill length (see `modeling_qwen_audio_text`).
    use_logn_attn: multiply queries past `seq_length` by log(p) / log(seq_length).
    """

    model_type = "qwen_audio_text"

    vocab_size: int = PADDED_VOCAB_SIZE
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    max_position_embeddings: int = 8192
    rms_norm_eps: float = 1e-5
    seq_length: int = 2048
    use_dynamic_ntk: bool = True
    use_logn_attn: bool = True
    pad_token_id: int | None = ENDOFTEXT_ID  # <|endoftext|>: bos, eos and pad of the original release
    bos_token_id: int | None = ENDOFTEXT_ID
    eos_token_id: int | list[int] | None = ENDOFTEXT_ID

    def __post_init__(self, **kwargs):
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.seq_length < 2:
            raise ValueError(
                f"seq_length must be >= 2 (log-n scaling divides by log(seq_length)), got {self.seq_length}."
            )
        super().__post_init__(**kwargs)


def _build_text_config(text_config: Any) -> Any:
    """Build a text sub-config; our own type is built directly (no AutoConfig registration needed)."""
    if text_config is None or isinstance(text_config, PreTrainedConfig):
        return text_config if text_config is not None else QwenAudioTextConfig()
    if not isinstance(text_config, dict):
        raise TypeError(f"text_config must be a dict or a PreTrainedConfig, got {type(text_config).__name__}.")
    model_type = text_config.get("model_type", QwenAudioTextConfig.model_type)
    if model_type == QwenAudioTextConfig.model_type:
        return QwenAudioTextConfig(**{k: v for k, v in text_config.items() if k != "model_type"})
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return CONFIG_MAPPING[model_type](**{k: v for k, v in text_config.items() if k != "model_type"})


@strict
class QwenAudioConfig(PreTrainedConfig):
    """Composite Qwen-Audio configuration: `audio_config` (encoder) + `text_config` (decoder) + span token ids.

    `QwenAudioConfig.from_pretrained` also reads the ORIGINAL hub config.json (model_type "qwen" with an "audio"
    dict) and translates it, through the translator `original_checkpoint.py` registers in `layout_translators`.
    """

    # Readers of other config.json layouts: callables `dict -> native dict, or None when the dict is not theirs`.
    # Registered by the loaders that need them (the modeling package registers the original-layout one), so this
    # module imports no loader; without any (a Hub export's remote code) only native configs are read.
    layout_translators = []

    model_type = "qwen_audio"
    sub_configs_defaults = {
        "audio_config": SubConfigSpec(config_class=QwenAudioEncoderConfig),
        "text_config": SubConfigSpec(config_class=QwenAudioTextConfig),
    }

    audio_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    audio_token_id: int = AUDIO_PAD_ID  # fills an audio span between <audio> and </audio>
    audio_start_token_id: int = AUDIO_START_ID
    audio_end_token_id: int = AUDIO_END_ID
    tie_word_embeddings: bool | None = None

    def __post_init__(self, **kwargs):
        self.text_config = _build_text_config(self.text_config)
        if self.tie_word_embeddings is None:
            self.tie_word_embeddings = bool(getattr(self.text_config, "tie_word_embeddings", False))
        if isinstance(self.audio_config, dict):
            self.audio_config = QwenAudioEncoderConfig(
                **{k: v for k, v in self.audio_config.items() if k != "model_type"}
            )
        super().__post_init__(**kwargs)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        return cls._translate_if_original(config_dict), kwargs

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs):
        return super().from_dict(cls._translate_if_original(config_dict), **kwargs)

    @classmethod
    def _translate_if_original(cls, config_dict: dict[str, Any]) -> dict[str, Any]:
        for translate in QwenAudioConfig.layout_translators:
            translated = translate(config_dict)
            if translated is not None:
                return translated
        return config_dict


__all__ = ["QwenAudioConfig", "QwenAudioEncoderConfig", "QwenAudioTextConfig"]
