"""Sizes, token ids and timing shared by the benchmark scripts.

Plain torch only: bench_original.py imports this in a transformers 4.32 environment without qwen_audio_hf, so the
torch-free foundations (token ids, audio lengths) are loaded straight from this checkout's source files.
"""

import importlib.util
import re
import statistics
import time
from pathlib import Path

import torch

_CORE = Path(__file__).resolve().parent.parent / "src" / "qwen_audio_hf" / "core"


def _load_core(name: str):
    """A module of qwen_audio_hf.core (pure Python, no package imports) loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"_qwen_audio_core_{name}", _CORE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


token_ids, audio_lengths = _load_core("token_ids"), _load_core("audio_lengths")
SAMPLE_RATE = audio_lengths.TARGET_SAMPLING_RATE
HOP = audio_lengths.HOP_LENGTH
MAX_FRAMES = audio_lengths.MAX_AUDIO_SAMPLES // HOP  # 30 s of log-mel frames
VOCAB = token_ids.PADDED_VOCAB_SIZE
AUDIO_PAD, AUDIO_START, AUDIO_END = token_ids.AUDIO_PAD_ID, token_ids.AUDIO_START_ID, token_ids.AUDIO_END_ID

# Model sizes; "full" is Qwen-Audio's (Whisper-large-v2 encoder + Qwen-7B decoder).
SIZES = {
    "tiny": dict(d_model=64, enc_layers=2, enc_heads=4, hidden=128, layers=2, heads=4, inter=256),
    "small": dict(d_model=384, enc_layers=4, enc_heads=6, hidden=512, layers=4, heads=8, inter=1376),
    "full": dict(d_model=1280, enc_layers=32, enc_heads=20, hidden=4096, layers=32, heads=32, inter=11008),
}


def mel_frames(seconds: float) -> int:
    """Log-mel frames of a clip (capped at 30 s)."""
    return audio_lengths.mel_frames_for_samples(int(seconds * SAMPLE_RATE))


def timed(fn, repeats: int, device) -> float:
    """Median wall time in milliseconds over `repeats` runs after one warm-up."""

    def sync():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def add_common_arguments(parser) -> None:
    """The options every latency script takes, with the same defaults."""
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2, 5, 10, 30])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", help="write the results as JSON here")


def print_row(name: str, batch: int, seconds: float, encoder_ms: float, end_to_end_ms: float, new_tokens: int) -> None:
    print(
        f"{name:12s} batch={batch:2d} clip={seconds:5.1f}s  encoder {encoder_ms:9.1f} ms"
        f"  prefill+{new_tokens} greedy {end_to_end_ms:9.1f} ms",
        flush=True,
    )


def cpu_info() -> dict:
    """The CPU (model, vector flags) and torch's view of it (capability, threads, int8 engine)."""
    text = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", text)[1].strip()
    flags = re.search(r"flags\s*:\s*(.+)", text)[1].split()
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile", "avx_vnni")
    return {"model": model, "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "flags": [f for f in wanted if f in flags], "threads": torch.get_num_threads(),
            "quantized_engine": torch.backends.quantized.engine, "torch": torch.__version__}
