"""`qwen-audio-hf transcribe AUDIO [AUDIO ...] --model DIR`: long recordings to json/txt/srt/vtt files.

Its arguments are declared in `qwen_audio_hf.cli` (torch-free, so `--help` is instant).

Every input gets OUTPUT_DIR/<name>.<format>. A file that cannot be read is reported (naming it) and skipped;
the others are still processed and written, and the exit code is 1 at the end.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..core.model_sources import check_model_source
from ..modeling.progress import progress_bars
from .decoding import LongFormDecoder, LongFormError, build_task
from .formats import render
from .windows import check_chunk_length


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _output_paths(sources: list[str], output_dir: str, fmt: str) -> list[str]:
    """OUTPUT_DIR/<file name without extension>.<fmt>, numbered when two inputs share a name."""
    paths, seen = [], set()
    for source in sources:
        stem = os.path.splitext(os.path.basename(os.path.normpath(source)))[0] or "audio"
        name, counter = stem, 1
        while name in seen:
            counter += 1
            name = f"{stem}-{counter}"
        seen.add(name)
        paths.append(os.path.join(output_dir, f"{name}.{fmt}"))
    return paths


def load_model(model_dir: str, device: str | None, dtype: str = "auto", quantization: str | None = None):
    import torch
    from transformers import AutoProcessor  # Auto classes registered by qwen_audio_hf/__init__

    from ..modeling.int8 import load_for_inference

    dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    model = load_for_inference(model_dir, quantization=quantization, dtype=dtype, device=device)
    return model, AutoProcessor.from_pretrained(model_dir)


def run_cli(args: argparse.Namespace) -> int:
    try:
        task = build_task(args.task, args.language, args.target_language, timestamps=args.timestamps)
        check_chunk_length(args.chunk_length_s)
        check_model_source(args.model, hub=False)
        with progress_bars(not args.no_progress):
            model, processor = load_model(args.model, args.device, getattr(args, "dtype", "auto"),
                                          getattr(args, "quantization", None))
        decoder = LongFormDecoder(model, processor, chunk_length_s=args.chunk_length_s, batch_size=args.batch_size,
                                  overlap_s=args.overlap_s, max_new_tokens=args.max_new_tokens,
                                  segmentation=args.segmentation,
                                  generate_kwargs={"num_beams": args.num_beams} if args.num_beams > 1 else {})
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.makedirs(args.output_dir, exist_ok=True)
    paths = _output_paths(args.audio, args.output_dir, args.format)
    failures = 0
    results = decoder.run(args.audio, task, progress=not args.no_progress)
    for path, result in zip(paths, results):
        if isinstance(result, LongFormError):
            failures += 1
            print(f"error: {result}", file=sys.stderr)
            continue
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render(result, args.format, timestamps=args.timestamps))
        print(f"{result.audio} -> {path} ({result.duration_s:.1f} s, {_count(len(result.windows), 'window')})")
    if failures:
        print(f"error: {failures} of {len(paths)} input(s) could not be processed (see above)", file=sys.stderr)
    return 1 if failures else 0


__all__ = ["run_cli"]
