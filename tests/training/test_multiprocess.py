"""Data-parallel pretraining in 2 CPU processes (torchrun, gloo) reproduces the single-process run.

The single-process run uses batch 4; the 2-process run uses batch 2 per process (same global batch, same rows:
sequential sampling, same seed, dropout 0). The rows' targets have different lengths, so the per-process token
counts differ and only a loss normalised by the global token count matches the single-process loss.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
PRETRAIN = os.path.join(EXAMPLES, "pretrain.py")


def _arguments(processor_dir, data, output_dir, batch_size):
    return ["--tiny", "--processor", processor_dir, "--data", data, "--output-dir", str(output_dir),
            "--batch-size", str(batch_size), "--max-steps", "2", "--sequential", "--logging-steps", "1",
            "--warmup-steps", "0", "--learning-rate", "1e-3", "--save-steps", "100", "--seed", "0"]


def _losses(output_dir):
    with open(os.path.join(output_dir, "log_history.json"), encoding="utf-8") as handle:
        return {entry["step"]: entry for entry in json.load(handle) if "loss" in entry}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_pretraining_matches_single_process(processor_dir, pretraining_jsonl, tmp_path):
    """DDP through torchrun (gloo on CPU). DeepSpeed ZeRO-2 through accelerate launch is run by
    benchmarks/run_engines.py (its first run compiles DeepSpeed's CPU communication op: minutes); FSDP is refused
    on CPU (test_recipes.py)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), PRETRAIN,
               *_arguments(processor_dir, pretraining_jsonl, tmp_path / "ddp", batch_size=2)]
    launched = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    # Meanwhile, the single-process reference in this process.
    sys.path.insert(0, EXAMPLES)
    try:
        import pretrain
    finally:
        sys.path.remove(EXAMPLES)
    pretrain.main(_arguments(processor_dir, pretraining_jsonl, tmp_path / "single", batch_size=4))

    output, _ = launched.communicate(timeout=240)
    assert launched.returncode == 0, output[-4000:]
    with open(tmp_path / "ddp" / "run_info.json", encoding="utf-8") as handle:
        info = json.load(handle)
    assert info == {"world_size": 2, "engine": "ddp", "zero_stage": None, "wrapped_model": "DistributedDataParallel"}
    single, ddp = _losses(tmp_path / "single"), _losses(tmp_path / "ddp")
    assert sorted(single) == sorted(ddp) == [1, 2]
    assert ddp[1]["epoch"] == single[1]["epoch"] == 1.0  # 4 rows = one global batch, so both saw every row
    assert ddp[1]["loss"] == pytest.approx(single[1]["loss"], rel=1e-5)
    assert ddp[1]["grad_norm"] == pytest.approx(single[1]["grad_norm"], rel=1e-4)  # averaged gradients agree
    assert ddp[2]["loss"] == pytest.approx(single[2]["loss"], rel=1e-5)  # so do the updated weights
    print(f"single-process losses {single[1]['loss']:.6f}, {single[2]['loss']:.6f}; "
          f"2-process losses {ddp[1]['loss']:.6f}, {ddp[2]['loss']:.6f}")
