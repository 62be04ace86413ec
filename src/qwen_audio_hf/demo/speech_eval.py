"""Scoring the demo's speech: ASR WER through the evaluation harness (the `qwen-audio-hf eval` ASR protocol on a
JSONL of held-out clips the demo writes), the same with the audio zeroed, and SRWT word-start errors.

The JSONL is the format users give `qwen-audio-hf eval` (``audio`` path relative to the file, ``gt``, ``source``),
so ``qwen-audio-hf eval --task asr --data DIR/speech_eval/held_out.jsonl --model DIR/model --max-new-tokens N``
prints the WER the demo reports (`eval_command`).
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np
from transformers import TrainerCallback

from ..evaluation.protocols import get_protocol
from ..evaluation.runner import evaluate as evaluate_protocol
from ..evaluation.runner import prediction_records
from ..modeling.generation import generate_texts
from .tasks import prompt_text, word_start_errors

SOURCE = "demo_speech_held_out"
ASR_MAX_NEW_TOKENS = 24
"""Longer than any answer (5 words + end token); the eval command is given the same value."""


def write_eval_jsonl(examples: Sequence[Dict], directory: str) -> str:
    """Held-out clips as 16 kHz wav files + ``held_out.jsonl`` (audio, gt, source, voice) in ``directory``."""
    import json

    import soundfile as sf

    os.makedirs(os.path.join(directory, "clips"), exist_ok=True)
    records = []
    for index, example in enumerate(examples):
        name = os.path.join("clips", f"utterance_{index:03d}.wav")
        sf.write(os.path.join(directory, name), example["audio"], 16000, subtype="FLOAT")
        records.append({"audio": name, "gt": example["label"], "source": SOURCE, "voice": example["voice"]})
    path = os.path.join(directory, "held_out.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path


def eval_command(jsonl: str, model_dir: str) -> str:
    return (f"qwen-audio-hf eval --task asr --data {jsonl} --model {model_dir} --output-dir {os.path.dirname(jsonl)} "
            f"--max-new-tokens {ASR_MAX_NEW_TOKENS} --no-progress")


def asr_scores(model, processor, jsonl: str, examples: Sequence[Dict], output_dir: str | None = None) -> Dict:
    """WER of the held-out clips through the eval harness (real audio), and with the audio features zeroed
    (same prompts and scorer)."""
    protocol = get_protocol("asr")
    result = evaluate_protocol(model, processor, jsonl, "asr", batch_size=32, output_dir=output_dir,
                               max_new_tokens=ASR_MAX_NEW_TOKENS, progress=False)
    records = result.predictions
    zeroed = generate_texts(model, processor, [protocol.prompt_text(r) for r in records],
                            [e["audio"] for e in examples], max_new_tokens=ASR_MAX_NEW_TOKENS, batch_size=32,
                            zero_audio_features=True)
    zero_scores = protocol.score(prediction_records([{"audio": "", "gt": r["gt"], "source": SOURCE} for r in records],
                                                    zeroed, protocol))
    real = result.scores[SOURCE]
    return {"wer": real["wer"], "errors": real["errors"], "reference_words": real["reference_tokens"],
            "audio_zeroed_wer": zero_scores[SOURCE]["wer"], "utterances": len(records),
            "exact_match": float(np.mean([" ".join(r["response"].replace("<|endoftext|>", " ").split()) == r["gt"]
                                          for r in records])),
            "samples": [{"truth": r["gt"], "response": r["response"]} for r in records[:6]]}


def quick_wer(model, processor, examples: Sequence[Dict]) -> float:
    """Corpus WER of the tagged ASR prompt on ``examples`` (greedy, eval-harness scoring); for learning curves."""
    from ..evaluation.metrics import word_error_rate
    from ..processing.tags import response_text, strip_tags

    was_training = model.training
    model.eval()
    answers = generate_texts(model, processor, [prompt_text(e, "tagged", processor) for e in examples],
                             [e["audio"] for e in examples], max_new_tokens=8, batch_size=32)
    model.train(was_training)
    return word_error_rate([e["label"] for e in examples], [strip_tags(response_text(a)) for a in answers])


class WerCurveCallback(TrainerCallback):
    """Every ``every`` optimizer steps, `quick_wer` on a few held-out clips; the points go to ``self.points``."""

    def __init__(self, processor, examples: Sequence[Dict], every: int):
        self.processor, self.examples, self.every, self.points = processor, examples, max(every, 1), []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self.points.append({"step": state.global_step, "asr_wer": quick_wer(model, self.processor, self.examples)})
        return control


def srwt_scores(model, processor, examples: Sequence[Dict], zero_audio: bool = False) -> Dict:
    """Word-start errors of the SRWT prompt on held-out clips (words paired by the evaluation's alignment)."""
    answers = generate_texts(model, processor, [prompt_text(e, "tagged", processor) for e in examples],
                             [e["audio"] for e in examples], max_new_tokens=2 * ASR_MAX_NEW_TOKENS, batch_size=32,
                             zero_audio_features=zero_audio)
    errors: List[float] = []
    for example, answer in zip(examples, answers):
        errors += word_start_errors(example, answer)
    total = sum(len(e["words"]) for e in examples)
    return {"median_word_start_error_s": float(np.median(errors)) if errors else None,
            "mean_word_start_error_s": float(np.mean(errors)) if errors else None,
            "matched_words": len(errors), "truth_words": total,
            "within_0.3s_fraction": float(np.sum(np.asarray(errors) <= 0.3) / total) if total else None,
            "samples": [{"truth": " ".join(e["words"]), "starts": e["starts"], "response": a}
                        for e, a in zip(examples[:4], answers[:4])]}


__all__ = ["ASR_MAX_NEW_TOKENS", "SOURCE", "WerCurveCallback", "quick_wer", "asr_scores", "eval_command", "srwt_scores", "write_eval_jsonl"]
