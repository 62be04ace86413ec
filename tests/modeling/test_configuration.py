"""Configuration classes: defaults, sub-config building, Auto registration, original config translation."""

import json

import pytest
from transformers import AutoConfig, Qwen2Config

from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioEncoderConfig, QwenAudioTextConfig
from qwen_audio_hf.modeling.original_checkpoint import translate_original_config

ORIGINAL_RELEASE_CONFIG = {
    "model_type": "qwen",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "kv_channels": 128,
    "intermediate_size": 22016,
    "layer_norm_epsilon": 1e-05,
    "rotary_emb_base": 10000,
    "seq_length": 2048,
    "max_position_embeddings": 8192,
    "use_dynamic_ntk": True,
    "use_logn_attn": True,
    "vocab_size": 155947,
    "tie_word_embeddings": False,
    "no_bias": True,
    "rotary_pct": 1.0,
    "audio": {
        "n_mels": 80, "n_ctx": 1500, "n_state": 1280, "n_head": 20, "n_layer": 32, "output_dim": 4096,
        "avg_pool": True, "add_audio_bos_eos_token": True, "audio_start_id": 155163,
    },
}


def test_defaults_match_the_release():
    config = QwenAudioConfig()
    assert isinstance(config.text_config, QwenAudioTextConfig)
    assert isinstance(config.audio_config, QwenAudioEncoderConfig)
    assert (config.audio_token_id, config.audio_start_token_id, config.audio_end_token_id) == (151851, 155163, 155164)
    assert config.text_config.vocab_size == 155947
    assert config.audio_config.encoder_ffn_dim == 4 * config.audio_config.d_model
    assert config.tie_word_embeddings is False


def test_text_config_is_a_qwen2_config_with_long_context_fields():
    text = QwenAudioTextConfig(hidden_size=64, num_attention_heads=4, seq_length=16, use_dynamic_ntk=False)
    assert isinstance(text, Qwen2Config)
    assert text.head_dim == 16 and text.num_key_value_heads == 4
    assert text.seq_length == 16 and text.use_dynamic_ntk is False and text.use_logn_attn is True


def test_sub_configs_from_dicts_and_round_trip(tmp_path):
    config = QwenAudioConfig(audio_config={"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 4},
                             text_config={"hidden_size": 64, "num_attention_heads": 4, "seq_length": 32})
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "qwen_audio"
    assert saved["text_config"]["model_type"] == "qwen_audio_text"
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, QwenAudioConfig)
    assert loaded.text_config.seq_length == 32 and loaded.audio_config.d_model == 32


def test_foreign_text_config_goes_through_config_mapping():
    config = QwenAudioConfig(text_config={"model_type": "qwen2", "hidden_size": 64, "num_attention_heads": 4})
    assert type(config.text_config) is Qwen2Config


def test_auto_config_knows_all_three_model_types():
    for model_type, cls in [("qwen_audio", QwenAudioConfig), ("qwen_audio_encoder", QwenAudioEncoderConfig),
                            ("qwen_audio_text", QwenAudioTextConfig)]:
        assert isinstance(AutoConfig.for_model(model_type), cls)


def test_translate_original_release_config():
    native = translate_original_config(ORIGINAL_RELEASE_CONFIG)
    config = QwenAudioConfig.from_dict(native)
    text, audio = config.text_config, config.audio_config
    assert text.intermediate_size == 11008 and text.head_dim == 128 and text.num_key_value_heads == 32
    assert text.rms_norm_eps == 1e-5 and text.rope_parameters["rope_theta"] == 10000
    assert text.seq_length == 2048 and text.use_dynamic_ntk and text.use_logn_attn
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == (151643, 151643, 151643)
    assert (audio.num_mel_bins, audio.max_source_positions, audio.d_model) == (80, 1500, 1280)
    assert (audio.encoder_attention_heads, audio.encoder_layers, audio.encoder_ffn_dim) == (20, 32, 5120)
    assert (config.audio_start_token_id, config.audio_end_token_id, config.audio_token_id) == (155163, 155164, 151851)


def test_config_from_pretrained_reads_original_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(ORIGINAL_RELEASE_CONFIG))
    config = QwenAudioConfig.from_pretrained(tmp_path)
    assert config.model_type == "qwen_audio" and config.text_config.intermediate_size == 11008


@pytest.mark.parametrize(
    "change, message",
    [({"rotary_pct": 0.5}, "rotary_pct"), ({"no_bias": False}, "no_bias"),
     ({"audio": {**ORIGINAL_RELEASE_CONFIG["audio"], "output_dim": 8}}, "output_dim")],
)
def test_unsupported_original_configs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        translate_original_config({**ORIGINAL_RELEASE_CONFIG, **change})


def test_bad_values_raise_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        QwenAudioEncoderConfig(d_model=30, encoder_attention_heads=4)
    with pytest.raises(Exception, match="text_config"):  # strict dataclass validation error
        QwenAudioConfig(text_config=[1, 2])
