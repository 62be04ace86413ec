"""Full-size Qwen-Audio-Chat on this CPU: the machine's limits and our bf16 / int8 paths, measured in one run.

    python benchmarks/make_full_size_checkpoint.py /work/bigckpt/qwen-audio-chat-random
    python benchmarks/bench_full_size.py /work/bigckpt/qwen-audio-chat-random   # -> results/cpu_full_<cpu>.json

Every model stage runs in its own process, sampled from outside every 0.2 s for VmRSS and RssAnon (mmap'd weight
pages count in RSS but not in RssAnon). Limits measured in the same run: memory bandwidth (a 1 GiB copy) and GEMM
GFLOP/s for fp32, bf16 and int8 (PyTorch's dynamic int8 kernel, the one modeling/int8.py uses) at a prefill
(800 x 4096 x 11008) and a decode (1 x 4096 x 11008) size. Each model figure is also given as a fraction of its
limit: prefill = linear-layer FLOPs / that dtype's prefill GFLOP/s; decode = bandwidth / weight bytes per token.
Timings are single runs (a full-size forward takes seconds to minutes here), no warm-up.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from _common import cpu_info  # benchmarks/_common.py

ROOT = Path(__file__).resolve().parent.parent
RUN_KEYS = ("wall_s", "peak_rss_gb", "peak_rss_anon_gb", "returncode", "load_average_1min")
PROMPT_TOKENS = 12  # the text after the audio span in a typical transcription prompt
DECODE_TOKENS = 32


# ------------------------------------------------------------------------------------------------ the machine
def _seconds(fn, repeats: int = 3) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def limits() -> dict:
    source = torch.empty(2**28, dtype=torch.float32).fill_(1.0)  # 1 GiB
    target = torch.empty_like(source)
    bandwidth = 2 * source.numel() * 4 / _seconds(lambda: target.copy_(source)) / 1e9  # read + write
    del source, target
    from qwen_audio_hf.modeling.int8 import Int8Linear

    gemm = {}
    linear = torch.nn.Linear(4096, 11008, bias=False)
    weights = {"fp32": linear.weight.data, "bf16": linear.weight.data.bfloat16()}
    int8 = Int8Linear.from_linear(linear)
    for label, rows in (("prefill", 800), ("decode", 1)):
        x = torch.randn(rows, 4096)
        flops = 2 * rows * 4096 * 11008
        gemm[label] = {
            "fp32": flops / _seconds(lambda: x @ weights["fp32"].T) / 1e9,
            "bf16": flops / _seconds(lambda: x.bfloat16() @ weights["bf16"].T) / 1e9,
            "int8": flops / _seconds(lambda: int8(x)) / 1e9,
        }
    return {"memory_bandwidth_gb_s": round(bandwidth, 2),
            "gemm_gflop_s": {k: {d: round(v, 1) for d, v in row.items()} for k, row in gemm.items()},
            "gemm_shape": {"prefill": [800, 4096, 11008], "decode": [1, 4096, 11008]}}


# ------------------------------------------------------------------------------------------------ a model stage
def _clip_inputs(model, seconds: float):
    from qwen_audio_hf.core.audio_lengths import audio_token_counts, mel_frames_for_samples

    frames = mel_frames_for_samples(int(seconds * 16000))
    config = model.config
    ids = [config.audio_start_token_id] + [config.audio_token_id] * audio_token_counts(frames)
    ids += [config.audio_end_token_id] + list(range(151852, 151852 + PROMPT_TOKENS))
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 80, 3000, generator=generator) * 0.5
    mask = torch.zeros(1, 3000, dtype=torch.long)
    mask[:, :frames] = 1
    return {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
            "input_features": features.to(model.dtype), "feature_attention_mask": mask}


def linear_flops(model, inputs) -> float:
    """2 x multiply-adds of the linear layers for one prefill: encoder frames after the conv stem, LM tokens
    (the last position's lm_head only)."""
    from qwen_audio_hf.core.audio_lengths import conv_output_lengths

    frames = int(inputs["feature_attention_mask"].sum())
    encoder_positions, tokens = conv_output_lengths(frames), inputs["input_ids"].shape[1]
    total = 0.0
    for name, module in model.named_modules():
        if hasattr(module, "in_features") and hasattr(module, "out_features"):
            size = module.in_features * module.out_features
            if name.startswith("model.audio_tower."):
                total += 2 * size * encoder_positions
            elif name == "lm_head":
                total += 2 * size
            elif name.startswith("model.multi_modal_projector"):
                total += 2 * size * encoder_positions // 2
            else:
                total += 2 * size * tokens
    return total


@torch.inference_mode()
def model_stage(directory: str, mode: str) -> dict:
    from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration, QwenAudioInt8Config

    start, cpu_start = time.perf_counter(), time.process_time()
    kwargs = {"quantization_config": QwenAudioInt8Config()} if mode == "int8" else {}
    model = QwenAudioForConditionalGeneration.from_pretrained(directory, dtype=torch.bfloat16, **kwargs).eval()
    result = {"load_s": round(time.perf_counter() - start, 2), "load_cpu_s": round(time.process_time() - cpu_start, 2)}
    for seconds in (3, 30):
        inputs = _clip_inputs(model, seconds)
        start = time.perf_counter()
        model(**inputs, logits_to_keep=1)
        elapsed = time.perf_counter() - start
        result[f"prefill_{seconds}s"] = {"seconds": round(elapsed, 2), "prompt_tokens": inputs["input_ids"].shape[1],
                                         "linear_gflop": round(linear_flops(model, inputs) / 1e9, 1)}
        print(json.dumps({mode: result}), flush=True)
    inputs = _clip_inputs(model, 3)
    timings = {}
    for new in (1, DECODE_TOKENS + 1):
        start = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        timings[new] = time.perf_counter() - start
        assert out.shape[1] == inputs["input_ids"].shape[1] + new
    decode_s = timings[DECODE_TOKENS + 1] - timings[1]
    result["decode"] = {"tokens": DECODE_TOKENS, "seconds": round(decode_s, 2),
                        "tokens_per_s": round(DECODE_TOKENS / decode_s, 3),
                        "weight_bytes_per_token": weight_bytes(model)}
    return result


def weight_bytes(model) -> int:
    """Bytes of the weights one decode step reads: every linear layer (int8 + scales, or bf16) and the norms;
    the token table is looked up, not read whole."""
    from qwen_audio_hf.modeling.int8 import Int8Linear

    total = 0
    for name, module in model.named_modules():
        if isinstance(module, Int8Linear):
            total += module.in_features * module.out_features + 4 * module.out_features
        elif isinstance(module, torch.nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
    return total - sum(m.in_features * m.out_features * (1 if isinstance(m, Int8Linear) else 2)
                       for n, m in model.named_modules() if n.startswith("model.audio_tower.")
                       and hasattr(m, "in_features"))  # the encoder does not run while decoding


# ------------------------------------------------------------------------------------------------ sampling
def run_sampled(command: list[str], env: dict | None = None) -> dict:
    """Run `command`, sampling its VmRSS / RssAnon; returns wall seconds, peaks (GB), return code, stdout."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    peaks = {"VmRSS": 0, "RssAnon": 0}
    loads = []
    start = time.perf_counter()

    def sample():
        while process.poll() is None:
            try:
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    key = line.split(":")[0]
                    if key in peaks:
                        peaks[key] = max(peaks[key], int(line.split()[1]) * 1024)
            except (OSError, ValueError, IndexError):
                pass
            loads.append(os.getloadavg()[0])
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    sampler.join()
    return {"wall_s": round(time.perf_counter() - start, 2), "peak_rss_gb": round(peaks["VmRSS"] / 1e9, 2),
            "peak_rss_anon_gb": round(peaks["RssAnon"] / 1e9, 2), "returncode": process.returncode,
            "load_average_1min": {"mean": round(sum(loads) / max(1, len(loads)), 2), "max": round(max(loads, default=0), 2)},
            "stdout": stdout, "stderr_tail": stderr[-2000:]}


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def recording(path: str, seconds: float = 120.0, seed: int = 0) -> None:
    import numpy as np
    import soundfile

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    audio = 0.1 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0) + 0.01 * rng.standard_normal(t.size)
    soundfile.write(path, audio.astype(np.float32), 16000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="full-size ORIGINAL-layout folder (make_full_size_checkpoint.py)")
    parser.add_argument("--stage", choices=("bf16", "int8"), help=argparse.SUPPRESS)
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=("bf16", "int8", "convert", "transcribe_30s", "transcribe_120s"))
    parser.add_argument("--contended", action="store_true",
                        help="say in the JSON that other work shared the CPU (each stage records the load average)")
    parser.add_argument("--original-note", default="not run",
                        help="what became of the original code's run (bench_original.py, its own venv)")
    parser.add_argument("--output", help="default: benchmarks/results/cpu_full_<cpu>.json")
    parser.add_argument("--limits-only", action="store_true", help="measure the CPU's limits only (no checkpoint read)")
    parser.add_argument("--update", action="store_true",
                        help="keep the output's limits and other stages; rerun only the stages not skipped")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(model_stage(args.directory, args.stage)), flush=True)
        return
    cpu = cpu_info()
    slug = re.sub(r"[^a-z0-9]+", "_", cpu["model"].lower()).strip("_")
    output = args.output or str(ROOT / "benchmarks" / "results" / f"cpu_full_{slug}.json")

    def write(report: dict) -> None:  # after every stage, so a cut-off run keeps what it measured
        Path(output).write_text(json.dumps(report, indent=2) + "\n")

    writer_stats = Path(args.directory, "writer_stats.json")
    previous = json.loads(Path(output).read_text()) if args.update and Path(output).exists() else {}
    report = {**previous, "contended": args.contended, "command": " ".join(["python", *sys.argv]), "cpu": cpu,
              "checkpoint": json.loads(writer_stats.read_text()) if writer_stats.exists() else None}
    native_bf16 = "avx512_bf16" in cpu["flags"] or "amx_bf16" in cpu["flags"]
    report["cpu_kind"] = ("bf16-capable (AVX512-BF16/AMX): the issue's AVX2-only goals cannot be measured on it"
                          if native_bf16 else "no native bf16 matmul")
    report["limits"] = previous.get("limits") or {**limits(), "load_average_1min": os.getloadavg()[0]}
    print(json.dumps(report["limits"]), flush=True)
    if args.limits_only:  # e.g. under ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 (fbgemm's int8 ignores both)
        report["environment"] = {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
        return write(report)
    env = {"PYTHONPATH": str(ROOT / "src")}
    bandwidth = report["limits"]["memory_bandwidth_gb_s"]
    for mode in ("bf16", "int8"):
        if mode in args.skip:
            continue
        run = run_sampled([sys.executable, __file__, args.directory, "--stage", mode], env)
        entry = {k: run[k] for k in RUN_KEYS}
        if run["returncode"] == 0:
            figures = _last_json(run["stdout"])
            gflops = report["limits"]["gemm_gflop_s"]["prefill"][mode]
            for seconds in (3, 30):
                prefill = figures[f"prefill_{seconds}s"]
                prefill["fraction_of_limit"] = round(prefill["linear_gflop"] / gflops / prefill["seconds"], 3)
            decode = figures["decode"]
            decode["limit_tokens_per_s"] = round(bandwidth * 1e9 / decode["weight_bytes_per_token"], 3)
            decode["fraction_of_limit"] = round(decode["tokens_per_s"] / decode["limit_tokens_per_s"], 3)
            entry.update(figures)
        else:
            entry["error"] = run["stderr_tail"]
        report[mode] = entry
        print(json.dumps({mode: entry}), flush=True)
        write(report)
    cli = [sys.executable, "-m", "qwen_audio_hf.cli"]
    with tempfile.TemporaryDirectory(dir=Path(args.directory).parent) as scratch:
        if "convert" not in args.skip:
            run = run_sampled([*cli, "convert", args.directory, os.path.join(scratch, "native")], env)
            report["convert_to_native"] = {k: run[k] for k in RUN_KEYS}
            if run["returncode"]:
                report["convert_to_native"]["error"] = run["stderr_tail"]
            subprocess.run(["rm", "-rf", os.path.join(scratch, "native")], check=False)
            print(json.dumps(report["convert_to_native"]), flush=True)
            write(report)
        for seconds in (30, 120):
            if f"transcribe_{seconds}s" in args.skip:
                continue
            report[f"transcribe_{seconds}s_int8"] = transcribe_stage(args.directory, scratch, seconds, env,
                                                                     None if "int8" in args.skip
                                                                     else report.get("int8", {}).get("load_s"))
            print(json.dumps(report[f"transcribe_{seconds}s_int8"]), flush=True)
            write(report)
    report["original_code"] = args.original_note if not previous or args.original_note != "not run" \
        else previous.get("original_code", "not run")
    write(report)


def transcribe_stage(directory: str, scratch: str, seconds: int, env: dict, load_s: float | None) -> dict:
    """`qwen-audio-hf transcribe --quantization int8` on a `seconds` recording, timed and sampled from outside."""
    audio = os.path.join(scratch, f"recording_{seconds}s.wav")
    recording(audio, seconds, seed=seconds)
    run = run_sampled([sys.executable, "-m", "qwen_audio_hf.cli", "transcribe", audio, "--model", directory,
                       "--quantization", "int8", "--device", "cpu", "--max-new-tokens", str(DECODE_TOKENS),
                       "--output-dir", scratch, "--no-progress"], env)
    entry = {k: run[k] for k in RUN_KEYS}
    if run["returncode"]:
        entry["error"] = run["stderr_tail"]
        return entry
    windows = len(json.loads(Path(scratch, f"recording_{seconds}s.json").read_text())["windows"])
    entry.update({"audio_s": float(seconds), "windows": windows, "max_new_tokens": DECODE_TOKENS,
                  "seconds_per_window_incl_load": round(run["wall_s"] / windows, 2)})
    if load_s:  # the int8 stage's load, measured earlier in the same run
        entry["seconds_per_window_after_load"] = round((run["wall_s"] - load_s) / windows, 2)
    return entry


if __name__ == "__main__":
    main()
