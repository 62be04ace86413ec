"""Recipes: freeze policies, LoRA targets, Trainer runs (loss curve, resume, merge export), example scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.training import (
    QwenAudioDataCollator,
    apply_lora,
    export_merged,
    freeze_for_pretraining,
    freeze_for_sft,
    pretrain,
    sft,
    training_arguments,
)

from ..tiny_models import tiny_training_model

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
FAST = dict(per_device_train_batch_size=2, learning_rate=1e-3, warmup_steps=0, logging_steps=1,
            train_sampling_strategy="sequential", max_length=512)
AUDIO_SIDE = ("model.audio_tower.", "model.multi_modal_projector.")


def _snapshot(model):
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def _changed(before, model):
    return {name for name, param in model.named_parameters() if not torch.equal(before[name], param.detach().cpu())}


def test_freeze_policies(tiny_model):
    counts = freeze_for_pretraining(tiny_model)
    trainable = {name for name, param in tiny_model.named_parameters() if param.requires_grad}
    assert trainable and all(name.startswith(AUDIO_SIDE) for name in trainable)
    assert any("audio_bos_eos" in name for name in trainable)
    assert counts["trainable"] == sum(p.numel() for n, p in tiny_model.named_parameters() if n.startswith(AUDIO_SIDE))

    freeze_for_sft(tiny_model)
    trainable = {name for name, param in tiny_model.named_parameters() if param.requires_grad}
    assert trainable and not any(name.startswith(AUDIO_SIDE) for name in trainable)
    assert "lm_head.weight" in trainable and "model.language_model.embed_tokens.weight" in trainable


def test_lora_targets_language_model_projections_only(tiny_model):
    model = apply_lora(tiny_model)
    adapted = {name.split(".lora_A")[0] for name, _ in model.named_parameters() if ".lora_A." in name}
    expected = {
        f"base_model.model.model.language_model.layers.{layer}.{proj}"
        for layer in range(2)
        for proj in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                     "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
    }
    assert adapted == expected
    trainable = [name for name, param in model.named_parameters() if param.requires_grad]
    assert trainable and all(".lora_" in name for name in trainable)


def test_training_arguments_flags(tmp_path):
    args = training_arguments(str(tmp_path), gradient_checkpointing=True, bf16=True, use_cpu=True,
                              group_by_length=True)
    assert args.activation_checkpointing and args.activation_checkpointing_kwargs == {"use_reentrant": False}
    assert args.bf16 and args.train_sampling_strategy == "group_by_length"
    assert args.remove_unused_columns is False and args.disable_tqdm is False
    assert training_arguments(str(tmp_path), group_by_length=False).train_sampling_strategy == "random"
    # either flag turns checkpointing on; a False in the other one does not undo it
    both = training_arguments(str(tmp_path), gradient_checkpointing=True, activation_checkpointing=False, use_cpu=True)
    assert both.activation_checkpointing and both.activation_checkpointing_kwargs == {"use_reentrant": False}


@pytest.mark.skipif(torch.cuda.is_available(), reason="FSDP is allowed where there is an accelerator")
def test_fsdp_on_cpu_is_refused_not_silently_ddp(tmp_path):
    with pytest.raises(ValueError, match="silently be plain DDP"):
        training_arguments(str(tmp_path), fsdp=True, fsdp_config=os.path.join(EXAMPLES, "configs", "fsdp.json"))


def test_group_by_length_uses_the_length_column(processor, pretraining_data, tiny_model, tmp_path):
    trainer = Trainer(model=tiny_model, args=training_arguments(str(tmp_path), per_device_train_batch_size=2),
                      train_dataset=pretraining_data, data_collator=QwenAudioDataCollator(processor),
                      processing_class=processor)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler)
    assert list(sampler.lengths) == list(pretraining_data["length"])


def test_pretrain_trains_audio_side_writes_curve_and_resumes(processor, pretraining_data, tmp_path):
    model = tiny_training_model(seed=0)
    before = _snapshot(model)
    result = pretrain(model, processor, pretraining_data, str(tmp_path / "run"), max_steps=2, save_steps=1, **FAST)
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    changed = _changed(before, result.model)
    assert changed and all(name.startswith(AUDIO_SIDE) for name in changed)
    assert any(name.startswith("model.audio_tower.") for name in changed)
    with open(result.loss_curve, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.isdir(tmp_path / "run" / "checkpoint-1") and os.path.isfile(tmp_path / "run" / "model.safetensors")

    # Resume from checkpoint-1 in a fresh process state: step 2 reproduces the uninterrupted run.
    resumed = pretrain(tiny_training_model(seed=1), processor, pretraining_data, str(tmp_path / "resumed"),
                       max_steps=2, save_steps=10, resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-1"),
                       **FAST)
    resumed_losses = {entry["step"]: entry["loss"] for entry in resumed.log_history if "loss" in entry}
    assert list(resumed_losses) == [1, 2]  # step 1 comes from the checkpoint's trainer state
    assert resumed_losses[2] == pytest.approx(losses[1], rel=1e-5)
    for name, param in resumed.model.named_parameters():
        assert torch.allclose(param, result.model.get_parameter(name).to(param.device), atol=1e-6), name


def test_sft_lora_merge_and_export(processor, sft_data, tmp_path):
    model = tiny_training_model(seed=0)
    before = _snapshot(model)
    result = sft(model, processor, sft_data, str(tmp_path / "sft"), max_steps=1, save_steps=10, **FAST)
    peft_model = result.model
    assert os.path.isfile(tmp_path / "sft" / "adapter_config.json")
    assert any(".lora_B." in name and param.abs().sum() > 0 for name, param in peft_model.named_parameters())

    batch = QwenAudioDataCollator(processor)([sft_data[0]])
    batch.pop("labels")
    peft_model.cpu()
    peft_model.eval()
    with torch.no_grad():
        adapted_logits = peft_model(**batch).logits
    merged = export_merged(peft_model, processor, str(tmp_path / "merged"))
    assert type(merged) is QwenAudioForConditionalGeneration
    reloaded = QwenAudioForConditionalGeneration.from_pretrained(str(tmp_path / "merged")).eval()
    with torch.no_grad():
        merged_logits = merged(**batch).logits
        reloaded_logits = reloaded(**batch).logits
    assert torch.allclose(adapted_logits, merged_logits, atol=1e-4)
    assert torch.allclose(adapted_logits, reloaded_logits, atol=1e-4)
    changed = _changed(before, reloaded)
    assert changed and all(name.startswith("model.language_model.layers.") for name in changed)
    assert os.path.isfile(tmp_path / "merged" / "processor_config.json")


def test_sft_full_with_gradient_checkpointing_trains_language_model_only(processor, sft_data, tmp_path):
    model = tiny_training_model(seed=0)
    before = _snapshot(model)
    result = sft(model, processor, sft_data, str(tmp_path / "full"), use_lora=False, gradient_checkpointing=True,
                 max_steps=1, save_steps=10, **FAST)
    assert result.model.is_activation_checkpointing
    changed = _changed(before, result.model)
    assert "lm_head.weight" in changed and not any(name.startswith(AUDIO_SIDE) for name in changed)


def test_sft_lora_example_script(processor_dir, sft_jsonl, tmp_path):
    sys.path.insert(0, EXAMPLES)
    try:
        import sft_lora
    finally:
        sys.path.remove(EXAMPLES)
    out, export = tmp_path / "out", tmp_path / "export"
    result = sft_lora.main(["--tiny", "--processor", processor_dir, "--data", sft_jsonl, "--output-dir", str(out),
                            "--max-steps", "1", "--batch-size", "2", "--logging-steps", "1", "--export-dir",
                            str(export), "--sequential"])
    with open(out / "log_history.json", encoding="utf-8") as handle:
        assert any("loss" in entry for entry in json.load(handle))
    assert os.path.isfile(out / "loss_curve.png") and os.path.isfile(export / "model.safetensors")
    assert type(result.model) is QwenAudioForConditionalGeneration


@pytest.fixture(scope="module")
def layout_folders(tmp_path_factory):
    from ..modeling.original_layout import released_and_converted_folders

    return released_and_converted_folders(tmp_path_factory.mktemp("layouts"))


@pytest.mark.parametrize("quantization", [None, "4bit"])
@pytest.mark.parametrize("layout", ["original", "converted"])
def test_sft_lora_example_takes_the_released_and_a_converted_folder(layout_folders, layout, quantization, sft_jsonl,
                                                                     tmp_path):
    """`examples/sft_lora.py --model DIR [--quantization 4bit]` in a fresh process with stdin closed."""
    if quantization:
        pytest.importorskip("bitsandbytes")
    command = [sys.executable, os.path.join(EXAMPLES, "sft_lora.py"), "--model", layout_folders[layout], "--data",
               sft_jsonl, "--output-dir", str(tmp_path / "out"), "--max-steps", "1", "--batch-size", "2",
               "--logging-steps", "1", "--sequential", *(["--quantization", quantization] if quantization else [])]
    run = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    with open(tmp_path / "out" / "log_history.json", encoding="utf-8") as handle:
        assert any("loss" in entry for entry in json.load(handle))
    assert "trust_remote_code" not in run.stderr and "gemm_4bit" not in run.stderr
