"""`qwen-audio-hf demo`: train and evaluate a tiny Qwen-Audio on synthetic sounds and eSpeak NG speech, offline on a CPU.

Steps: a tiny QwenAudio with the real Qwen-Audio vocabulary -> the sound set (`synthetic.py`) and spoken words
(`speech.py`, training voices only) -> multitask pretraining on tagged prompts (4 sound tasks, ASR, SRWT) -> tagged
scores -> LoRA SFT on chat conversations with tagged rows mixed back in -> save (Hub layout, `export.py`) -> reload
through AutoModelForCausalLM / AutoProcessor -> held-out scores (held-out voices): chat accuracy per task with real
and zeroed audio, ASR WER through the eval harness on DIR/speech_eval/held_out.jsonl (`speech_eval.py`), SRWT word
starts, tagged scores again -> a >= 3 min recording transcribed by the long-form decoder (`long_form.py`) -> the
sound long-form stage -> DIR/metrics.json, a few sample generations, and DIR/report.md with its
pictures (`report.py`).

metrics.json keys: ``tasks`` (chat, per task), ``speech`` (headline ASR/SRWT figures, eval command, voices),
``tagged_after_pretraining`` / ``tagged_after_sft``, ``loss_history`` (each stage's Trainer log_history),
``asr_wer_curve`` (WER during pretraining), ``speech_long_form`` (windows, cut points, words, truth),
``long_form`` (sound), ``settings``, ``seconds``.

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
from . import speech, speech_eval
from .long_form import long_form_metrics, run_speech_long_form
from .report import write_report
from .tasks import CHAT_QUESTIONS, CHAT_SPEECH_TASKS, answer_label, is_correct, prompt_text, speech_tasks
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


def _stage_history(result) -> List[Dict]:
    return [dict(entry) for entry in result.log_history]


def _tagged_metrics(model, processor, sound, asr, srwt, jsonl: str, output_dir: str) -> Dict[str, Any]:
    """Base-model (tagged) prompts: sound-task accuracy (real / zeroed audio), ASR WER through the eval harness,
    SRWT word-start errors; ``accuracy`` is the mean of the four sound accuracies and ASR exact match."""
    model.eval()
    tagged = evaluate(model, processor, sound, "tagged")
    asr_scores = speech_eval.asr_scores(model, processor, jsonl, asr, output_dir)
    srwt_scores = speech_eval.srwt_scores(model, processor, srwt)
    sound_accuracy = list(tagged["accuracy"].values())
    return {"sound_accuracy": tagged["accuracy"], "sound_audio_zeroed_accuracy": tagged["audio_zeroed_accuracy"],
            "asr": asr_scores, "srwt": srwt_scores,
            "accuracy": float(np.mean(sound_accuracy + [asr_scores["exact_match"]]))}


def run_demo(output_dir: str, settings: Optional[DemoSettings] = None, processor=None) -> Dict[str, Any]:
    """Run the whole demo; writes output_dir/{model/, metrics.json, speech_eval/, long_recording.wav} and returns
    the metrics. `processor`: an already built QwenAudioProcessor (default: built from the packaged qwen.tiktoken)."""
    from transformers import AutoModelForCausalLM, AutoProcessor
    from transformers.trainer_utils import set_seed

    settings = settings or DemoSettings()
    start = time.time()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    set_seed(settings.seed)
    os.makedirs(output_dir, exist_ok=True)
    seed = settings.seed

    processor = processor or build_processor()
    model = build_tiny_model(settings)
    set_generation_defaults(model, processor.tokenizer)
    params = sum(p.numel() for p in model.parameters())
    _log(f"tiny QwenAudio: {params / 1e6:.1f}M parameters, vocabulary {model.config.text_config.vocab_size}", start)

    train = synthetic.make_examples(settings.train_per_task, seed=seed)
    sft_examples = synthetic.make_examples(settings.sft_per_task, seed=seed + 1)
    held_out = synthetic.make_examples(settings.eval_per_task, seed=seed + 2)
    spoken = speech.make_utterances(settings.speech_train, seed + 10, "train")
    spoken_sft = speech.make_utterances(settings.speech_sft, seed + 11, "train")
    digits_sft = speech.make_utterances(settings.speech_sft, seed + 12, "train", vocabulary=speech.DIGITS)
    spoken_eval = speech.make_utterances(settings.speech_eval, seed + 13, "held_out")
    digits_eval = speech.make_utterances(settings.eval_per_task, seed + 14, "held_out", vocabulary=speech.DIGITS)
    spoken_long = speech.make_utterances(settings.long_form_utterances, seed + 15, "held_out")
    asr_eval, srwt_eval = speech_tasks(spoken_eval, "asr"), speech_tasks(spoken_eval, "srwt")
    chat_speech = (speech_tasks(spoken_eval[: settings.eval_per_task], "asr") + speech_tasks(digits_eval, "spoken_number")
                   + speech_tasks(spoken_eval[: settings.eval_per_task], "word_count"))
    jsonl = speech_eval.write_eval_jsonl(spoken_eval, os.path.join(output_dir, "speech_eval"))
    _log(f"audio: {len(train)} sound + {len(spoken)} spoken clips for pretraining (eSpeak NG voices "
         f"{', '.join(speech.TRAIN_VARIANTS)}), held-out voices {', '.join(speech.HELD_OUT_VARIANTS)}", start)

    pretraining = train + speech_tasks(spoken, "asr") + speech_tasks(spoken, "srwt")
    curve = speech_eval.WerCurveCallback(processor, asr_eval[: settings.curve_clips],
                                         settings.pretrain_steps // max(settings.curve_points, 1))
    pretrained = pretrain_stage(model, processor, pretraining, os.path.join(output_dir, "pretrain"), settings,
                                callbacks=[curve] if settings.curve_points else [])
    model = pretrained.model
    _log(f"pretraining done ({settings.pretrain_steps} steps, last loss {_last_loss(pretrained.log_history)})", start)
    before = _tagged_metrics(model, processor, held_out, asr_eval, srwt_eval, jsonl, None)
    _log(f"tagged prompts after pretraining: ASR WER {before['asr']['wer']:.3f} (audio zeroed "
         f"{before['asr']['audio_zeroed_wer']:.3f}), tagged accuracy {before['accuracy']:.3f}", start)

    rng = np.random.default_rng(seed + 16)
    replay = [pretraining[i] for i in rng.choice(len(pretraining), settings.sft_tagged_rows, replace=False)]
    sft_speech = (speech_tasks(spoken_sft, "asr") + speech_tasks(digits_sft, "spoken_number")
                  + speech_tasks(spoken_sft, "word_count"))
    tuned = sft_stage(model, processor, sft_examples + sft_speech, os.path.join(output_dir, "sft"), settings,
                      tagged_examples=replay)
    model = tuned.model
    _log(f"LoRA SFT done ({settings.sft_steps} steps, {len(replay)} tagged rows mixed in, last loss "
         f"{_last_loss(tuned.log_history)})", start)

    model_dir = os.path.join(output_dir, "model")
    save_for_hub(model, processor, model_dir, description="Tiny Qwen-Audio trained by `qwen-audio-hf demo`.")
    reloaded = AutoModelForCausalLM.from_pretrained(model_dir)
    reloaded_processor = AutoProcessor.from_pretrained(model_dir)
    set_generation_defaults(reloaded, reloaded_processor.tokenizer)
    _log(f"saved to {model_dir} and reloaded as {type(reloaded).__name__} / {type(reloaded_processor).__name__}", start)

    chat = evaluate(reloaded, reloaded_processor, held_out + chat_speech, "chat")
    after = _tagged_metrics(reloaded, reloaded_processor, held_out, asr_eval, srwt_eval, jsonl,
                            os.path.join(output_dir, "speech_eval"))
    _log(f"held-out evaluation done: ASR WER {after['asr']['wer']:.3f} (audio zeroed "
         f"{after['asr']['audio_zeroed_wer']:.3f}), tagged accuracy {after['accuracy']:.3f} (before SFT "
         f"{before['accuracy']:.3f})", start)
    speech_long = run_speech_long_form(reloaded, reloaded_processor, spoken_long, seed=seed + 17, output_dir=output_dir,
                                       min_seconds=settings.speech_long_form_seconds,
                                       min_utterances=settings.speech_long_form_utterances)
    speech_long["command"] = speech_long["command"].replace("MODEL_DIR", model_dir)
    _log(f"long recording: {speech_long['utterances']} utterances in {speech_long['recording_s']} s, WER "
         f"{speech_long['wer']:.3f}, median start error {speech_long['median_start_error_s']}", start)
    long_form = long_form_metrics(reloaded, reloaded_processor, held_out, seed=seed + 3,
                                  prompt_text=prompt_text, is_correct=is_correct,
                                  min_seconds=settings.long_form_seconds)
    timeline = long_form.pop("timeline", None)  # the recording and its answers, for the report's picture
    _log(f"long-form sound stage: {long_form['clips']} clips in {long_form['recording_s']} s, recovered "
         f"{long_form['recovered_fraction']:.2f} (tagged prompts {long_form['tagged']['recovered_fraction']:.2f})", start)

    chat_tasks = list(synthetic.TASKS) + list(CHAT_SPEECH_TASKS)
    metrics = {
        "tasks": {
            task: {
                "accuracy": chat["accuracy"][task],
                "audio_zeroed_accuracy": chat["audio_zeroed_accuracy"][task],
                "chance": synthetic.chance_level(task) if task in synthetic.TASKS else None,
                "question": CHAT_QUESTIONS[task],
            }
            for task in chat_tasks
        },
        "speech": {
            "asr_wer": after["asr"]["wer"], "asr_audio_zeroed_wer": after["asr"]["audio_zeroed_wer"],
            "srwt_median_word_start_error_s": after["srwt"]["median_word_start_error_s"],
            "eval_jsonl": jsonl, "eval_command": speech_eval.eval_command(jsonl, model_dir),
            "train_voices": speech.voices("train"), "held_out_voices": speech.voices("held_out"),
            "vocabulary": list(speech.VOCABULARY),
        },
        "tagged_after_pretraining": before,
        "tagged_after_sft": after,
        "tagged_accuracy_ratio_after_sft": after["accuracy"] / before["accuracy"] if before["accuracy"] else None,
        "loss_history": {"pretrain": _stage_history(pretrained), "sft": _stage_history(tuned)},
        "asr_wer_curve": {"clips": min(settings.curve_clips, len(asr_eval)), "points": curve.points},
        "num_held_out_per_task": settings.eval_per_task,
        "settings": asdict(settings),
        "parameters": params,
        "vocab_size": reloaded.config.text_config.vocab_size,
        "seconds": round(time.time() - start, 1),
        "model_dir": model_dir,
        "speech_long_form": speech_long,
        "long_form": long_form,
    }
    sound = [metrics["tasks"][t] for t in synthetic.TASKS]
    metrics["mean_accuracy"] = float(np.mean([t["accuracy"] for t in sound]))
    metrics["mean_audio_zeroed_accuracy"] = float(np.mean([t["audio_zeroed_accuracy"] for t in sound]))
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)

    _print_summary(metrics, held_out + chat_speech, chat["answers"], settings.num_samples_printed)
    print(f"report: {write_report(output_dir, metrics, timeline)['report']}")
    return metrics


def _last_loss(log_history) -> str:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    return f"{losses[-1]:.3f}" if losses else "n/a"


def _print_summary(metrics, examples, answers, count) -> None:
    print("\nSample generations (chat, held-out):")
    shown = {}
    for example, answer in zip(examples, answers):
        if shown.get(example["task"], 0) >= max(count // len(metrics["tasks"]), 1):
            continue
        shown[example["task"]] = shown.get(example["task"], 0) + 1
        mark = "ok " if is_correct(example, answer) else "err"
        print(f"  [{mark}] {example['task']:17s} Q: {CHAT_QUESTIONS[example['task']]!r:60s} "
              f"A: {answer!r:14s} (truth {example['label']})")
    print("\nHeld-out accuracy per task (chance / audio zeroed):")
    for task, row in metrics["tasks"].items():
        chance = "  -  " if row["chance"] is None else f"{row['chance']:.2f}"
        print(f"  {task:17s} {row['accuracy']:.2f}   ({chance} / {row['audio_zeroed_accuracy']:.2f})")
    speech_metrics, long_run = metrics["speech"], metrics["speech_long_form"]
    print(f"\nSpeech, held-out voices: ASR WER {100 * speech_metrics['asr_wer']:.1f} % (audio zeroed "
          f"{100 * speech_metrics['asr_audio_zeroed_wer']:.1f} %), SRWT median word-start error "
          f"{speech_metrics['srwt_median_word_start_error_s']} s")
    print(f"  same WER from the eval CLI: {speech_metrics['eval_command']}")
    print(f"Long recording ({long_run['recording_s']} s, {long_run['utterances']} utterances): WER "
          f"{100 * long_run['wer']:.1f} %, median utterance start error {long_run['median_start_error_s']} s")
    print(f"  transcribe it yourself: {long_run['command']}")
    print(f"Tagged accuracy: {metrics['tagged_after_pretraining']['accuracy']:.3f} after pretraining, "
          f"{metrics['tagged_after_sft']['accuracy']:.3f} after SFT")
    print(f"\nmetrics.json written; total {metrics['seconds']} s")


# ------------------------------------------------------------------------------------------------ CLI
def run_cli(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    given = {name: getattr(args, name) for name in ("seed", "pretrain_steps", "sft_steps", "eval_per_task", "threads")}
    settings = DemoSettings(**{name: value for name, value in given.items() if value is not None})
    run_demo(args.output_dir, settings)
    return 0
