"""Training recipes on ``transformers.Trainer``: multitask pretraining and SFT (full or LoRA through PEFT).

- :func:`pretrain` — the paper's first stage: the language model (embeddings, decoder, LM head) is frozen; the audio
  encoder and the projector are trained on tagged multitask rows.
- :func:`sft` — the paper's second stage: the audio encoder and projector are frozen; the language model is trained
  fully, or with LoRA adapters on the q/k/v/o and gate/up/down projections of its decoder layers only
  (``merge_and_unload`` export with :func:`export_merged`). A model loaded in 4 or 8 bits
  (``load_model_and_processor(..., quantization="4bit")``, see ``quantization.py``) trains as QLoRA.

Both take a model, a processor, training data (anything ``data.load_*_data`` accepts, or its output), an output
directory and hyperparameters; any other ``TrainingArguments`` field can be passed as a keyword. They return a
:class:`TrainingResult` with the trained model and the log history, and write ``loss_curve.png``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from transformers import Trainer, TrainingArguments

from .callbacks import LossCurveCallback
from .collator import QwenAudioDataCollator
from .data import load_pretraining_data, load_sft_data
from .quantization import is_quantized, load_quantized, prepare_for_kbit_training, restore_cpu_4bit_weights

AUDIO_MODULES = ("model.audio_tower", "model.multi_modal_projector")
LANGUAGE_MODULES = ("model.language_model", "lm_head")
LORA_TARGET_MODULES = (
    r"(?:.*\.)?language_model\.layers\.\d+\.(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)"
)
"""PEFT ``target_modules`` regex: the decoder's attention and MLP projections, never the audio encoder's."""


@dataclass
class TrainingResult:
    """What a recipe returns. ``model`` is the trained model (a ``PeftModel`` for unmerged LoRA)."""

    model: Any
    log_history: list[dict]
    trainer: Trainer
    output_dir: str
    loss_curve: str | None = None
    metrics: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ freezing
def set_trainable(model: Any, prefixes: Sequence[str]) -> dict[str, int]:
    """Freeze every parameter, then unfreeze the submodules named in ``prefixes``; returns parameter counts."""
    names = dict(model.named_modules())
    missing = [prefix for prefix in prefixes if prefix not in names]
    if missing:
        raise ValueError(f"model has no submodule(s) {missing}; expected a QwenAudioForConditionalGeneration.")
    model.requires_grad_(False)
    for prefix in prefixes:
        names[prefix].requires_grad_(True)
    return count_parameters(model)


def count_parameters(model: Any) -> dict[str, int]:
    params = {id(p): p for p in model.parameters()}.values()
    return {"trainable": sum(p.numel() for p in params if p.requires_grad), "total": sum(p.numel() for p in params)}


def freeze_for_pretraining(model: Any) -> dict[str, int]:
    """Pretraining: train the audio encoder and projector; freeze the whole language model and LM head."""
    return set_trainable(model, AUDIO_MODULES)


def freeze_for_sft(model: Any) -> dict[str, int]:
    """SFT: freeze the audio encoder and projector; train the language model and LM head."""
    return set_trainable(model, LANGUAGE_MODULES)


def lora_config(rank: int = 8, alpha: int = 16, dropout: float = 0.05, target_modules: str = LORA_TARGET_MODULES):
    """A PEFT ``LoraConfig`` for the language model's attention + MLP projections."""
    from peft import LoraConfig

    if rank < 1:
        raise ValueError(f"lora_rank must be >= 1, got {rank}.")
    return LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                      bias="none", task_type="CAUSAL_LM")


def apply_lora(model: Any, config: Any = None) -> Any:
    """Freeze the audio side and the base LM, wrap with LoRA adapters (only the adapters train)."""
    from peft import get_peft_model

    model.requires_grad_(False)
    return get_peft_model(model, config or lora_config())


def export_merged(model: Any, processor: Any, export_dir: str) -> Any:
    """Merge LoRA adapters into the base weights (``merge_and_unload``), save model + processor; return the
    plain merged model. A model without adapters is saved as is."""
    if is_quantized(model):
        raise ValueError(
            "cannot export a merged model from a 4/8-bit base (merging into quantized weights loses precision): "
            "load the base model unquantized (dtype=torch.bfloat16), then "
            "export_merged(PeftModel.from_pretrained(base_model, adapter_dir), processor, export_dir)."
        )
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    merged.save_pretrained(export_dir)
    if processor is not None:
        processor.save_pretrained(export_dir)
    return merged


# ------------------------------------------------------------------------------------------------ models
def load_model_and_processor(model_path: str, processor_path: str | None = None, dtype: Any = None,
                             quantization: str | None = None):
    """Load a native or original-layout checkpoint and its processor (``processor_path`` defaults to it).
    ``quantization="4bit"|"8bit"`` loads the language model through bitsandbytes (the rest in ``dtype``, bf16 by
    default) for QLoRA."""
    from transformers import AutoProcessor

    from ..modeling import QwenAudioForConditionalGeneration

    if quantization is not None:
        import torch

        model = load_quantized(model_path, quantization, dtype=dtype or torch.bfloat16)
    else:
        model = QwenAudioForConditionalGeneration.from_pretrained(model_path, dtype=dtype)
    processor = AutoProcessor.from_pretrained(processor_path or model_path)
    return model, processor


# ------------------------------------------------------------------------------------------------ trainer
def training_arguments(output_dir: str, **kwargs: Any) -> TrainingArguments:
    """``TrainingArguments`` with the settings the collator needs.

    ``group_by_length=True`` selects the ``group_by_length`` sampling strategy (over the dataset's ``length``
    column); ``gradient_checkpointing`` maps to ``activation_checkpointing`` (non-reentrant). A multi-process
    launch (torchrun / accelerate) on a machine without CUDA runs data-parallel on CPU with the gloo backend.
    """
    import torch

    group_by_length = kwargs.pop("group_by_length", True)
    gradient_checkpointing = kwargs.pop("gradient_checkpointing", False)
    checkpointing = bool(kwargs.pop("activation_checkpointing", False) or gradient_checkpointing)
    settings = dict(
        output_dir=output_dir,
        remove_unused_columns=False,  # the collator needs the raw audio/tags/messages columns
        label_names=["labels"],
        report_to="none",
        disable_tqdm=False,  # progress bar
        ddp_find_unused_parameters=False,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        activation_checkpointing=checkpointing,
        adam_beta2=0.98,
        weight_decay=0.05,
        lr_scheduler_type="cosine",
        logging_steps=10,
        save_steps=500,
        save_total_limit=2,
    )
    if checkpointing:
        settings["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    if kwargs.get("fsdp") and not _has_accelerator():
        raise ValueError(
            "FSDP needs GPUs (or another accelerator): accelerate turns FSDP on only for accelerator runs, so on CPU "
            "processes the fsdp config would be ignored and the run would silently be plain DDP. Drop fsdp / "
            "--fsdp-config here (DDP and DeepSpeed ZeRO-2 run on CPU processes)."
        )
    if not torch.cuda.is_available():
        settings["dataloader_pin_memory"] = False
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            settings.update(use_cpu=True, ddp_backend="gloo")
    settings.update({key: value for key, value in kwargs.items() if value is not None})
    return TrainingArguments(**settings)


def _has_accelerator() -> bool:
    import torch

    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(xpu is not None and xpu.is_available())


def _prepare(data: Any, processor: Any, loader, max_length: int | None):
    if data is None:
        return None
    import datasets

    if isinstance(data, datasets.Dataset) and "length" in data.column_names:
        return data
    return loader(data, processor, max_length=max_length)


def run_training(
    model: Any,
    processor: Any,
    train_dataset: Any,
    args: TrainingArguments,
    *,
    max_length: int | None = None,
    eval_dataset: Any = None,
    resume_from_checkpoint: str | bool | None = None,
    callbacks: Sequence[Any] = (),
    data_collator: Any = None,
) -> TrainingResult:
    """Train with ``Trainer`` + :class:`QwenAudioDataCollator` + :class:`LossCurveCallback`; save the final model
    (adapters only for PEFT) and processor to ``args.output_dir``."""
    curve = LossCurveCallback()
    if is_quantized(model):
        restore_cpu_4bit_weights(model)  # a generate() before training must not leave gradient-less 4-bit weights
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=data_collator or QwenAudioDataCollator(processor, max_length=max_length),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        callbacks=[curve, *callbacks],
    )
    output = trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    trainer.save_model(args.output_dir)
    return TrainingResult(
        model=trainer.model,
        log_history=list(trainer.state.log_history),
        trainer=trainer,
        output_dir=args.output_dir,
        loss_curve=curve.path,
        metrics=dict(output.metrics),
    )


# ------------------------------------------------------------------------------------------------ recipes
def pretrain(
    model: Any,
    processor: Any,
    train_data: Any,
    output_dir: str,
    *,
    eval_data: Any = None,
    max_length: int | None = 2048,
    learning_rate: float = 5e-5,
    num_train_epochs: float = 1.0,
    max_steps: int = -1,
    per_device_train_batch_size: int = 8,
    gradient_accumulation_steps: int = 1,
    warmup_steps: float = 0.01,
    bf16: bool = False,
    gradient_checkpointing: bool = False,
    group_by_length: bool = True,
    seed: int = 42,
    resume_from_checkpoint: str | bool | None = None,
    callbacks: Sequence[Any] = (),
    trainable_modules: Sequence[str] | None = None,
    data_collator: Any = None,
    **training_kwargs: Any,
) -> TrainingResult:
    """Multitask pretraining: audio encoder + projector trained, language model frozen (as in the paper).
    ``trainable_modules`` (submodule names) overrides what trains, e.g. to include the layers of a randomly
    initialised language model; ``data_collator`` replaces the default :class:`QwenAudioDataCollator`."""
    train_dataset = _prepare(train_data, processor, load_pretraining_data, max_length)
    eval_dataset = _prepare(eval_data, processor, load_pretraining_data, max_length)
    if trainable_modules is None:
        freeze_for_pretraining(model)
    else:
        set_trainable(model, tuple(trainable_modules))
    args = training_arguments(
        output_dir, learning_rate=learning_rate, num_train_epochs=num_train_epochs, max_steps=max_steps,
        per_device_train_batch_size=per_device_train_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps, warmup_steps=warmup_steps, bf16=bf16,
        gradient_checkpointing=gradient_checkpointing, group_by_length=group_by_length, seed=seed,
        **training_kwargs,
    )
    return run_training(model, processor, train_dataset, args, max_length=max_length, eval_dataset=eval_dataset,
                        resume_from_checkpoint=resume_from_checkpoint, callbacks=callbacks,
                        data_collator=data_collator)


def sft(
    model: Any,
    processor: Any,
    train_data: Any,
    output_dir: str,
    *,
    use_lora: bool = True,
    lora_rank: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    merge_lora: bool = False,
    export_dir: str | None = None,
    eval_data: Any = None,
    max_length: int | None = 2048,
    learning_rate: float = 1e-5,
    num_train_epochs: float = 1.0,
    max_steps: int = -1,
    per_device_train_batch_size: int = 8,
    gradient_accumulation_steps: int = 1,
    warmup_steps: float = 0.01,
    bf16: bool = False,
    gradient_checkpointing: bool = False,
    group_by_length: bool = True,
    seed: int = 42,
    resume_from_checkpoint: str | bool | None = None,
    callbacks: Sequence[Any] = (),
    data_collator: Any = None,
    **training_kwargs: Any,
) -> TrainingResult:
    """Supervised fine-tuning on chat conversations: audio encoder + projector frozen; the language model trained
    fully (``use_lora=False``) or through LoRA adapters. ``merge_lora`` returns the merged plain model;
    ``export_dir`` also saves it (merged) with the processor. A quantized model (QLoRA) is prepared with
    :func:`prepare_for_kbit_training` and needs ``use_lora``; export its adapter from an unquantized base."""
    train_dataset = _prepare(train_data, processor, load_sft_data, max_length)
    eval_dataset = _prepare(eval_data, processor, load_sft_data, max_length)
    if is_quantized(model):
        if not use_lora:
            raise ValueError("a 4/8-bit model trains only through LoRA adapters: use use_lora=True (drop --full).")
        if export_dir is not None or merge_lora:
            raise ValueError("QLoRA saves the adapter only; merge it into an unquantized base afterwards with "
                             "export_merged(PeftModel.from_pretrained(base_model, output_dir), processor, dir).")
        model = prepare_for_kbit_training(model, gradient_checkpointing=gradient_checkpointing)
    if use_lora:
        model = apply_lora(model, lora_config(lora_rank, lora_alpha, lora_dropout))
    else:
        freeze_for_sft(model)
    args = training_arguments(
        output_dir, learning_rate=learning_rate, num_train_epochs=num_train_epochs, max_steps=max_steps,
        per_device_train_batch_size=per_device_train_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps, warmup_steps=warmup_steps, bf16=bf16,
        gradient_checkpointing=gradient_checkpointing, group_by_length=group_by_length, seed=seed,
        **training_kwargs,
    )
    result = run_training(model, processor, train_dataset, args, max_length=max_length,
                          eval_dataset=eval_dataset, resume_from_checkpoint=resume_from_checkpoint,
                          callbacks=callbacks, data_collator=data_collator)
    if export_dir is not None:
        if result.trainer.args.process_index == 0:
            result.model = export_merged(result.model, processor, export_dir)
        else:
            result.model = result.model.merge_and_unload() if use_lora else result.model
    elif merge_lora and use_lora:
        result.model = result.model.merge_and_unload()
    return result


__all__ = [
    "LORA_TARGET_MODULES",
    "TrainingResult",
    "apply_lora",
    "count_parameters",
    "export_merged",
    "freeze_for_pretraining",
    "freeze_for_sft",
    "load_model_and_processor",
    "lora_config",
    "pretrain",
    "run_training",
    "set_trainable",
    "sft",
    "training_arguments",
]
