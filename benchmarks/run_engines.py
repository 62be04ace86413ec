"""Distributed engines actually run: DDP (torchrun) and DeepSpeed ZeRO-2 (accelerate launch) against one process,
on the same global batch, through examples/pretrain.py with a tiny random model. FSDP (accelerate launch with
--fsdp-config) runs only where there are GPUs: accelerate enables its FSDP plugin only for accelerator runs, so on
CPU processes it would silently be DDP (training_arguments refuses that); pass --engines fsdp on a GPU machine.

Every run trains 2 steps on the same 4 rows in file order (seed 0, no dropout): one process with batch 4, or 2
processes with batch 2 each. On a machine without CUDA the processes talk over gloo (DeepSpeed's CPU accelerator
falls back to gloo without oneCCL). Writes per-step losses and gradient norms, the relative differences to the
single-process run, how each run was distributed and its wall time:

    python benchmarks/run_engines.py --out benchmarks/results/engines_cpu_tiny.json
    python benchmarks/run_engines.py --engines single fsdp      # on GPUs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN = os.path.join(ROOT, "examples", "pretrain.py")
CONFIGS = os.path.join(ROOT, "examples", "configs")
ENGINES = ("single", "ddp", "fsdp", "deepspeed_zero2")
CPU_ENGINES = ("single", "ddp", "deepspeed_zero2")
EXPECTED = {"single": "single", "ddp": "ddp", "fsdp": "fsdp", "deepspeed_zero2": "deepspeed"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(engine: str, processor_dir: str, data: str, output_dir: str) -> list[str]:
    """The launch command of one engine (2 processes except ``single``)."""
    batch = 4 if engine == "single" else 2
    script = [PRETRAIN, "--tiny", "--processor", processor_dir, "--data", data, "--output-dir", output_dir,
              "--batch-size", str(batch), "--max-steps", "2", "--sequential", "--logging-steps", "1",
              "--warmup-steps", "0", "--learning-rate", "1e-3", "--save-steps", "100", "--seed", "0"]
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                  "--main_process_port", str(_free_port())]
    if engine == "single":
        return [sys.executable, *script]
    if engine == "ddp":
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port()), *script]
    if engine == "fsdp":
        return [*accelerate, *script, "--fsdp-config", os.path.join(CONFIGS, "fsdp.json")]
    if engine == "deepspeed_zero2":
        return [*accelerate, *script, "--deepspeed", os.path.join(CONFIGS, "deepspeed_zero2.json")]
    raise ValueError(f"unknown engine {engine!r}; choose from {ENGINES}")


def run(engine: str, processor_dir: str, data: str, output_dir: str, timeout: float = 900) -> dict:
    """Launch one engine; return its per-step losses/grad norms, run_info.json and wall time (raises on failure)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(ROOT, "src"), env.get("PYTHONPATH")]))
    cmd = command(engine, processor_dir, data, output_dir)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    with open(os.path.join(output_dir, "log_history.json"), encoding="utf-8") as handle:
        steps = {entry["step"]: entry for entry in json.load(handle) if "loss" in entry}
    with open(os.path.join(output_dir, "run_info.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    if info["engine"] != EXPECTED[engine]:
        raise RuntimeError(f"{engine} ran as {info['engine']!r}: {info}")
    return {"command": " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:]),
            "run_info": info, "wall_s": round(wall, 1),
            "loss": [steps[s]["loss"] for s in sorted(steps)], "grad_norm": [steps[s]["grad_norm"] for s in sorted(steps)]}


def compare(runs: dict) -> dict:
    """Largest relative difference of each run's losses and gradient norms to the single-process run."""
    reference = runs["single"]
    return {
        engine: {key: max(abs(a - b) / abs(b) for a, b in zip(result[key], reference[key]))
                 for key in ("loss", "grad_norm")}
        for engine, result in runs.items() if engine != "single"
    }


def make_inputs(folder: str) -> tuple[str, str]:
    """The processor and the 4-row pretraining jsonl (clips of 0.5-2 s, one 8 kHz stereo) used by every run."""
    sys.path.insert(0, ROOT)
    from qwen_audio_hf.processing import QwenAudioProcessor, QwenAudioTokenizer
    from tests.training.conftest import pretraining_rows, write_clip, write_jsonl

    os.makedirs(os.path.join(folder, "clips"), exist_ok=True)
    names = []
    for index, (seconds, rate, channels) in enumerate([(1.0, 16000, 1), (0.5, 16000, 1), (2.0, 8000, 2),
                                                       (1.5, 16000, 1)]):
        names.append(f"clips/c{index}.wav")
        write_clip(os.path.join(folder, names[-1]), seconds, rate, channels, seed=index)
    processor_dir = os.path.join(folder, "processor")
    QwenAudioProcessor(tokenizer=QwenAudioTokenizer()).save_pretrained(processor_dir)
    return processor_dir, write_jsonl(os.path.join(folder, "pretrain.jsonl"), pretraining_rows(names))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", nargs="+", choices=ENGINES,
                        help=f"default: {' '.join(CPU_ENGINES)} without CUDA, all with it")
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
    import accelerate
    import torch
    import transformers

    chosen = args.engines or (ENGINES if torch.cuda.is_available() else CPU_ENGINES)
    engines = ["single", *[e for e in chosen if e != "single"]]

    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "accelerate": accelerate.__version__, "python": platform.python_version()}
    try:
        import deepspeed

        versions["deepspeed"] = deepspeed.__version__
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as folder:
        processor_dir, data = make_inputs(folder)
        runs = {engine: run(engine, processor_dir, data, os.path.join(folder, engine)) for engine in engines}
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (gloo)"
    result = {"what": "2 pretraining steps, tiny random model, global batch 4 (1 process x 4 or 2 processes x 2)",
              "device": device, "cpu_count": os.cpu_count(), "versions": versions,
              "runs": runs, "max_relative_difference_to_single": compare(runs)}
    if "fsdp" not in runs and not torch.cuda.is_available():
        result["fsdp"] = ("not run: accelerate enables FSDP only for accelerator runs; on CPU processes the config "
                          "is ignored and the run is plain DDP (training_arguments refuses it)")
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
