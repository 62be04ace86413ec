"""Loading the ORIGINAL hub layout (model_type "qwen", transformer.* keys, fused c_attn) without remote code."""

import json

import pytest
import torch
from safetensors import safe_open

from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration, QwenAudioModel
from qwen_audio_hf.modeling.original_checkpoint import original_weight_mapping

from .original_layout import write_original_checkpoint
from ..tiny_models import audio_features, prompt_ids, tiny_model


@pytest.fixture(scope="module")
def native():
    return tiny_model(seed=2)


@pytest.fixture(scope="module")
def original_dir(native, tmp_path_factory):
    return write_original_checkpoint(native, str(tmp_path_factory.mktemp("original")), "safetensors", shards=2)


def _inputs():
    ids = torch.tensor([prompt_ids(300, 5)])
    features, mask = audio_features(300, seed=4)
    return dict(input_ids=ids, attention_mask=torch.ones_like(ids), input_features=features[None],
                feature_attention_mask=mask[None])


def _assert_same_weights(model, reference):
    expected, actual = reference.state_dict(), model.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(actual[key].to(expected[key].dtype), expected[key]), key


def test_original_safetensors_shards_load_to_the_same_model(native, original_dir):
    loaded = QwenAudioForConditionalGeneration.from_pretrained(original_dir)
    assert loaded.config.model_type == "qwen_audio" and not loaded.training
    _assert_same_weights(loaded, native)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**_inputs()).logits, native(**_inputs()).logits, rtol=0, atol=0)


def test_original_bin_shards_load_with_weights_only(native, tmp_path, monkeypatch):
    directory = write_original_checkpoint(native, str(tmp_path / "bin"), "bin", shards=3)
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    loaded = QwenAudioForConditionalGeneration.from_pretrained(directory, use_safetensors=False)
    assert calls and all(flag is True for flag in calls)
    _assert_same_weights(loaded, native)


def test_base_model_loads_from_the_original_layout(native, original_dir):
    base = QwenAudioModel.from_pretrained(original_dir)
    _assert_same_weights(base, native.model)


def test_bf16_load_of_the_original_layout(native, original_dir):
    loaded = QwenAudioForConditionalGeneration.from_pretrained(original_dir, dtype=torch.bfloat16)
    assert loaded.dtype == torch.bfloat16
    assert torch.equal(loaded.lm_head.weight, native.lm_head.weight.to(torch.bfloat16))


def test_saving_after_an_original_load_writes_the_native_layout(native, original_dir, tmp_path):
    loaded = QwenAudioForConditionalGeneration.from_pretrained(original_dir)
    loaded.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "qwen_audio"
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    assert keys == set(native.state_dict().keys())
    _assert_same_weights(QwenAudioForConditionalGeneration.from_pretrained(tmp_path), native)


def test_mapping_uses_transformers_load_time_conversions():
    from transformers.core_model_loading import Chunk, WeightConverter, WeightRenaming

    mapping = original_weight_mapping()
    assert all(isinstance(t, (WeightRenaming, WeightConverter)) for t in mapping)
    converters = [t for t in mapping if isinstance(t, WeightConverter)]
    assert len(converters) == 1 and isinstance(converters[0].operations[0], Chunk)


def test_original_generation_config_is_expressed_natively(native, tmp_path):
    directory = write_original_checkpoint(native, str(tmp_path / "chat"), "safetensors", shards=1)
    chat_generation = {"chat_format": "chatml", "eos_token_id": 151643, "pad_token_id": 151643,
                       "max_window_size": 6144, "max_new_tokens": 512, "do_sample": True, "top_k": 0, "top_p": 0.5}
    (tmp_path / "chat" / "generation_config.json").write_text(json.dumps(chat_generation))
    loaded = QwenAudioForConditionalGeneration.from_pretrained(directory)
    assert loaded.generation_config.eos_token_id == [151645, 151644, 151643]
    assert not hasattr(loaded.generation_config, "chat_format")
    assert loaded.generation_config.top_p == 0.5
