"""Two processes (torch.distributed.run, CPU/gloo) split the data, and the main process writes the same
predictions as an in-process single-process run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from qwen_audio_hf.evaluation import evaluate
from qwen_audio_hf.evaluation.data import load_predictions
from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor
from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer

from ..tiny_models import tiny_decoding_model


def _run(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_two_processes_give_the_single_process_predictions(tmp_path):
    model = tiny_decoding_model(seed=0)
    processor = QwenAudioProcessor(QwenAudioFeatureExtractor(), QwenAudioTokenizer())
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    rows = []
    for index in range(5):
        wave = 0.1 * np.sin(np.arange(8000 * (index + 1)) / (3 + index))
        sf.write(tmp_path / f"clip{index}.wav", wave.astype(np.float32), 16000)
        rows.append({"audio": f"clip{index}.wav", "gt": "neutral", "source": "meld"})
    (tmp_path / "meld.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    common = ["--task", "meld", "--data", "meld.jsonl", "--model", "model", "--batch-size", "2", "--no-progress"]

    stdout = _run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "qwen_audio_hf", "eval", *common,
                   "--output-dir", "multi"], tmp_path)

    assert stdout.count("== meld") == 1  # only the main process scores and prints
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls on a shared machine: one thread avoids contention
    try:
        single = evaluate(model, processor, tmp_path / "meld.jsonl", "meld", batch_size=2, device="cpu",
                          progress=False).predictions
    finally:
        torch.set_num_threads(threads)
    multi = load_predictions(tmp_path / "multi" / "meld_predictions.jsonl")
    assert [r["index"] for r in multi] == [0, 1, 2, 3, 4]
    assert [r["response"] for r in multi] == [r["response"] for r in single]
