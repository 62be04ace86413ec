"""Multitask pretraining (paper stage 1): train the audio encoder + projector, language model frozen.

    python examples/pretrain.py --model Qwen/Qwen-Audio --data train.jsonl --output-dir out/pretrain --bf16
    python examples/pretrain.py --tiny --data train.jsonl --output-dir out/smoke --max-steps 20
    torchrun --nproc_per_node 8 examples/pretrain.py ...   # data parallel; FSDP/DeepSpeed: docs/TRAINING.md

Rows: {"audio": path, "tags": {TaskPrompt fields}, "prompt"?: str, "target": str} (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_common_arguments, load_model_and_processor, report, training_kwargs  # noqa: E402


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, default_lr=5e-5)
    args = parser.parse_args(argv)

    from qwen_audio_hf.training import pretrain

    model, processor = load_model_and_processor(args)
    result = pretrain(model, processor, args.data, args.output_dir, eval_data=args.eval_data,
                      **training_kwargs(args))
    report(result, args.output_dir)
    return result


if __name__ == "__main__":
    main()
