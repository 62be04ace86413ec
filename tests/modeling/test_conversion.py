"""`qwen-audio-hf convert SRC DST`: original layout in, sharded native safetensors (+ processor) out."""

import json

import torch

from qwen_audio_hf.cli import main
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.processing import QwenAudioProcessor

from .original_layout import write_original_checkpoint
from ..tiny_models import tiny_model


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


def test_convert_carries_the_chat_window_into_the_processor(tmp_path):
    """Qwen-Audio-Chat's generation_config.json max_window_size (6144) becomes the processor's chat budget."""
    src = write_original_checkpoint(tiny_model(seed=5), str(tmp_path / "original"), "safetensors", shards=1)
    chat_generation = {"chat_format": "chatml", "eos_token_id": 151643, "pad_token_id": 151643,
                       "max_window_size": 6144, "max_new_tokens": 512}
    (tmp_path / "original" / "generation_config.json").write_text(json.dumps(chat_generation))
    assert QwenAudioProcessor.from_pretrained(src).max_window_size == 6144
    dst = tmp_path / "native"
    assert main(["convert", src, str(dst)]) == 0
    assert json.loads((dst / "processor_config.json").read_text())["max_window_size"] == 6144
    assert QwenAudioProcessor.from_pretrained(dst).max_window_size == 6144
    assert "max_window_size" not in json.loads((dst / "generation_config.json").read_text())


def test_convert_fails_loudly_when_the_processor_cannot_be_built(tmp_path):
    import pytest

    from qwen_audio_hf.modeling.conversion import convert_checkpoint

    src = write_original_checkpoint(tiny_model(seed=5), str(tmp_path / "original"), "safetensors", shards=1)
    (tmp_path / "original" / "qwen.tiktoken").write_text("not a rank file\n")
    dst = tmp_path / "native"
    with pytest.raises(ValueError, match="--no-processor"):
        convert_checkpoint(src, str(dst))
    assert not dst.exists()  # nothing half-written
    convert_checkpoint(src, str(dst), save_processor=False)
    assert (dst / "config.json").exists() and not (dst / "processor_config.json").exists()
