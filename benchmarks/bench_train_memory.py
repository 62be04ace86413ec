"""Training memory: peak memory and step time of LoRA and QLoRA SFT steps, random weights, gradient checkpointing on.

Each row is batch x (30 s clip + 256 text tokens, all text supervised), AdamW over the LoRA adapters (rank 8,
the recipe's targets: the language model's attention + MLP projections). LoRA keeps the whole model in --dtype;
QLoRA loads the language model's linear layers in 4-bit NF4 (training.quantization: the audio encoder,
projector, embeddings and lm_head stay in --dtype). Every (method, batch) runs in its own process, so the peak
is that configuration's alone: peak allocated GPU memory on CUDA (torch.cuda.max_memory_allocated), peak
resident set size on CPU (ru_maxrss).

    python benchmarks/bench_train_memory.py --size full --device cuda --output benchmarks/results/h200_train_memory.json
    python benchmarks/bench_train_memory.py --size tiny --device cpu --output benchmarks/results/cpu_tiny_train_memory.json

Issue targets at full size, batch 1: LoRA <= 20 GB, QLoRA <= 10 GB (so a 24 GB card trains at batch 4).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch

from _common import SIZES, mel_frames  # benchmarks/_common.py
from bench_latency import build, make_batch

TEXT_TOKENS = 256
CLIP_SECONDS = 30.0
METHODS = ("lora", "qlora")


def _model(method: str, size: str, dtype, device: str):
    from qwen_audio_hf.training import apply_lora
    from qwen_audio_hf.training.quantization import load_quantized, prepare_for_kbit_training

    model = build("ours", SIZES[size], "sdpa", dtype, device if method == "lora" else "cpu")
    if method == "qlora":  # bitsandbytes quantizes while loading: go through a saved folder
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder)
            del model
            model = load_quantized(folder, "4bit", dtype=dtype, device_map={"": device})
        model = prepare_for_kbit_training(model, gradient_checkpointing=True)
    else:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return apply_lora(model)


def measure(method: str, size: str, batch: int, steps: int, dtype, device: str) -> dict:
    """One configuration in this process: warm-up step, then ``steps`` timed training steps."""
    torch.manual_seed(0)
    model = _model(method, size, dtype, device)
    model.train()
    inputs = make_batch("ours", CLIP_SECONDS, batch, TEXT_TOKENS, device, dtype)
    labels = inputs["input_ids"].clone()
    labels[:, : labels.shape[1] - TEXT_TOKENS] = -100  # the audio span is never supervised
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def step():
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    loss = step()  # warm-up (allocator, kernels)
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - start)
    row = {"method": method, "batch": batch, "sequence_tokens": int(inputs["input_ids"].shape[1]),
           "audio_frames": mel_frames(CLIP_SECONDS), "step_time_s": round(sorted(times)[len(times) // 2], 4),
           "loss": float(loss), "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    if cuda:
        row["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    else:
        row["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step (median reported)")
    parser.add_argument("--output", help="write the JSON here")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "BATCH"), help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    if args.one:
        print(json.dumps(measure(args.one[0], args.size, int(args.one[1]), args.steps, dtype, args.device)))
        return None

    rows = []
    for method in args.methods:
        for batch in args.batches:
            cmd = [sys.executable, os.path.abspath(__file__), "--size", args.size, "--device", args.device,
                   "--dtype", args.dtype, "--steps", str(args.steps), "--one", method, str(batch)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{method} batch {batch} failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    import bitsandbytes
    import peft
    import transformers

    result = {
        "what": f"SFT step (forward + backward + AdamW) on batch x ({CLIP_SECONDS:g} s audio + {TEXT_TOKENS} text "
                "tokens), LoRA rank 8 on the language model, gradient checkpointing, random weights",
        "size": args.size, "model_size": SIZES[args.size], "device": args.device, "dtype": args.dtype,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "bitsandbytes": bitsandbytes.__version__},
        "targets_full_size_batch1_gb": {"lora": 20, "qlora": 10},
        "results": rows,
    }
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return result


if __name__ == "__main__":
    main()
