"""`qwen-audio-hf eval`: run a benchmark protocol, or rescore saved predictions (arguments: `qwen_audio_hf.cli`).

Examples::

    qwen-audio-hf eval --task librispeech --data data/asr/librispeech_eval.jsonl --model ./qwen-audio --output-dir out
    qwen-audio-hf eval --task clotho --predictions out/clotho_predictions.jsonl   # scoring only, no model
    accelerate launch -m qwen_audio_hf eval --task meld --data meld_eval.jsonl --model ./qwen-audio   # several GPUs
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..core.model_sources import check_model_source
from ..modeling.progress import progress_bars


def _shown(key: str, value, rate_name: str):
    """Printed form of one score: error rates in percent (as the paper and leaderboards), others rounded."""
    if key == "wer" and isinstance(value, float):
        return f"{rate_name} %", round(100 * value, 2)
    return key, (round(value, 6) if isinstance(value, float) else value)


def _print_scores(task: str, scores: dict, paper: dict, files: dict | None = None, rate_name: str = "WER") -> None:
    print(f"== {task}")
    for source, values in scores.items():
        shown = dict(_shown(k, v, rate_name) for k, v in values.items())
        print(f"source {source!r}: {json.dumps(shown, ensure_ascii=False)}")
    if paper:
        print(f"paper (Qwen-Audio): {json.dumps(paper)}")
    for kind, path in (files or {}).items():
        print(f"{kind}: {path}")


def _rate_name(protocol) -> str:
    return "CER" if "CER" in protocol.description else "WER"


def _load(args):
    import torch

    from ..modeling import QwenAudioForConditionalGeneration
    from ..processing import QwenAudioProcessor

    from ..modeling.int8 import load_for_inference, warn_if_slow_bf16

    dtype = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)
    quantization = getattr(args, "quantization", None)
    if quantization:
        model = load_for_inference(args.model, quantization=quantization, dtype=dtype, device="cpu",
                                   model_class=QwenAudioForConditionalGeneration)
    else:
        warn_if_slow_bf16(dtype, getattr(args, "device", None) or "cpu")
        model = QwenAudioForConditionalGeneration.from_pretrained(args.model, dtype=dtype)
    processor = QwenAudioProcessor.from_pretrained(args.processor or args.model)
    return model, processor


def run_cli(args: argparse.Namespace) -> int:
    from .data import load_predictions
    from .protocols import get_protocol
    from .runner import EvaluationResult, evaluate, score_predictions

    try:
        protocol = get_protocol(args.task, args.language)
        if args.predictions:
            predictions = load_predictions(args.predictions)
            scores = score_predictions(protocol, predictions, spice=args.spice)
            result = EvaluationResult(protocol.name, scores, predictions, dict(protocol.paper))
            os.makedirs(args.output_dir, exist_ok=True)
            path = os.path.join(args.output_dir, f"{protocol.name}_scores.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(result.to_dict(), handle, ensure_ascii=False, indent=2)
            _print_scores(protocol.name, scores, result.paper, {"scores": path}, _rate_name(protocol))
            return 0
        if not args.data or not args.model:
            raise ValueError("pass --data and --model to generate and score (or --predictions FILE to only score)")
        check_model_source(args.model)
        with progress_bars(not args.no_progress):
            model, processor = _load(args)
        result = evaluate(model, processor, args.data, args.task, batch_size=args.batch_size,
                          output_dir=args.output_dir, language=args.language, limit=args.limit,
                          max_new_tokens=args.max_new_tokens, spice=args.spice, split=args.split,
                          device=args.device, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        print(f"qwen-audio-hf eval: error: {error}", file=sys.stderr)
        return 2
    if result is not None:
        _print_scores(result.task, result.scores, result.paper, result.files, _rate_name(protocol))
    return 0


__all__ = ["run_cli"]
