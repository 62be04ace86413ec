"""Long-form benchmark: an hour of synthetic audio through the long-form path, batched vs one window at a time.

The recording (noise "utterances" of 2-8 s separated by 0.3-1.2 s pauses, written to a 16 kHz wav) is read and
segmented once (time and peak RSS reported), then decoded by `LongFormDecoder` with ``--batch-size`` windows per
batch and with one window per call. Every window generates exactly ``--new-tokens`` tokens (EOS suppressed with
``min_new_tokens``), so runs are comparable. Real-time factor = audio seconds / wall seconds.

    python benchmarks/bench_long_form.py --size small --minutes 60                     # CPU
    python benchmarks/bench_long_form.py --size full --device cuda --dtype bfloat16 --batch-size 32

``--windows N`` decodes only the first N windows in both modes (same windows), for slow machines.
"""

import argparse
import json
import os
import resource
import tempfile
import time

import numpy as np
import torch

from qwen_audio_hf.long_form import LongFormDecoder, build_task
from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor
from qwen_audio_hf.long_form.reading import read_long_audio
from qwen_audio_hf.long_form.windows import active_region, segment
from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer

from _common import SIZES  # benchmarks/_common.py
from bench_latency import build

SR = 16000


def write_recording(path: str, minutes: float, seed: int = 0) -> float:
    """Noise utterances and pauses, streamed to a 16-bit wav; returns its duration in seconds."""
    import soundfile

    rng = np.random.default_rng(seed)
    total, target = 0, int(minutes * 60 * SR)
    with soundfile.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16") as handle:
        while total < target:
            speech = int(rng.uniform(2, 8) * SR)
            pause = int(rng.uniform(0.3, 1.2) * SR)
            block = np.concatenate([0.2 * rng.standard_normal(speech), 1e-4 * rng.standard_normal(pause)])
            block = block[: target - total]
            handle.write(block.astype(np.float32))
            total += block.shape[0]
    return total / SR


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--attn", default="sdpa")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--chunk-length-s", type=float, default=30.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=96)
    parser.add_argument("--windows", type=int, default=None, help="decode only the first N windows (both modes)")
    parser.add_argument("--skip-sequential", action="store_true")
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "hour.wav")
        duration = write_recording(path, args.minutes)
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        waveform = read_long_audio(path)
        windows = segment(waveform, args.chunk_length_s)
        read_segment_s = time.perf_counter() - start
        rss_after = peak_rss_mb()
    print(f"{duration / 60:.1f} min -> {len(windows)} windows; read + segment {read_segment_s:.2f} s, "
          f"peak RSS {rss_before:.0f} -> {rss_after:.0f} MB (waveform {waveform.nbytes / 1e6:.0f} MB)", flush=True)

    selected = windows[: args.windows] if args.windows else windows
    clips = []
    for window in selected:
        first, last = active_region(waveform, window.start, window.end)
        clips.append(waveform[first:last])
    audio_s = sum(c.shape[0] for c in clips) / SR

    dtype = getattr(torch, args.dtype)
    model = build("ours", SIZES[args.size], args.attn, dtype, args.device)
    processor = QwenAudioProcessor(QwenAudioFeatureExtractor(), QwenAudioTokenizer())
    task = build_task("asr")
    fixed = {"min_new_tokens": args.new_tokens}
    results = {"size": args.size, "device": args.device, "dtype": args.dtype, "attn": args.attn,
               "torch_threads": torch.get_num_threads(), "recording_s": round(duration, 2), "windows": len(windows),
               "decoded_windows": len(clips), "decoded_audio_s": round(audio_s, 2), "new_tokens": args.new_tokens,
               "read_and_segment_s": round(read_segment_s, 3), "peak_rss_mb_before_read": round(rss_before),
               "peak_rss_mb_after_read": round(rss_after), "waveform_mb": round(waveform.nbytes / 1e6, 1)}
    modes = [("batched", args.batch_size)] + ([] if args.skip_sequential else [("sequential", 1)])
    for name, batch in modes:
        decoder = LongFormDecoder(model, processor, chunk_length_s=args.chunk_length_s, batch_size=batch,
                                  max_new_tokens=args.new_tokens, generate_kwargs=fixed)
        decoder.decode_clips(clips[:batch], task)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for begin in range(0, len(clips), batch):
            decoder.decode_clips(clips[begin : begin + batch], task)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        results[name] = {"batch_size": batch, "seconds": round(seconds, 2), "real_time_factor": round(audio_s / seconds, 1)}
        print(f"{name:10s} batch {batch:3d}: {seconds:8.1f} s for {audio_s:.0f} s of audio "
              f"= {audio_s / seconds:.1f}x real time", flush=True)
    if "sequential" in results:
        results["batched_speedup"] = round(results["sequential"]["seconds"] / results["batched"]["seconds"], 2)
        print(f"batched / sequential speed-up: {results['batched_speedup']}x")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
