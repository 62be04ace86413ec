"""QLoRA on bitsandbytes' CPU backend: quantized layout per submodule, training through LoRA, adapter round trip,
and the guard against CPU-repacked 4-bit weights after generate()."""

from __future__ import annotations

import os
import sys

import pytest
import torch

bnb = pytest.importorskip("bitsandbytes")

from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration  # noqa: E402
from qwen_audio_hf.training import QwenAudioDataCollator, sft  # noqa: E402
from qwen_audio_hf.training.quantization import (  # noqa: E402
    UNQUANTIZED_MODULES,
    check_quantized_layout,
    load_quantized,
    module_types,
    quantization_config,
)
from qwen_audio_hf.training.recipes import apply_lora  # noqa: E402

from ..tiny_models import tiny_training_model  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
QUANTIZED_CLASS = {"4bit": "Linear4bit", "8bit": "Linear8bitLt"}
FAST = dict(per_device_train_batch_size=2, learning_rate=1e-3, warmup_steps=0, logging_steps=1,
            train_sampling_strategy="sequential", max_length=512, save_steps=10)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_bf16")
    tiny_training_model(seed=0).save_pretrained(str(path))
    return str(path)


def _lora_b_without_gradient(model):
    names = [name for name, param in model.named_parameters() if ".lora_B." in name]
    assert names
    return [name for name, param in model.named_parameters()
            if ".lora_B." in name and (param.grad is None or not param.grad.abs().sum() > 0)]


@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_only_the_language_model_is_quantized(tiny_dir, quantization):
    model = load_quantized(tiny_dir, quantization)
    types = module_types(model)
    assert types["model.language_model"] == {QUANTIZED_CLASS[quantization]}
    for part in UNQUANTIZED_MODULES:
        assert types[part] == {"Linear"}, part
        assert {p.dtype for p in model.get_submodule(part).parameters()} == {torch.bfloat16}, part
    assert model.model.language_model.embed_tokens.weight.dtype == torch.bfloat16


def test_bare_skip_names_would_quantize_the_audio_tower(tiny_dir):
    """Why the skip list carries full names: bare ones match nothing, and the layout check catches it."""
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, llm_int8_skip_modules=["audio_tower", "multi_modal_projector"])
    model = QwenAudioForConditionalGeneration.from_pretrained(tiny_dir, quantization_config=config,
                                                              dtype=torch.bfloat16)
    assert "Linear4bit" in module_types(model)["model.audio_tower"]
    assert "Linear4bit" in module_types(model)["lm_head"]  # an explicit list drops the default lm_head skip
    with pytest.raises(ValueError, match="model.audio_tower"):
        check_quantized_layout(model)
    assert quantization_config("4bit").llm_int8_skip_modules == list(UNQUANTIZED_MODULES)
    with pytest.raises(ValueError, match="4bit"):
        quantization_config("2bit")


@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_qlora_step_gives_every_lora_b_a_gradient_and_the_adapter_reloads(
        tiny_dir, quantization, processor, sft_data, tmp_path):
    model = load_quantized(tiny_dir, quantization)
    result = sft(model, processor, sft_data, str(tmp_path / "qlora"), max_steps=1, gradient_checkpointing=True,
                 **FAST)
    peft_model = result.model
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 1 and torch.isfinite(torch.tensor(losses[0]))
    trainable = [name for name, param in peft_model.named_parameters() if param.requires_grad]
    assert trainable and all(".lora_" in name and ".language_model." in name for name in trainable)

    # One more forward/backward by hand: every LoRA-B weight receives a gradient.
    batch = QwenAudioDataCollator(processor)([sft_data[0], sft_data[1]])
    peft_model.train()
    peft_model.zero_grad()
    loss = peft_model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert _lora_b_without_gradient(peft_model) == []

    # The saved adapter loads onto a freshly quantized base and gives the same logits.
    from peft import PeftModel

    assert os.path.isfile(tmp_path / "qlora" / "adapter_model.safetensors")
    reloaded = PeftModel.from_pretrained(load_quantized(tiny_dir, quantization), str(tmp_path / "qlora")).eval()
    batch.pop("labels")
    peft_model.eval()
    with torch.no_grad():
        expected, actual = peft_model(**batch).logits, reloaded(**batch).logits
    assert torch.allclose(expected.float(), actual.float(), atol=1e-2)
    with torch.no_grad():
        base = load_quantized(tiny_dir, quantization).eval()(**batch).logits
    assert not torch.allclose(base.float(), actual.float(), atol=1e-2)  # the adapter changed something


def test_generate_before_training_does_not_silently_zero_gradients(tiny_dir):
    """bitsandbytes repacks 4-bit weights for CPU inference (AVX512-BF16): the packed matmul has no backward. The
    recipes undo the packing (restore_cpu_4bit_weights) before training."""
    from qwen_audio_hf.training.quantization import prepare_for_kbit_training

    model = load_quantized(tiny_dir, "4bit").eval()
    ids = torch.randint(0, 1000, (2, 10))
    with torch.no_grad():
        model.generate(input_ids=ids, max_new_tokens=2, do_sample=False)
    packed = [m for m in model.modules()
              if isinstance(m, bnb.nn.Linear4bit) and getattr(m.weight.quant_state, "packing_format_for_cpu", False)]
    if not packed:
        pytest.skip("this CPU has no AVX512-BF16: bitsandbytes does not repack, nothing to guard against")

    model = apply_lora(prepare_for_kbit_training(model, gradient_checkpointing=False))
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    assert _lora_b_without_gradient(model) == []
    model.eval()
    with torch.no_grad():  # an evaluation step mid-training does not repack either
        model(input_ids=ids)
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False)
                   for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))


def test_kbit_preparation_keeps_bf16_unless_asked_to_upcast(tiny_dir):
    from qwen_audio_hf.training.quantization import prepare_for_kbit_training

    kept = prepare_for_kbit_training(load_quantized(tiny_dir, "4bit"))
    assert not any(p.requires_grad for p in kept.parameters())
    assert {p.dtype for p in kept.model.audio_tower.parameters()} == {torch.bfloat16}
    assert kept.lm_head.weight.dtype == torch.bfloat16
    upcast = prepare_for_kbit_training(load_quantized(tiny_dir, "4bit"), upcast_to_fp32=True)  # peft's own
    assert {p.dtype for p in upcast.model.audio_tower.parameters()} == {torch.float32}
    assert upcast.lm_head.weight.dtype == torch.float32
    with pytest.raises(ValueError, match="quantization_config"):
        prepare_for_kbit_training(tiny_training_model(seed=0))


def test_qlora_refuses_full_finetuning_and_merged_export(tiny_dir, processor, sft_data, tmp_path):
    with pytest.raises(ValueError, match="use_lora=True"):
        sft(load_quantized(tiny_dir, "4bit"), processor, sft_data, str(tmp_path / "a"), use_lora=False, **FAST)
    with pytest.raises(ValueError, match="unquantized base"):
        sft(load_quantized(tiny_dir, "4bit"), processor, sft_data, str(tmp_path / "b"),
            export_dir=str(tmp_path / "m"), **FAST)


def test_sft_example_quantization_flag(processor_dir, sft_jsonl, tmp_path):
    sys.path.insert(0, EXAMPLES)
    try:
        import sft_lora
    finally:
        sys.path.remove(EXAMPLES)
    result = sft_lora.main(["--tiny", "--processor", processor_dir, "--data", sft_jsonl, "--output-dir",
                            str(tmp_path / "out"), "--max-steps", "1", "--batch-size", "2", "--logging-steps", "1",
                            "--sequential", "--quantization", "4bit"])
    assert module_types(result.model)["model.language_model"] == {"Linear4bit"}
    assert os.path.isfile(tmp_path / "out" / "adapter_config.json")
