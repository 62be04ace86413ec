"""`qwen-audio-hf demo`: train and evaluate a tiny Qwen-Audio on synthetic audio, offline on a CPU, in minutes.

Steps: a tiny QwenAudio with the real Qwen-Audio vocabulary -> the synthetic multitask set (`synthetic.py`) ->
multitask pretraining on tagged prompts -> LoRA SFT on chat conversations -> save (Hub layout, `export.py`) ->
reload through AutoModelForCausalLM / AutoProcessor -> held-out accuracy per task, for the real audio and for
the same model with its audio features zeroed -> DIR/metrics.json and a few sample generations.

Choices that let a random tiny model learn on a CPU in minutes (the recipes' defaults stay the paper's): the
language model starts random, so pretraining trains its layers too (`recipes.pretrain(trainable_modules=...)`; the
paper freezes a pretrained LLM); the 155947-row token table (tied with the LM head) stays at its random
initialisation, since updating it would cost more CPU time than the rest of the model together; initial weights
use std 1/sqrt(width) instead of 0.02; the collator is wrapped so that the LM head only runs where tokens are
supervised (`SupervisedWindowCollator`, same loss). Everything else goes through the package's own recipes,
collator, processor, export and Auto classes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from . import synthetic

CHAT_QUESTIONS = {
    "note_analysis": "What is the MIDI pitch of this note?",
    "beep_counting": "How many beeps do you hear?",
    "event_timestamps": "When does the noise burst start and end (in seconds)?",
    "noise_colour": "What colour is this noise?",
}
BEEP_QUESTION = "How many beeps are there?"
EMBEDDING_SCALE = 3.0
"""Token vectors get std EMBEDDING_SCALE / sqrt(hidden): a matching (tied) LM-head row then scores about
EMBEDDING_SCALE * sqrt(hidden) against ~EMBEDDING_SCALE for a random row, so a frozen table still allows confident
answers among 155947 tokens."""
PRETRAIN_MODULES = ("model.audio_tower", "model.multi_modal_projector", "model.language_model.layers",
                    "model.language_model.norm")
"""Trained in the demo's pretraining: everything but the (tied) token embedding."""
GROUNDING_PHRASE = "noise burst"


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


# ------------------------------------------------------------------------------------------------ model
def build_tiny_model(settings: DemoSettings):
    """A randomly initialised QwenAudio: small encoder and decoder, the full Qwen-Audio vocabulary (155947 rows)."""
    from ..modeling import QwenAudioConfig, QwenAudioForConditionalGeneration

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
    from ..processing.feature_extraction_qwen_audio import QwenAudioFeatureExtractor
    from ..processing.processing_qwen_audio import QwenAudioProcessor
    from ..processing.tokenization_qwen_audio import QwenAudioTokenizer

    return QwenAudioProcessor(feature_extractor=QwenAudioFeatureExtractor(), tokenizer=QwenAudioTokenizer())


def set_generation_defaults(model, tokenizer) -> None:
    ids = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_end|>"])
    model.generation_config.eos_token_id = ids
    model.generation_config.pad_token_id = ids[0]
    model.generation_config.do_sample = False


# ------------------------------------------------------------------------------------------------ data
def task_prompt(example: Dict):
    """The tagged base-model prompt for an example (`processing.tags.TaskPrompt`)."""
    from ..core import token_ids as st
    from ..processing.tags import TaskPrompt

    task = example["task"]
    if task == "note_analysis":
        return TaskPrompt.note_analysis()
    if task == "beep_counting":
        return TaskPrompt.aqa(BEEP_QUESTION, audio_language="unknown")
    if task == "event_timestamps":
        return TaskPrompt(task="keyword", text_language="en", timestamps=True, output_instruction="audio_grounding",
                          suffix=f"{st.START_OF_WORD}{GROUNDING_PHRASE}{st.END_OF_WORD}")
    if task == "noise_colour":
        return TaskPrompt.scene()
    raise ValueError(f"unknown synthetic task {task!r}")


def tagged_target(example: Dict) -> str:
    """The base-model answer in the tag grammar (midi pitch tag, count, timestamp pair, scene word)."""
    from ..processing import tags

    task = example["task"]
    if task == "note_analysis":
        return tags.format_note_analysis(tags.NoteAnalysis(pitch=example["pitch"]))
    if task == "event_timestamps":
        span = tags.TimeSpan(example["onset"], example["offset"])
        return tags.format_grounding([tags.GroundedPhrase("", (span,))])
    return example["label"]


def chat_answer(example: Dict) -> str:
    """The chat answer: the plain label ("60", "3", "0.10-0.30", "pink")."""
    return example["label"]


def _audio_value(example: Dict) -> Dict:
    return {"array": example["audio"], "sampling_rate": synthetic.SAMPLE_RATE}


def pretraining_rows(examples: Sequence[Dict]) -> List[Dict]:
    """Rows of the pretraining schema (`training/data.py`): audio, tag fields, target."""
    rows = []
    for example in examples:
        fields = {k: v for k, v in asdict(task_prompt(example)).items() if v is not None}
        suffix = fields.pop("suffix", "")
        rows.append({"audio": _audio_value(example), "tags": fields, "prompt": suffix, "target": tagged_target(example)})
    return rows


def chat_messages(example: Dict, with_answer: bool = True) -> List[Dict]:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "audio", "audio": _audio_value(example)},
                                     {"type": "text", "text": CHAT_QUESTIONS[example["task"]]}]},
    ]
    if with_answer:
        messages.append({"role": "assistant", "content": chat_answer(example)})
    return messages


def sft_rows(examples: Sequence[Dict]) -> List[Dict]:
    """Rows of the SFT schema: chat conversations with one audio and one short answer."""
    return [{"messages": chat_messages(example)} for example in examples]


# ------------------------------------------------------------------------------------------------ training
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
    from . import recipes
    from .collator import QwenAudioDataCollator

    collator = SupervisedWindowCollator(QwenAudioDataCollator(processor))
    return recipe(
        model, processor, rows, output_dir, max_steps=steps, learning_rate=learning_rate,
        per_device_train_batch_size=settings.batch_size, warmup_steps=0.05, seed=settings.seed,
        logging_steps=max(steps // 10, 1), save_strategy="no", dataloader_num_workers=0,
        group_by_length=False,  # length groups would be single-task batches here (each task has its own length)
        data_collator=collator, **kwargs,
    )


def pretrain_stage(model, processor, examples, output_dir, settings: DemoSettings):
    """Multitask pretraining through `recipes.pretrain`, with the language model unfrozen (random LM, see doc)."""
    from . import recipes

    def pretrain_everything(model, processor, rows, output_dir, **kwargs):
        return recipes.pretrain(model, processor, rows, output_dir, trainable_modules=PRETRAIN_MODULES, **kwargs)

    return _train_stage(pretrain_everything, model, processor, pretraining_rows(examples), output_dir,
                        settings.pretrain_steps, settings.pretrain_learning_rate, settings)


def sft_stage(model, processor, examples, output_dir, settings: DemoSettings):
    """LoRA SFT on chat conversations through `recipes.sft`; the adapters are merged into the returned model."""
    from . import recipes

    return _train_stage(recipes.sft, model, processor, sft_rows(examples), output_dir, settings.sft_steps,
                        settings.sft_learning_rate, settings, use_lora=True, lora_rank=settings.lora_rank,
                        lora_alpha=2 * settings.lora_rank, lora_dropout=0.0, merge_lora=True)


# ------------------------------------------------------------------------------------------------ evaluation
_AUDIO_SPAN = re.compile(r"<audio>.*?</audio>", re.DOTALL)


def prompt_text(example: Dict, style: str, processor) -> str:
    """The generation prompt (audio as an empty placeholder span) for the 'tagged' or 'chat' style."""
    if style == "tagged":
        return task_prompt(example).to_text(audio="")
    messages = chat_messages(example, with_answer=False)
    messages[1]["content"][0] = {"type": "audio", "path": "clip"}
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return _AUDIO_SPAN.sub("<audio></audio>", text)


def is_correct(example: Dict, output: str) -> bool:
    """Exact match of the parsed answer (timestamps compared on the 0.01 s grid)."""
    from ..processing import tags

    task = example["task"]
    text = output.replace("<|endoftext|>", "").replace("<|im_end|>", "").strip()
    if task == "note_analysis" and "<|" in text:
        return tags.parse_note_analysis(text).pitch == example["pitch"]
    if task == "event_timestamps" and "<|" in text:
        phrases = tags.parse_grounding(text)
        spans = [span for phrase in phrases for span in phrase.spans]
        return len(spans) == 1 and round(spans[0].start, 2) == example["onset"] and round(spans[0].end, 2) == example["offset"]
    return tags.strip_tags(text).strip() == example["label"]


@torch.no_grad()
def generate_answers(model, processor, examples, style: str, zero_audio: bool = False, batch_size: int = 32,
                     max_new_tokens: int = 12) -> List[str]:
    """Greedy answers for `examples`; `zero_audio` replaces the log-mel features by zeros."""
    tokenizer = processor.tokenizer
    answers = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        inputs = processor(text=[prompt_text(e, style, processor) for e in chunk], audio=[e["audio"] for e in chunk],
                           sampling_rate=synthetic.SAMPLE_RATE, padding=True, padding_side="left", return_tensors="pt")
        if zero_audio:
            inputs["input_features"] = torch.zeros_like(inputs["input_features"])
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=False)
    return [answer.split("<|endoftext|>")[0].split("<|im_end|>")[0] for answer in answers]


def accuracy_by_task(examples, answers) -> Dict[str, float]:
    scores: Dict[str, List[bool]] = {}
    for example, answer in zip(examples, answers):
        scores.setdefault(example["task"], []).append(is_correct(example, answer))
    return {task: float(np.mean(values)) for task, values in scores.items()}


def evaluate(model, processor, examples, style: str) -> Dict[str, Any]:
    """Held-out accuracy per task with real and with zeroed audio, plus the answers."""
    model.eval()
    answers = generate_answers(model, processor, examples, style)
    zeroed = generate_answers(model, processor, examples, style, zero_audio=True)
    return {"accuracy": accuracy_by_task(examples, answers), "audio_zeroed_accuracy": accuracy_by_task(examples, zeroed),
            "answers": answers}


# ------------------------------------------------------------------------------------------------ driver
def _log(message: str, start: float) -> None:
    print(f"[demo {time.time() - start:6.1f}s] {message}", flush=True)


def run_demo(output_dir: str, settings: Optional[DemoSettings] = None, processor=None) -> Dict[str, Any]:
    """Run the whole demo; writes output_dir/{model/, metrics.json} and returns the metrics.
    `processor`: an already built QwenAudioProcessor (default: built here from the packaged qwen.tiktoken)."""
    from transformers import AutoModelForCausalLM, AutoProcessor
    from transformers.trainer_utils import set_seed

    from ..export import save_for_hub

    settings = settings or DemoSettings()
    start = time.time()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    set_seed(settings.seed)
    os.makedirs(output_dir, exist_ok=True)

    processor = processor or build_processor()
    model = build_tiny_model(settings)
    set_generation_defaults(model, processor.tokenizer)
    params = sum(p.numel() for p in model.parameters())
    _log(f"tiny QwenAudio: {params / 1e6:.1f}M parameters, vocabulary {model.config.text_config.vocab_size}", start)

    train = synthetic.make_examples(settings.train_per_task, seed=settings.seed)
    sft_examples = synthetic.make_examples(settings.sft_per_task, seed=settings.seed + 1)
    held_out = synthetic.make_examples(settings.eval_per_task, seed=settings.seed + 2)
    _log(f"synthetic audio: {len(train)} pretraining, {len(sft_examples)} SFT, {len(held_out)} held-out clips", start)

    result = pretrain_stage(model, processor, train, os.path.join(output_dir, "pretrain"), settings)
    model = result.model
    _log(f"pretraining done ({settings.pretrain_steps} steps, last loss {_last_loss(result.log_history)})", start)

    result = sft_stage(model, processor, sft_examples, os.path.join(output_dir, "sft"), settings)
    model = result.model
    _log(f"LoRA SFT done ({settings.sft_steps} steps, last loss {_last_loss(result.log_history)})", start)

    model_dir = os.path.join(output_dir, "model")
    save_for_hub(model, processor, model_dir, description="Tiny Qwen-Audio trained by `qwen-audio-hf demo`.")
    reloaded = AutoModelForCausalLM.from_pretrained(model_dir)
    reloaded_processor = AutoProcessor.from_pretrained(model_dir)
    set_generation_defaults(reloaded, reloaded_processor.tokenizer)
    _log(f"saved to {model_dir} and reloaded as {type(reloaded).__name__} / {type(reloaded_processor).__name__}", start)

    chat = evaluate(reloaded, reloaded_processor, held_out, "chat")
    _log("held-out evaluation done", start)
    from ..demo.long_form import long_form_metrics  # the demo package's long-form stage

    long_form = long_form_metrics(reloaded, reloaded_processor, held_out, seed=settings.seed + 3,
                                  prompt_text=prompt_text, is_correct=is_correct,
                                  min_seconds=settings.long_form_seconds)
    _log(f"long-form stage: {long_form['clips']} clips in {long_form['recording_s']} s, recovered "
         f"{long_form['recovered_fraction']:.2f} (tagged prompts {long_form['tagged']['recovered_fraction']:.2f})", start)

    metrics = {
        "tasks": {
            task: {
                "accuracy": chat["accuracy"][task],
                "audio_zeroed_accuracy": chat["audio_zeroed_accuracy"][task],
                "chance": synthetic.chance_level(task),
            }
            for task in synthetic.TASKS
        },
        "num_held_out_per_task": settings.eval_per_task,
        "settings": asdict(settings),
        "parameters": params,
        "vocab_size": reloaded.config.text_config.vocab_size,
        "seconds": round(time.time() - start, 1),
        "model_dir": model_dir,
        "long_form": long_form,
    }
    metrics["mean_accuracy"] = float(np.mean([t["accuracy"] for t in metrics["tasks"].values()]))
    metrics["mean_audio_zeroed_accuracy"] = float(np.mean([t["audio_zeroed_accuracy"] for t in metrics["tasks"].values()]))
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)

    _print_summary(metrics, held_out, chat["answers"], settings.num_samples_printed)
    return metrics


def _last_loss(log_history) -> str:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return f"{losses[-1]:.3f}" if losses else "n/a"


def _print_summary(metrics, examples, answers, count) -> None:
    print("\nSample generations (chat, held-out):")
    shown = {}
    for example, answer in zip(examples, answers):
        if shown.get(example["task"], 0) >= max(count // len(synthetic.TASKS), 1):
            continue
        shown[example["task"]] = shown.get(example["task"], 0) + 1
        mark = "ok " if is_correct(example, answer) else "err"
        print(f"  [{mark}] {example['task']:17s} Q: {CHAT_QUESTIONS[example['task']]!r:60s} "
              f"A: {answer!r:14s} (truth {example['label']})")
    print("\nHeld-out accuracy per task (chance / audio zeroed):")
    for task, row in metrics["tasks"].items():
        print(f"  {task:17s} {row['accuracy']:.2f}   ({row['chance']:.2f} / {row['audio_zeroed_accuracy']:.2f})")
    print(f"\nmetrics.json written; total {metrics['seconds']} s")


# ------------------------------------------------------------------------------------------------ CLI
def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoSettings()
    parser.add_argument("--output-dir", required=True, help="where the model, logs and metrics.json go")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--pretrain-steps", type=int, default=defaults.pretrain_steps)
    parser.add_argument("--sft-steps", type=int, default=defaults.sft_steps)
    parser.add_argument("--eval-per-task", type=int, default=defaults.eval_per_task)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def run_cli(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = DemoSettings(seed=args.seed, pretrain_steps=args.pretrain_steps, sft_steps=args.sft_steps,
                            eval_per_task=args.eval_per_task, threads=args.threads)
    run_demo(args.output_dir, settings)
    return 0
