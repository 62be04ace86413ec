"""`qwen-audio-hf eval`: run a benchmark protocol, or rescore saved predictions.

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

from .protocols import FAMILY_DEFAULTS, PROTOCOLS

_DTYPES = ("auto", "float32", "bfloat16", "float16")


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("Examples::", 1)[1].rstrip() + "\n\nProtocols and their scoring: docs/EVALUATION.md"
    tasks = [*PROTOCOLS, *(k for k in FAMILY_DEFAULTS if k not in PROTOCOLS)]
    parser.add_argument("--task", required=True, choices=tasks, metavar="TASK",
                        help=f"protocol ({', '.join(PROTOCOLS)}) or family ({', '.join(FAMILY_DEFAULTS)})")
    parser.add_argument("--data", help="evaluation data: a .jsonl in the original's format (audio, gt, source, ...) "
                                       "or a datasets directory saved with save_to_disk")
    parser.add_argument("--model", help="model directory (native, or an original Qwen-Audio checkpoint)")
    parser.add_argument("--processor", help="processor directory (default: --model)")
    parser.add_argument("--predictions", help="score this predictions file instead of generating "
                                              "(ours, or the original's results .json)")
    parser.add_argument("--output-dir", default="eval_results", help="where predictions and scores are written")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, help="override the protocol's decoding length")
    parser.add_argument("--language", help="speech/text language for asr and srwt (e.g. en, zh)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N examples")
    parser.add_argument("--split", help="split to use when --data is a DatasetDict directory")
    parser.add_argument("--device", help="device for a single-process run (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", default="auto", choices=_DTYPES, help="model dtype")
    parser.add_argument("--spice", default="auto", choices=("auto", "require", "skip"),
                        help="captioning: compute SPICE if its Stanford jars are installed (auto), fail without "
                             "them (require), or never (skip)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _print_scores(task: str, scores: dict, paper: dict, files: dict | None = None) -> None:
    print(f"== {task}")
    for source, values in scores.items():
        shown = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}
        print(f"source {source!r}: {json.dumps(shown, ensure_ascii=False)}")
    if paper:
        print(f"paper (Qwen-Audio): {json.dumps(paper)}")
    for kind, path in (files or {}).items():
        print(f"{kind}: {path}")


def _load(args):
    import torch

    from ..modeling import QwenAudioForConditionalGeneration
    from ..processing import QwenAudioProcessor

    dtype = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)
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
            _print_scores(protocol.name, scores, result.paper, {"scores": path})
            return 0
        if not args.data or not args.model:
            raise ValueError("pass --data and --model to generate and score (or --predictions FILE to only score)")
        model, processor = _load(args)
        result = evaluate(model, processor, args.data, args.task, batch_size=args.batch_size,
                          output_dir=args.output_dir, language=args.language, limit=args.limit,
                          max_new_tokens=args.max_new_tokens, spice=args.spice, split=args.split,
                          device=args.device, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        print(f"qwen-audio-hf eval: error: {error}", file=sys.stderr)
        return 2
    if result is not None:
        _print_scores(result.task, result.scores, result.paper, result.files)
    return 0


__all__ = ["add_cli_arguments", "run_cli"]
