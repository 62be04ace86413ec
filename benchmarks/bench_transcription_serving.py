"""vLLM's /v1/audio/transcriptions against `qwen-audio-hf transcribe` and the HF ASR pipeline, in one run.

    QWEN_AUDIO_VLLM_VENV=.venv-vllm bash .ci/vllm_check.sh        # builds vLLM's environment (and tests it)
    python benchmarks/bench_transcription_serving.py --vllm-python .venv-vllm/bin/python \
        --out benchmarks/results/cpu_small_transcription_serving.json

Model: the "small" size of ``_common.SIZES`` built by ``tests/tiny_models.tiny_model`` (random weights redrawn
with std 0.08, so the tokens depend on the audio), saved as a converted folder. Recordings: silence with white-noise
"utterances" of 2-8 s separated by 0.3-1.2 s pauses (``tests/long_form/signals.recording``, the layout of
bench_long_form.py): one of 10 minutes, and 16 of 30 s - 3 min. Scenarios: the 10-minute recording alone, then 1,
4 and 16 of the short ones at once. Every engine cuts the same 30 s windows at pauses and decodes greedily, at most
``--max-new-tokens`` per window.

- ``vllm``: the OpenAI-compatible server with the package's routes (``serving.transcription``), started once;
  N requests sent from N threads; a request's latency is its round trip; generated tokens from ``/metrics``.
- ``transcribe``: ``qwen-audio-hf transcribe FILES --batch-size 8`` run in this process (its model load included,
  as a user runs it); a file's latency is when its output file is written.
- ``pipeline``: ``pipeline("automatic-speech-recognition", model=DIR, batch_size=8)`` built once, called on the
  list of files; it answers once for the list, so every file's latency is the call's.

Throughput = audio seconds / wall seconds of a scenario. Texts are compared file by file across the engines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import SIZES, cpu_info  # noqa: E402  benchmarks/_common.py
from tests.long_form.signals import SR, recording  # noqa: E402
from tests.tiny_models import tiny_model  # noqa: E402

CHUNK_S = 30.0
HF_BATCH = 8


# ------------------------------------------------------------------------------------------------ inputs
def small_checkpoint(directory: Path, seq_length: int) -> None:
    from qwen_audio_hf import QwenAudioProcessor, QwenAudioTokenizer

    size = SIZES["small"]
    model = tiny_model(0, layers=size["layers"], hidden=size["hidden"], heads=size["heads"],
                       audio_d_model=size["d_model"], audio_heads=size["enc_heads"], audio_ffn=4 * size["d_model"],
                       intermediate_size=size["inter"], init_std=0.08, seq_length=seq_length)
    model.save_pretrained(directory)
    QwenAudioProcessor(tokenizer=QwenAudioTokenizer()).save_pretrained(directory)


def utterances(seconds: float, rng) -> list[tuple[float, float]]:
    spans, t = [], 0.3
    while t < seconds - 0.5:
        length = min(float(rng.uniform(2, 8)), seconds - 0.2 - t)
        spans.append((t, t + length))
        t += length + float(rng.uniform(0.3, 1.2))
    return spans


def write_recording(path: Path, seconds: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    soundfile.write(path, recording(utterances(seconds, rng), seconds, seed=seed), SR, subtype="PCM_16")
    return seconds


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def summary(audio_s: float, wall_s: float, latencies: list[float]) -> dict:
    return {"wall_s": round(wall_s, 3), "audio_s_per_wall_s": round(audio_s / wall_s, 2),
            "latency_p50_s": percentile(latencies, 50), "latency_p95_s": percentile(latencies, 95),
            "latencies_s": [round(x, 3) for x in latencies]}


# ------------------------------------------------------------------------------------------------ vLLM
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VllmServer:
    """`vllm serve DIR` with the transcription routes, in vLLM's own environment."""

    def __init__(self, python: str, checkpoint: Path, log: Path, args):
        import requests

        self.requests, self.checkpoint, self.max_new_tokens = requests, str(checkpoint), args.max_new_tokens
        self.url = f"http://127.0.0.1:{_free_port()}"
        command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.checkpoint,
                   "--port", self.url.rsplit(":", 1)[1], "--dtype", "float32", "--max-model-len", str(args.seq_length),
                   "--max-num-seqs", str(args.max_num_seqs), "--middleware",
                   "qwen_audio_hf.serving.transcription.TranscriptionRoutes"]
        env = {**os.environ, "QWEN_AUDIO_CHUNK_LENGTH_S": str(CHUNK_S),
               "VLLM_CPU_KVCACHE_SPACE": str(args.kv_cache_gib), "VLLM_CPU_OMP_THREADS_BIND": args.vllm_bind,
               "PYTHONPATH": str(ROOT / "src")}
        self.handle = open(log, "wb")
        self.process = subprocess.Popen(command, stdout=self.handle, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        deadline = time.monotonic() + 900
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"vllm server exited with {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"vllm server not healthy after 900 s:\n{log.read_text()[-3000:]}")
            time.sleep(2)

    def transcribe(self, path: Path) -> tuple[str, float]:
        start = time.perf_counter()
        with open(path, "rb") as handle:
            response = self.requests.post(
                f"{self.url}/v1/audio/transcriptions", files={"file": (path.name, handle.read())},
                data={"model": self.checkpoint, "max_completion_tokens": self.max_new_tokens}, timeout=3600)
        response.raise_for_status()
        return response.json()["text"], time.perf_counter() - start

    def generated_tokens(self) -> float:
        metrics = self.requests.get(f"{self.url}/metrics", timeout=10).text
        return sum(float(m[1]) for m in re.finditer(r"^vllm:generation_tokens_total\{[^}]*\} (\S+)$", metrics, re.M))

    def run(self, files: list[Path]) -> dict:
        tokens = self.generated_tokens()
        start = time.perf_counter()
        with ThreadPoolExecutor(len(files)) as pool:
            answers = list(pool.map(self.transcribe, files))
        wall = time.perf_counter() - start
        return {"texts": [a[0] for a in answers], "latencies": [a[1] for a in answers], "wall": wall,
                "generated_tokens": int(self.generated_tokens() - tokens)}

    def close(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.handle.close()


# ------------------------------------------------------------------------------------------------ HF paths
def run_transcribe(checkpoint: Path, files: list[Path], max_new_tokens: int) -> dict:
    from qwen_audio_hf.cli import main as cli

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        wall_start = time.time()
        code = cli(["transcribe", *map(str, files), "--model", str(checkpoint), "--batch-size", str(HF_BATCH),
                    "--chunk-length-s", str(CHUNK_S), "--max-new-tokens", str(max_new_tokens), "--format", "json",
                    "--output-dir", out, "--no-progress", "--device", "cpu"])
        wall = time.perf_counter() - start
        assert code == 0, f"transcribe exited with {code}"
        outputs = [Path(out) / f"{f.stem}.json" for f in files]
        latencies = [o.stat().st_mtime - wall_start for o in outputs]
        texts = [json.loads(o.read_text())["text"] for o in outputs]
    return {"texts": texts, "latencies": latencies, "wall": wall}


def run_pipeline(asr, files: list[Path], max_new_tokens: int) -> dict:
    start = time.perf_counter()
    results = asr([str(f) for f in files], chunk_length_s=CHUNK_S, max_new_tokens=max_new_tokens)
    wall = time.perf_counter() - start
    return {"texts": [r["text"] for r in results], "latencies": [wall] * len(files), "wall": wall}


# ------------------------------------------------------------------------------------------------ the run
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vllm-python",
                        default=os.path.join(os.environ.get("QWEN_AUDIO_VLLM_VENV", ".venv-vllm"), "bin", "python"),
                        help="python of the vLLM environment (.ci/vllm_check.sh builds it; default "
                             "$QWEN_AUDIO_VLLM_VENV/bin/python, else .venv-vllm/bin/python)")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--short-s", type=float, nargs=2, default=[30.0, 180.0], help="range of the short recordings")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-new-tokens", type=int, default=32, help="per window (greedy)")
    parser.add_argument("--seq-length", type=int, default=1024, help="model context = vLLM --max-model-len")
    parser.add_argument("--max-num-seqs", type=int, default=16, help="vLLM's running-batch limit")
    parser.add_argument("--kv-cache-gib", type=int, default=1)
    parser.add_argument("--vllm-bind", default="auto",
                        help="VLLM_CPU_OMP_THREADS_BIND: auto (one thread per physical core, one core left to the "
                             "server), or cores such as 0-1")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of the HF paths")
    parser.add_argument("--engines", nargs="+", default=["vllm", "transcribe", "pipeline"])
    parser.add_argument("--out", default="benchmarks/results/cpu_small_transcription_serving.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="bench_transcription_"))
    checkpoint = work / "checkpoint"
    small_checkpoint(checkpoint, args.seq_length)
    rng = np.random.default_rng(1)
    durations = {"long": write_recording(work / "long.wav", args.long_minutes * 60, seed=100)}
    shorts = []
    for index in range(max(args.concurrency)):
        path = work / f"short{index:02d}.wav"
        durations[path.stem] = write_recording(path, round(float(rng.uniform(*args.short_s)), 1), seed=index)
        shorts.append(path)
    warm = work / "warmup.wav"
    write_recording(warm, 20.0, seed=999)
    scenarios = {"long_10min": [work / "long.wav"], **{f"concurrent_{n}": shorts[:n] for n in args.concurrency}}

    runs: dict[str, dict] = {}
    machine = {"cpu": cpu_info(), "cpu_count": os.cpu_count(), "contended": True,
               "contended_by": "3 other helper sessions on the same machine",
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "hf_torch_threads": torch.get_num_threads(),
               "load_average_1_5_15": {}}
    for engine in args.engines:
        machine["load_average_1_5_15"][f"before_{engine}"] = [round(x, 2) for x in os.getloadavg()]
        print(f"--- {engine}", flush=True)
        if engine == "vllm":
            server = VllmServer(args.vllm_python, checkpoint, work / "vllm_server.log", args)
            try:
                server.run([warm])
                runs[engine] = {name: server.run(files) for name, files in scenarios.items()}
            finally:
                server.close()
            machine["vllm_threads"] = vllm_threads(work / "vllm_server.log")
        elif engine == "transcribe":
            run_transcribe(checkpoint, [warm], args.max_new_tokens)
            runs[engine] = {name: run_transcribe(checkpoint, files, args.max_new_tokens)
                            for name, files in scenarios.items()}
        else:
            from transformers import pipeline

            start = time.perf_counter()
            asr = pipeline("automatic-speech-recognition", model=str(checkpoint), batch_size=HF_BATCH,
                           device="cpu", dtype=torch.float32)
            machine["pipeline_build_s"] = round(time.perf_counter() - start, 2)
            run_pipeline(asr, [warm], args.max_new_tokens)
            runs[engine] = {name: run_pipeline(asr, files, args.max_new_tokens) for name, files in scenarios.items()}
            del asr
        for name, run in runs[engine].items():
            print(f"{engine:10s} {name:14s} {sum(durations[f.stem] for f in scenarios[name]) / run['wall']:8.2f} "
                  f"audio s / s", flush=True)
    machine["load_average_1_5_15"]["after"] = [round(x, 2) for x in os.getloadavg()]
    write_results(args, machine, durations, scenarios, runs, checkpoint)
    shutil.rmtree(work)


def vllm_threads(log: Path) -> list[str]:
    """vLLM's CPU worker's report of its OpenMP thread binding (cores it computes on, cores left to the server)."""
    return [line.split("] ", 1)[1].strip() for line in log.read_text(errors="replace").splitlines()
            if "ompmultiprocessing.py" in line and "] " in line][:6]


def decoded_windows(path: Path) -> int:
    """Windows of the recording that are sent to the model (the plan every engine runs; silent ones are not)."""
    from qwen_audio_hf.long_form.reading import read_long_audio
    from qwen_audio_hf.serving.transcription import plan_clips

    return sum(clip is not None for _, clip in plan_clips(read_long_audio(str(path)), CHUNK_S, "energy"))


def write_results(args, machine: dict, durations: dict, scenarios: dict, runs: dict, checkpoint: Path) -> None:
    engines = list(runs)
    results = {}
    for name, files in scenarios.items():
        audio_s = sum(durations[f.stem] for f in files)
        row = {"files": [f.stem for f in files], "audio_s": round(audio_s, 1)}
        for engine in engines:
            run = runs[engine][name]
            row[engine] = summary(audio_s, run["wall"], run["latencies"])
            if "generated_tokens" in run:
                row[engine]["generated_tokens"] = run["generated_tokens"]
        texts = {engine: runs[engine][name]["texts"] for engine in engines}
        first = texts[engines[0]]
        row["identical_text_per_file"] = [all(texts[e][i] == first[i] for e in engines) for i in range(len(files))]
        row["text_chars_per_file"] = [len(t) for t in first]
        row["decoded_windows"] = sum(decoded_windows(f) for f in files)
        row["max_generated_tokens"] = row["decoded_windows"] * args.max_new_tokens
        for engine in engines[1:]:
            row[f"{engines[0]}_vs_{engine}_audio_s_per_s"] = round(
                row[engines[0]]["audio_s_per_wall_s"] / row[engine]["audio_s_per_wall_s"], 2)
        results[name] = row
    from qwen_audio_hf.modeling import QwenAudioConfig

    config = QwenAudioConfig.from_pretrained(checkpoint)
    out = {
        "what": "transcription of synthetic recordings with pauses (random-weight small model): vLLM server "
                "/v1/audio/transcriptions vs qwen-audio-hf transcribe (HF generate, batch 8) vs "
                "pipeline('automatic-speech-recognition', batch_size=8), same model, files and windows, one run",
        "model": {"size": "small (benchmarks/_common.py SIZES)", "random_weights_std": 0.08,
                  "audio": {k: getattr(config.audio_config, k) for k in ("d_model", "encoder_layers",
                                                                          "encoder_attention_heads")},
                  "text": {k: getattr(config.text_config, k) for k in ("hidden_size", "num_hidden_layers",
                                                                       "num_attention_heads", "vocab_size")},
                  "dtype": "float32"},
        "decoding": {"greedy": True, "max_new_tokens_per_window": args.max_new_tokens, "chunk_length_s": CHUNK_S,
                     "hf_batch_size": HF_BATCH, "vllm_max_num_seqs": args.max_num_seqs,
                     "vllm_max_model_len": args.seq_length, "vllm_kv_cache_gib": args.kv_cache_gib,
                     "vllm_cpu_omp_threads_bind": args.vllm_bind},
        "machine": machine,
        "notes": "throughput = audio seconds / wall seconds; transcribe's wall includes its model load (it is a "
                 "command); pipeline latencies are the whole call's (it answers a list at once); "
                 "generated_tokens: vLLM's /metrics counter over the scenario; max_generated_tokens = decoded "
                 "windows x max_new_tokens; text_chars_per_file: length of the transcript",
        "scenarios": results,
    }
    c16 = results.get("concurrent_16", {})
    if "vllm" in engines and c16:
        ratios = [c16[k] for k in c16 if k.startswith("vllm_vs_")]
        out["goal_vllm_at_least_3x_hf_at_16_concurrent"] = bool(ratios) and min(ratios) >= 3.0
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: {e: v[e]["audio_s_per_wall_s"] for e in engines} for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
