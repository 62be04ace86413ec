"""Decode throughput: eager dynamic cache vs static cache vs static cache + torch.compile, against transformers'
Qwen2-Audio (eager, dynamic cache) at the same size, all in one run.

Each case is a batch of B prompts (a 30 s clip + 16 text tokens), greedy, 128 new tokens with EOS suppressed
(`min_new_tokens`). Decode throughput = B * (N - 1) / (t(N new tokens) - t(1 new token)): generate()'s time
without the prefill and its first token (medians over --repeats, after a short warm-up call that compiles).
Both models stay loaded and the variants take turns round after round, so all see the same machine load; the
CPU time this process spends per decode step is reported too (robust on a shared CPU). Random weights, no download (the models come from bench_latency.build).

    python benchmarks/bench_decode.py --size small --output benchmarks/results/cpu_small_fp32_decode.json
    python benchmarks/bench_decode.py --size full --device cuda --dtype bfloat16 \
        --output benchmarks/results/h200_full_bf16_decode.json

The compiled variant uses `mode="reduce-overhead"` (CUDA graphs) on a GPU and inductor's default mode on CPU
(CUDA graphs need a GPU); `--compile-mode` / `--compile-backend` override. fullgraph=True: a graph break fails.
"""

import argparse
import json
import os
import time

import torch
from transformers import CompileConfig

from _common import SIZES, add_common_arguments  # benchmarks/_common.py
from bench_latency import build, make_batch  # the same model builder and inputs as the latency benchmark

EOS = 151643  # the same EOS (suppressed by min_new_tokens) for both models: same per-step logits processing

# name -> (model kind, extra generate() arguments); disable_compile: on a GPU a static cache compiles by default.
VARIANTS = {
    "ours_eager_dynamic_cache": ("ours", {}),
    "ours_static_cache": ("ours", {"cache_implementation": "static", "disable_compile": True}),
    "ours_static_cache_compiled": ("ours", {"cache_implementation": "static"}),
    "qwen2_audio_eager_dynamic_cache": ("qwen2_audio", {}),
}


def compile_config(args) -> CompileConfig:
    mode = args.compile_mode or ("reduce-overhead" if torch.device(args.device).type == "cuda" else "default")
    config = CompileConfig(fullgraph=True, backend=args.compile_backend, mode=mode)
    config._compile_all_devices = True  # generate() compiles only on GPUs unless asked
    return config


def timed_call(fn, device) -> tuple[float, float, torch.Tensor]:
    """(wall seconds, this process's CPU seconds, result) of one call."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def generate_fn(model, batch, generate_kwargs, new_tokens, args):
    if "cache_implementation" in generate_kwargs:
        # One static-cache shape for the warm-up, the 1-token and the N-token calls: no recompilation.
        generate_kwargs = dict(generate_kwargs, max_cache_len=batch["input_ids"].shape[1] + args.new_tokens)
    return lambda: model.generate(
        **batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0,
        eos_token_id=EOS, **generate_kwargs,
    )


def summarize(batch_size: int, full: list, first: list, args) -> dict:
    """Medians of the N-token and 1-token calls -> decode figures (wall time, and CPU time of this process)."""

    def median(values):
        return sorted(values)[len(values) // 2]

    full_s, first_s = median([w for w, _ in full]), median([w for w, _ in first])
    decode_cpu_s = median([c for _, c in full]) - median([c for _, c in first])
    return dict(
        end_to_end_ms=full_s * 1000,
        prefill_and_first_token_ms=first_s * 1000,
        decode_ms=(full_s - first_s) * 1000,
        decode_tokens_per_s=batch_size * (args.new_tokens - 1) / (full_s - first_s),
        decode_tokens_per_s_per_row=(args.new_tokens - 1) / (full_s - first_s),
        # CPU seconds this process spent decoding: on a shared CPU far less sensitive to other jobs than wall time.
        decode_cpu_ms_per_step=decode_cpu_s * 1000 / (args.new_tokens - 1),
    )


@torch.inference_mode()
def run(args, write) -> list[dict]:
    """Both models built once; per batch size the variants take turns, round after round, so that every
    variant sees the same machine load (the CPU runs are on a shared machine)."""
    dtype = getattr(torch, args.dtype)
    models = {kind: build(kind, SIZES[args.size], args.attn, dtype, args.device) for kind in ("ours", "qwen2_audio")}
    rows = []
    for batch_size in args.batch_sizes:
        batches = {
            kind: make_batch(kind, args.seconds[0], batch_size, args.prompt_len, args.device, dtype) for kind in models
        }
        calls, first_call_s, tokens = {}, {}, {}
        for name, (kind, generate_kwargs) in VARIANTS.items():
            if name.endswith("_compiled"):
                generate_kwargs = dict(generate_kwargs, compile_config=compile_config(args))
            calls[name] = {n: generate_fn(models[kind], batches[kind], generate_kwargs, n, args)
                           for n in (1, args.new_tokens, args.warmup_tokens)}
            first_call_s[name] = timed_call(calls[name][args.warmup_tokens], args.device)[0]  # compiles
        timings = {name: {"full": [], "first": []} for name in VARIANTS}
        for _ in range(args.repeats):
            for name in VARIANTS:
                wall, cpu, out = timed_call(calls[name][args.new_tokens], args.device)
                timings[name]["full"].append((wall, cpu))
                tokens[name] = out[:, batches[VARIANTS[name][0]]["input_ids"].shape[1]:].cpu()
                timings[name]["first"].append(timed_call(calls[name][1], args.device)[:2])
        for name, (kind, _) in VARIANTS.items():
            result = summarize(batch_size, timings[name]["full"], timings[name]["first"], args)
            result["first_call_s"] = first_call_s[name]  # --warmup-tokens tokens, incl. compilation if compiled
            if kind == "ours" and name != "ours_eager_dynamic_cache":
                result["same_tokens_as_eager_dynamic_cache"] = bool(
                    torch.equal(tokens[name], tokens["ours_eager_dynamic_cache"])
                )
            rows.append(dict(variant=name, batch=batch_size, seconds=args.seconds[0], **result))
            print(
                f"{name:32s} batch={batch_size:2d}  decode {result['decode_tokens_per_s']:8.1f} tok/s "
                f"({result['decode_tokens_per_s_per_row']:7.1f} per row, {result['decode_cpu_ms_per_step']:7.1f} "
                f"CPU ms/step)  prefill+1 {result['prefill_and_first_token_ms']:8.1f} ms  "
                f"first call {result['first_call_s']:6.1f} s",
                flush=True,
            )
        write(rows)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.set_defaults(seconds=[30.0], new_tokens=128, repeats=3)
    parser.add_argument("--attn", default="sdpa", choices=["eager", "sdpa", "flash_attention_2"])
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode (default: see the module doc)")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--warmup-tokens", type=int, default=4, help="new tokens of the warm-up call")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started, load_before = time.time(), os.getloadavg()

    def write(rows):  # after every batch size, so a long run keeps what it measured
        environment = dict(
            load_average_1_5_15min_before=load_before,  # CPU runs on a shared machine: how busy it was
            load_average_1_5_15min_after=os.getloadavg(),
            torch=torch.__version__,
            device_name=torch.cuda.get_device_name() if torch.device(args.device).type == "cuda" else "cpu",
            cpu_threads=torch.get_num_threads(),
            wall_s=round(time.time() - started, 1),
        )
        if args.output:
            with open(args.output, "w") as f:
                json.dump(dict(args=vars(args), environment=environment, results=rows), f, indent=2)

    run(args, write)


if __name__ == "__main__":
    main()
