"""Supervised fine-tuning (paper stage 2) on chat conversations: audio encoder frozen, language model trained
with LoRA on its attention + MLP projections (or fully with --full), then merged and exported.

    python examples/sft_lora.py --model Qwen/Qwen-Audio --data chat.jsonl --output-dir out/sft \
        --export-dir out/sft-merged --bf16 --gradient-checkpointing
    python examples/sft_lora.py --tiny --data chat.jsonl --output-dir out/smoke --max-steps 20
    python examples/sft_lora.py --model Qwen/Qwen-Audio --data chat.jsonl --output-dir out/qlora \
        --quantization 4bit --bf16 --gradient-checkpointing      # QLoRA: adapter only, no --export-dir

Rows: {"messages": [{"role": "user", "content": [{"type": "audio", "path": ...}, {"type": "text", ...}]},
                    {"role": "assistant", "content": "..."}]} (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_common_arguments, load_model_and_processor, report, training_kwargs  # noqa: E402


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, default_lr=1e-5)
    parser.add_argument("--full", action="store_true", help="train the whole language model instead of LoRA")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--quantization", choices=("4bit", "8bit"),
                        help="QLoRA: load the language model in 4 or 8 bits (bitsandbytes); audio side and lm_head "
                             "stay bf16")
    parser.add_argument("--export-dir", help="save the merged (merge_and_unload) model + processor here")
    args = parser.parse_args(argv)

    from qwen_audio_hf.training import sft

    model, processor = load_model_and_processor(args)
    result = sft(model, processor, args.data, args.output_dir, eval_data=args.eval_data, use_lora=not args.full,
                 lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                 export_dir=args.export_dir, **training_kwargs(args))
    report(result, args.output_dir)
    return result


if __name__ == "__main__":
    main()
