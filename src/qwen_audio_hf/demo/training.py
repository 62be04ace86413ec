"""The demo's model and training: a tiny QwenAudio with the real vocabulary, and the two training stages.

Choices that let a random tiny model learn on a CPU in minutes (the recipes' defaults stay the paper's): the
language model starts random, so pretraining trains its layers too (`recipes.pretrain(trainable_modules=...)`; the
paper freezes a pretrained LLM); the 155947-row token table (tied with the LM head) stays at its random
initialisation, since updating it would cost more CPU time than the rest of the model together; initial weights
use std 1/sqrt(width) instead of 0.02; the collator is wrapped so that the LM head only runs where tokens are
supervised (`SupervisedWindowCollator`, same loss). Everything else goes through the package's own recipes,
collator and processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..modeling import QwenAudioConfig, QwenAudioForConditionalGeneration
from ..processing.feature_extraction_qwen_audio import QwenAudioFeatureExtractor
from ..processing.processing_qwen_audio import QwenAudioProcessor
from ..processing.tokenization_qwen_audio import QwenAudioTokenizer
from ..training import recipes
from ..training.collator import QwenAudioDataCollator
from .tasks import pretraining_rows, sft_rows

EMBEDDING_SCALE = 3.0
"""Token vectors get std EMBEDDING_SCALE / sqrt(hidden): a matching (tied) LM-head row then scores about
EMBEDDING_SCALE * sqrt(hidden) against ~EMBEDDING_SCALE for a random row, so a frozen table still allows confident
answers among 155947 tokens."""
PRETRAIN_MODULES = ("model.audio_tower", "model.multi_modal_projector", "model.language_model.layers",
                    "model.language_model.norm")
"""Trained in the demo's pretraining: everything but the (tied) token embedding."""
LOSS_POINTS = 25
"""Logged losses per stage (the training curves of the report)."""


@dataclass
class DemoSettings:
    """Sizes and schedule; the defaults fit the 5-minute CPU budget."""

    seed: int = 0
    train_per_task: int = 400
    sft_per_task: int = 100
    eval_per_task: int = 50
    text_hidden_size: int = 64
    text_layers: int = 2
    audio_d_model: int = 64
    audio_layers: int = 2
    pretrain_steps: int = 250
    pretrain_learning_rate: float = 3e-3
    sft_steps: int = 160
    sft_learning_rate: float = 5e-3
    lora_rank: int = 16
    batch_size: int = 16
    num_samples_printed: int = 8
    threads: Optional[int] = None
    long_form_seconds: float = 120.0


def build_tiny_model(settings: DemoSettings):
    """A randomly initialised QwenAudio: small encoder and decoder, the full Qwen-Audio vocabulary (155947 rows)."""
    hidden = settings.text_hidden_size
    config = QwenAudioConfig(
        # initializer_range ~ 1/sqrt(width): the usual 0.02 suits widths in the thousands and leaves a tiny model
        # on a long plateau before it starts to use the audio.
        audio_config=dict(num_mel_bins=80, encoder_layers=settings.audio_layers, encoder_attention_heads=4,
                          d_model=settings.audio_d_model, max_source_positions=1500,
                          initializer_range=settings.audio_d_model**-0.5),
        text_config=dict(hidden_size=hidden, intermediate_size=3 * hidden, num_hidden_layers=settings.text_layers,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         seq_length=1024, tie_word_embeddings=True, initializer_range=hidden**-0.5),
        tie_word_embeddings=True,  # halves the 155947 x hidden tables that dominate a tiny model
    )
    torch.manual_seed(settings.seed)
    model = QwenAudioForConditionalGeneration(config)
    with torch.no_grad():  # fixed random token vectors, spread enough for a confident tied LM head
        model.get_input_embeddings().weight.normal_(0.0, EMBEDDING_SCALE / hidden**0.5)
    return model


def build_processor():
    """The real Qwen-Audio processor: 80-bin log-mel features + the Qwen tokenizer with the audio specials."""
    return QwenAudioProcessor(feature_extractor=QwenAudioFeatureExtractor(), tokenizer=QwenAudioTokenizer())


class SupervisedWindowCollator:
    """Wrap the package collator: move each row's padding to the left (positions come from the attention mask),
    keep the labels of the last K positions only, the ones that hold supervised tokens, and ask the model for
    logits there only (``logits_to_keep=K``). The loss is unchanged; the 155947-way LM head then runs on a few
    positions per row instead of all of them, which is most of a tiny model's cost."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, rows):
        batch = self.collator(rows)
        lengths = batch["attention_mask"].sum(1)
        width = batch["input_ids"].shape[1]
        for key in ("input_ids", "attention_mask", "labels"):
            batch[key] = torch.stack([row.roll(int(width - n)) for row, n in zip(batch[key], lengths)])
        labels = batch["labels"]
        supervised = (labels != -100).any(0).nonzero()
        if supervised.numel() == 0:
            return batch
        # The logit at position p predicts label p+1: the window starts one before the first supervised label.
        keep = min(width - int(supervised[0]) + 1, width)
        batch["labels"] = labels[:, -keep:]
        batch["logits_to_keep"] = keep
        return batch


def _train_stage(recipe, model, processor, rows, output_dir, steps, learning_rate, settings, **kwargs):
    collator = SupervisedWindowCollator(QwenAudioDataCollator(processor))
    return recipe(
        model, processor, rows, output_dir, max_steps=steps, learning_rate=learning_rate,
        per_device_train_batch_size=settings.batch_size, warmup_steps=0.05, seed=settings.seed,
        logging_steps=max(steps // LOSS_POINTS, 1), save_strategy="no", dataloader_num_workers=0,
        group_by_length=False,  # length groups would be single-task batches here (each task has its own length)
        data_collator=collator, **kwargs,
    )


def pretrain_stage(model, processor, examples, output_dir, settings: DemoSettings):
    """Multitask pretraining through `recipes.pretrain`, with the language model unfrozen (random LM, see doc)."""
    def pretrain_everything(model, processor, rows, output_dir, **kwargs):
        return recipes.pretrain(model, processor, rows, output_dir, trainable_modules=PRETRAIN_MODULES, **kwargs)

    return _train_stage(pretrain_everything, model, processor, pretraining_rows(examples), output_dir,
                        settings.pretrain_steps, settings.pretrain_learning_rate, settings)


def sft_stage(model, processor, examples, output_dir, settings: DemoSettings):
    """LoRA SFT on chat conversations through `recipes.sft`; the adapters are merged into the returned model."""
    return _train_stage(recipes.sft, model, processor, sft_rows(examples), output_dir, settings.sft_steps,
                        settings.sft_learning_rate, settings, use_lora=True, lora_rank=settings.lora_rank,
                        lora_alpha=2 * settings.lora_rank, lora_dropout=0.0, merge_lora=True)
