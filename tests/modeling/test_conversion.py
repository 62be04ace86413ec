"""`qwen-audio-hf convert SRC DST`: original layout in, sharded native safetensors (+ processor) out."""

import json

import torch

from qwen_audio_hf.cli import main
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.processing import QwenAudioProcessor

from .original_layout import write_original_checkpoint
from .tiny_models import tiny_model


def test_convert_cli_round_trip(tmp_path):
    native = tiny_model(seed=5)
    src = write_original_checkpoint(native, str(tmp_path / "original"), "safetensors", shards=1)
    dst = tmp_path / "native"
    assert main(["convert", src, str(dst), "--max-shard-size", "30MB"]) == 0

    index = json.loads((dst / "model.safetensors.index.json").read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all((dst / name).exists() for name in shards)
    assert set(index["weight_map"]) == set(native.state_dict())
    assert json.loads((dst / "config.json").read_text())["model_type"] == "qwen_audio"

    converted = QwenAudioForConditionalGeneration.from_pretrained(dst)
    for key, value in native.state_dict().items():
        assert torch.equal(converted.state_dict()[key], value), key

    processor = QwenAudioProcessor.from_pretrained(dst)
    assert processor.tokenizer.convert_tokens_to_ids("<audio>") == 155163


def test_convert_refuses_writing_into_its_source(tmp_path):
    import pytest

    from qwen_audio_hf.modeling.conversion import convert_checkpoint

    with pytest.raises(ValueError, match="source directory"):
        convert_checkpoint(str(tmp_path), str(tmp_path))
