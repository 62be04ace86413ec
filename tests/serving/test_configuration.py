"""The serving config reads converted checkpoints like QwenAudioConfig does (runs in the main environment)."""

import dataclasses

import pytest

from qwen_audio_hf.modeling import QwenAudioEncoderConfig, QwenAudioTextConfig
from qwen_audio_hf.serving.configuration import (
    AUDIO_DEFAULTS,
    TEXT_DEFAULTS,
    QwenAudioServingConfig,
    check_max_model_len,
)

from ..modeling.tiny_models import tiny_config


def _default(config_class, name):
    return {field.name: field.default for field in dataclasses.fields(config_class)}[name]


def test_defaults_match_the_modeling_configs():
    for name, value in TEXT_DEFAULTS.items():
        assert _default(QwenAudioTextConfig, name) == value, name
    for name, value in AUDIO_DEFAULTS.items():
        assert _default(QwenAudioEncoderConfig, name) == value, name


def test_saved_config_reads_as_qwen2_text_and_audio(tmp_path):
    config = tiny_config(seq_length=256, max_position_embeddings=1024)
    config.save_pretrained(tmp_path)
    served = QwenAudioServingConfig.from_pretrained(tmp_path)
    text, native = served.text_config, config.text_config
    assert type(text).__name__ == "Qwen2Config"
    for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                 "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_parameters", "seq_length"):
        assert getattr(text, name) == getattr(native, name), name
    assert text.max_position_embeddings == 1024  # vLLM takes the smaller of this and seq_length as its maximum
    for name in ("d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins"):
        assert getattr(served.audio_config, name) == getattr(config.audio_config, name), name
    assert (served.audio_start_token_id, served.audio_end_token_id, served.audio_token_id) == (
        config.audio_start_token_id, config.audio_end_token_id, config.audio_token_id)


def test_max_model_len_beyond_seq_length_is_refused():
    text = QwenAudioServingConfig(text_config={"seq_length": 256}).text_config
    check_max_model_len(256, text)
    with pytest.raises(ValueError, match="--max-model-len 256"):
        check_max_model_len(257, text)
    plain = QwenAudioServingConfig(
        text_config={"seq_length": 256, "use_dynamic_ntk": False, "use_logn_attn": False}
    ).text_config
    check_max_model_len(4096, plain)  # nothing to reproduce beyond seq_length: allowed
