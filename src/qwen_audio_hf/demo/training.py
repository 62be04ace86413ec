"""The demo's model and training: a tiny QwenAudio with the real vocabulary, and the two training stages.

Choices that let a random tiny model learn on a CPU in minutes (the recipes' defaults stay the paper's): the
language model starts random, so pretraining trains its layers too (`recipes.pretrain(trainable_modules=...)`; the
paper freezes a pretrained LLM); of the 155947-row token table (tied with the LM head) only the rows of the tokens
the targets hold learn (a gradient mask: the other rows get zero gradients and stay at their random
initialisation, only shrunk by AdamW's weight decay; a wholly frozen table left the answer words unable to move); the 3001 timestamp rows start as sines of their time
(`timestamp_vectors`); initial weights use std 1/sqrt(width) instead of 0.02; the collator is wrapped so that the
LM head only runs where tokens are supervised (`SupervisedWindowCollator`, same loss). Everything else goes through
the package's own recipes, collator and processor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from ..core.token_ids import FIRST_TIMESTAMP_ID, LAST_TIMESTAMP_ID, NUM_TIMESTAMP_TOKENS, TIMESTAMP_STEP_SECONDS

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
                    "model.language_model.norm", "model.language_model.embed_tokens")
"""Trained in the demo's pretraining: everything; of the (tied) token table only the rows of tokens that the
targets hold (`target_token_ids`, a gradient mask), a few hundred of the 155947."""
LOSS_POINTS = 25
"""Logged losses per stage (the training curves of the report)."""


@dataclass
class DemoSettings:
    """Sizes and schedule (the defaults are the demo's; see benchmarks/results/demo_cpu.log for their time)."""

    seed: int = 0
    train_per_task: int = 400
    sft_per_task: int = 100
    eval_per_task: int = 50
    text_hidden_size: int = 64
    text_layers: int = 2
    audio_d_model: int = 128
    audio_layers: int = 3
    pretrain_steps: int = 500
    pretrain_learning_rate: float = 5e-3
    sft_steps: int = 120
    sft_learning_rate: float = 5e-3
    lora_rank: int = 16
    batch_size: int = 16
    num_samples_printed: int = 8
    threads: Optional[int] = None
    long_form_seconds: float = 120.0
    speech_train: int = 2400
    speech_sft: int = 100
    speech_eval: int = 100
    long_form_utterances: int = 90
    speech_long_form_seconds: float = 180.0
    speech_long_form_utterances: int = 40
    sft_tagged_rows: int = 600
    curve_points: int = 5
    curve_clips: int = 32


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
        table = model.get_input_embeddings().weight
        table.normal_(0.0, EMBEDDING_SCALE / hidden**0.5)
        table[FIRST_TIMESTAMP_ID : LAST_TIMESTAMP_ID + 1] = timestamp_vectors(hidden)
    return model


def timestamp_vectors(hidden: int) -> torch.Tensor:
    """Rows for the 3001 timestamp tokens <|0.00|>..<|30.00|>: sines and cosines of the time at periods from 0.1 s
    to 60 s (norm EMBEDDING_SCALE, as a random row), so that near times get near vectors and a tied LM head that
    scores <|0.42|> high also scores <|0.41|> high. Random rows would make each of the 3001 times a class of its
    own, to be learnt from the few words that start there."""
    times = torch.arange(NUM_TIMESTAMP_TOKENS, dtype=torch.float64) * TIMESTAMP_STEP_SECONDS
    periods = torch.logspace(math.log10(0.1), math.log10(60.0), hidden // 2, dtype=torch.float64)
    angles = 2 * math.pi * times[:, None] / periods[None, :]
    vectors = torch.cat([angles.cos(), angles.sin()], dim=1) * (EMBEDDING_SCALE * (2.0 / hidden) ** 0.5)
    return vectors.to(torch.float32)


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


def target_token_ids(processor, rows) -> list:
    """Ids of every token in the rows' targets, plus the end token: the token-table rows pretraining updates."""
    ids = {processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")}
    for row in rows:
        ids.update(processor.tokenizer.encode(row["target"]))
    return sorted(ids)


def pretrain_stage(model, processor, examples, output_dir, settings: DemoSettings, callbacks=()):
    """Multitask pretraining through `recipes.pretrain`, with the language model unfrozen (random LM, see doc);
    of the tied token table only the target tokens' rows learn. Rows in the tagged-task format: `tasks.pretraining_rows`."""
    rows = pretraining_rows(examples)
    table = model.get_input_embeddings().weight
    mask = torch.zeros(table.shape[0], 1, dtype=table.dtype)
    mask[target_token_ids(processor, rows)] = 1.0
    hook = table.register_hook(lambda grad: grad * mask)

    def pretrain_everything(model, processor, rows, output_dir, **kwargs):
        return recipes.pretrain(model, processor, rows, output_dir, trainable_modules=PRETRAIN_MODULES,
                                callbacks=callbacks, **kwargs)

    try:
        return _train_stage(pretrain_everything, model, processor, rows, output_dir, settings.pretrain_steps,
                            settings.pretrain_learning_rate, settings)
    finally:
        hook.remove()


def sft_stage(model, processor, examples, output_dir, settings: DemoSettings, tagged_examples=()):
    """LoRA SFT on chat conversations through `recipes.sft`, with tagged pretraining rows of `tagged_examples`
    mixed in (so the base-model prompts keep working); the adapters are merged into the returned model."""
    rows = [{"messages": None, "audio": None, "tags": None, "prompt": None, "target": None, **row}
            for row in sft_rows(examples) + pretraining_rows(tagged_examples)]
    return _train_stage(recipes.sft, model, processor, rows, output_dir, settings.sft_steps,
                        settings.sft_learning_rate, settings, use_lora=True, lora_rank=settings.lora_rank,
                        lora_alpha=2 * settings.lora_rank, lora_dropout=0.0, merge_lora=True)
