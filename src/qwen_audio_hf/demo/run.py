"""`qwen-audio-hf demo`: train and evaluate a tiny Qwen-Audio on synthetic audio, offline on a CPU, in minutes.

Steps: a tiny QwenAudio with the real Qwen-Audio vocabulary -> the synthetic multitask set (`synthetic.py`) ->
multitask pretraining on tagged prompts -> LoRA SFT on chat conversations -> save (Hub layout, `export.py`) ->
reload through AutoModelForCausalLM / AutoProcessor -> held-out accuracy per task, for the real audio and for
the same model with its audio features zeroed -> DIR/metrics.json, a few sample generations, and DIR/report.md
with its pictures (`report.py`).

Model and training choices: `training.py`; tasks, prompts and scoring: `tasks.py`; generation goes through the
package's one generation helper (`modeling.generation.generate_texts`) and accuracy through `evaluation.metrics.accuracy`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..core.token_ids import END_TOKENS
from ..evaluation.metrics import accuracy
from ..modeling.generation import generate_texts, set_generation_defaults
from ..export import save_for_hub
from . import synthetic
from .long_form import long_form_metrics
from .report import loss_points, write_report
from .tasks import CHAT_QUESTIONS, answer_label, is_correct, prompt_text
from .training import DemoSettings, build_processor, build_tiny_model, pretrain_stage, sft_stage

MAX_NEW_TOKENS = 12


# ------------------------------------------------------------------------------------------------ evaluation
def generate_answers(model, processor, examples: Sequence[Dict], style: str, zero_audio: bool = False,
                     batch_size: int = 32) -> List[str]:
    """Greedy answers (the package's batched generation; stop at <|endoftext|> or <|im_end|>); `zero_audio`
    replaces the log-mel features by zeros."""
    return generate_texts(model, processor, [prompt_text(e, style, processor) for e in examples],
                          [e["audio"] for e in examples], max_new_tokens=MAX_NEW_TOKENS, end_tokens=END_TOKENS,
                          batch_size=batch_size, zero_audio_features=zero_audio)


def accuracy_by_task(examples: Sequence[Dict], answers: Sequence[str]) -> Dict[str, float]:
    """Exact-match accuracy (evaluation's `accuracy`) of the parsed answers, per task."""
    by_task: Dict[str, tuple] = {}
    for example, answer in zip(examples, answers):
        labels, parsed = by_task.setdefault(example["task"], ([], []))
        labels.append(example["label"])
        parsed.append(answer_label(example, answer))
    return {task: accuracy(labels, parsed) for task, (labels, parsed) in by_task.items()}


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
    model, losses = result.model, {"pretraining": loss_points(result.log_history)}
    _log(f"pretraining done ({settings.pretrain_steps} steps, last loss {_last_loss(result.log_history)})", start)

    result = sft_stage(model, processor, sft_examples, os.path.join(output_dir, "sft"), settings)
    model, losses["LoRA SFT"] = result.model, loss_points(result.log_history)
    _log(f"LoRA SFT done ({settings.sft_steps} steps, last loss {_last_loss(result.log_history)})", start)

    model_dir = os.path.join(output_dir, "model")
    save_for_hub(model, processor, model_dir, description="Tiny Qwen-Audio trained by `qwen-audio-hf demo`.")
    reloaded = AutoModelForCausalLM.from_pretrained(model_dir)
    reloaded_processor = AutoProcessor.from_pretrained(model_dir)
    set_generation_defaults(reloaded, reloaded_processor.tokenizer)
    _log(f"saved to {model_dir} and reloaded as {type(reloaded).__name__} / {type(reloaded_processor).__name__}", start)

    chat = evaluate(reloaded, reloaded_processor, held_out, "chat")
    _log("held-out evaluation done", start)
    long_form = long_form_metrics(reloaded, reloaded_processor, held_out, seed=settings.seed + 3,
                                  prompt_text=prompt_text, is_correct=is_correct,
                                  min_seconds=settings.long_form_seconds)
    timeline = long_form.pop("timeline", None)  # the recording and its answers, for the report's picture
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
        "training": losses,
    }
    metrics["mean_accuracy"] = float(np.mean([t["accuracy"] for t in metrics["tasks"].values()]))
    metrics["mean_audio_zeroed_accuracy"] = float(np.mean([t["audio_zeroed_accuracy"] for t in metrics["tasks"].values()]))
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)

    _print_summary(metrics, held_out, chat["answers"], settings.num_samples_printed)
    print(f"report: {write_report(output_dir, metrics, timeline)['report']}")
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
def run_cli(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    given = {name: getattr(args, name) for name in ("seed", "pretrain_steps", "sft_steps", "eval_per_task", "threads")}
    settings = DemoSettings(**{name: value for name, value in given.items() if value is not None})
    run_demo(args.output_dir, settings)
    return 0
