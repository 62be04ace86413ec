"""Command-line plumbing shared by examples/pretrain.py and examples/sft_lora.py."""

from __future__ import annotations

import argparse
import json
import os


def add_common_arguments(parser: argparse.ArgumentParser, *, default_lr: float) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="checkpoint directory or hub id (native or original Qwen-Audio layout)")
    source.add_argument("--tiny", action="store_true", help="a tiny random model (smoke runs / CI)")
    parser.add_argument("--processor", help="processor directory (default: --model, or the packaged tokenizer)")
    parser.add_argument("--data", required=True, help="training jsonl (schema in docs/TRAINING.md)")
    parser.add_argument("--eval-data", help="optional evaluation jsonl")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-length", type=int, default=2048, help="rows longer than this raise an error")
    parser.add_argument("--learning-rate", type=float, default=default_lr)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    parser.add_argument("--batch-size", type=int, default=8, help="per device")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--warmup-steps", type=float, default=0.01, help="steps, or a fraction of the run if < 1")
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--save-steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bf16", action="store_true", help="bf16 mixed precision (GPU)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--no-group-by-length", action="store_true", help="random order instead of length groups")
    parser.add_argument("--sequential", action="store_true", help="data in file order (reproducible runs)")
    parser.add_argument("--fsdp-config", help="FSDP: path to a TrainingArguments fsdp_config JSON (see docs/TRAINING.md)")
    parser.add_argument("--deepspeed", help="DeepSpeed: path to a DeepSpeed JSON config (ZeRO-2/3)")
    parser.add_argument("--resume", nargs="?", const=True, default=None,
                        help="resume from the latest checkpoint in --output-dir, or from the given checkpoint")


def tiny_random_model(seed: int = 0):
    """--tiny: a randomly initialised Qwen-Audio with the real vocabulary but tiny widths (smoke runs, CI)."""
    import torch

    from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioForConditionalGeneration

    config = QwenAudioConfig(
        audio_config=dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64),
        text_config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                         vocab_size=155947, max_position_embeddings=4096),
    )
    torch.manual_seed(seed)
    return QwenAudioForConditionalGeneration(config)


def load_model_and_processor(args: argparse.Namespace):
    from qwen_audio_hf.training.recipes import load_model_and_processor as load

    quantization = getattr(args, "quantization", None)
    if args.tiny:
        model = tiny_random_model(seed=args.seed)
        if quantization:  # bitsandbytes quantizes while loading: round-trip the tiny model through a folder
            import tempfile

            from qwen_audio_hf.training.quantization import load_quantized

            with tempfile.TemporaryDirectory() as folder:
                model.save_pretrained(folder)
                model = load_quantized(folder, quantization)
        if args.processor:
            from transformers import AutoProcessor

            return model, AutoProcessor.from_pretrained(args.processor)
        from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor, QwenAudioTokenizer

        return model, QwenAudioProcessor(feature_extractor=QwenAudioFeatureExtractor(), tokenizer=QwenAudioTokenizer())
    return load(args.model, args.processor, quantization=quantization)


def training_kwargs(args: argparse.Namespace) -> dict:
    kwargs = dict(
        max_length=args.max_length, learning_rate=args.learning_rate, num_train_epochs=args.epochs,
        max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum, warmup_steps=args.warmup_steps, bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing, group_by_length=not args.no_group_by_length,
        seed=args.seed, resume_from_checkpoint=args.resume, logging_steps=args.logging_steps,
        save_steps=args.save_steps,
    )
    if args.sequential:
        kwargs["train_sampling_strategy"] = "sequential"
    if args.fsdp_config:
        kwargs.update(fsdp=True, fsdp_config=args.fsdp_config)
    if args.deepspeed:
        kwargs["deepspeed"] = args.deepspeed
    return kwargs


def run_info(trainer) -> dict:
    """How the run was distributed: processes, engine, and the class that wrapped the model."""
    deepspeed = getattr(trainer, "is_deepspeed_enabled", False)
    return {
        "world_size": trainer.args.world_size,
        "engine": "deepspeed" if deepspeed else "fsdp" if getattr(trainer, "is_fsdp_enabled", False) else
                  "ddp" if trainer.args.world_size > 1 else "single",
        "zero_stage": trainer.accelerator.state.deepspeed_plugin.zero_stage if deepspeed else None,
        "wrapped_model": type(trainer.model_wrapped).__name__,
    }


def report(result, output_dir: str) -> None:
    """Write log_history.json and run_info.json (main process only) and print where things are."""
    if result.trainer.is_world_process_zero():
        with open(os.path.join(output_dir, "log_history.json"), "w", encoding="utf-8") as handle:
            json.dump(result.log_history, handle, indent=1)
        with open(os.path.join(output_dir, "run_info.json"), "w", encoding="utf-8") as handle:
            json.dump(run_info(result.trainer), handle, indent=1)
        losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
        print(f"done: {len(losses)} logged losses, last {losses[-1] if losses else 'n/a'}; "
              f"loss curve: {result.loss_curve}; model in {output_dir}")
