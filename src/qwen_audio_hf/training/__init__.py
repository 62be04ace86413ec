"""Training: data schema + loaders, the label-masking collator, and Trainer recipes (pretraining, SFT/LoRA).

See docs/TRAINING.md for the row schema and how to run the recipes (single process, torchrun, FSDP, DeepSpeed).
"""

from .callbacks import LossCurveCallback, plot_loss_curve
from .collator import IGNORE_INDEX, QwenAudioDataCollator
from ..jsonl import read_jsonl
from .data import load_pretraining_data, load_sft_data
from .recipes import (
    LORA_TARGET_MODULES,
    TrainingResult,
    apply_lora,
    export_merged,
    freeze_for_pretraining,
    freeze_for_sft,
    lora_config,
    pretrain,
    sft,
    training_arguments,
)

__all__ = [
    "IGNORE_INDEX",
    "LORA_TARGET_MODULES",
    "LossCurveCallback",
    "QwenAudioDataCollator",
    "TrainingResult",
    "apply_lora",
    "export_merged",
    "freeze_for_pretraining",
    "freeze_for_sft",
    "load_pretraining_data",
    "load_sft_data",
    "lora_config",
    "plot_loss_curve",
    "pretrain",
    "read_jsonl",
    "sft",
    "training_arguments",
]
