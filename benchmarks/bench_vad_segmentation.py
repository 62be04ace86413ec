"""Energy vs VAD segmentation on recordings with noise / music beds (no model: the window plans themselves).

    python benchmarks/bench_vad_segmentation.py --out benchmarks/results/cpu_vad_segmentation.json

Recordings: 5-minute synthetic ones, a continuous music bed (a sustained chord) or noise bed under utterances of a
speech-like vowel train (tests/long_form/signals.py: pulse train through vowel formants; NOT real speech), 1-9 s
long, 1-6 s apart, at known places. Per plan (`long_form.planning.plan_windows`, 30 s windows):
- cuts_inside_speech: window boundaries that fall inside an utterance (0.1 s margin);
- utterances_lost: utterances less than half of which is decoded (the proxy for words lost: a word whose audio is
  not decoded is lost); utterances_clipped: utterances with more than 0.1 s not decoded;
  speech_seconds_missed: utterance seconds outside every decoded clip;
- bed_seconds_decoded: seconds outside every utterance that are sent to the model (energy mode sends the bed);
- plan_seconds: wall time of planning the windows (VAD: Silero scoring every 32 ms frame on one CPU thread).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from qwen_audio_hf.long_form.planning import plan_windows  # noqa: E402
from qwen_audio_hf.long_form.windows import active_region  # noqa: E402
from tests.long_form.signals import SR, speech_over_bed  # noqa: E402

MARGIN_S = 0.1


def utterance_layout(seconds: float, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    spans, t = [], 1.0
    while True:
        length = float(rng.uniform(1.0, 9.0))
        if t + length > seconds - 1.0:
            return spans
        spans.append((round(t, 2), round(t + length, 2)))
        t += length + float(rng.uniform(1.0, 6.0))


def decoded_regions(audio, windows):
    regions = []
    for window in windows:
        region = active_region(audio, window.start, window.end)
        if region is not None:
            regions.append((region[0] / SR, region[1] / SR))
    return regions


def measure(audio, utterances, segmentation: str) -> dict:
    start = time.perf_counter()
    windows = plan_windows(audio, 30.0, segmentation)
    plan_seconds = time.perf_counter() - start
    regions = decoded_regions(audio, windows)
    cuts = [w.end / SR for w in windows[:-1]] + [w.start / SR for w in windows[1:]]
    inside = {round(c, 3) for c in cuts if any(b + MARGIN_S < c < e - MARGIN_S for b, e in utterances)}
    grid = np.zeros(len(audio) // 160, bool)  # 10 ms cells decoded
    for rb, re in regions:
        grid[int(rb * 100) : int(re * 100)] = True
    speech = np.zeros_like(grid)
    for b, e in utterances:
        speech[int(b * 100) : int(e * 100)] = True
    missed = [float((~grid[int(b * 100) : int(e * 100)]).sum()) / 100 for b, e in utterances]
    return {"windows": len(windows), "cuts_inside_speech": len(inside),
            "utterances_lost": sum(m > 0.5 * (e - b) for m, (b, e) in zip(missed, utterances)),
            "utterances_clipped": sum(m > MARGIN_S for m in missed),
            "speech_seconds_missed": round(sum(missed), 2),
            "bed_seconds_decoded": round(float((grid & ~speech).sum()) / 100, 2),
            "speech_seconds_decoded": round(float((grid & speech).sum()) / 100, 2),
            "plan_seconds": round(plan_seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/cpu_vad_segmentation.json")
    args = parser.parse_args()
    runs = []
    for bed in ("music", "noise"):
        for seed in range(args.seeds):
            utterances = utterance_layout(args.seconds, seed)
            audio = speech_over_bed(utterances, args.seconds, bed=bed, seed=seed)
            speech_s = sum(e - b for b, e in utterances)
            row = {"bed": bed, "seed": seed, "seconds": args.seconds, "utterances": len(utterances),
                   "speech_seconds": round(speech_s, 2)}
            for segmentation in ("energy", "vad"):
                row[segmentation] = measure(audio, utterances, segmentation)
            runs.append(row)
            print(json.dumps(row))
    totals = {seg: {key: sum(r[seg][key] for r in runs) for key in ("cuts_inside_speech", "utterances_lost", "utterances_clipped")}
              for seg in ("energy", "vad")}
    for seg in ("energy", "vad"):
        for key in ("bed_seconds_decoded", "speech_seconds_missed"):
            totals[seg][key] = round(sum(r[seg][key] for r in runs), 2)
        totals[seg]["plan_seconds_per_audio_hour"] = round(
            3600 * sum(r[seg]["plan_seconds"] for r in runs) / sum(r["seconds"] for r in runs), 1)
    result = {"what": "window plans (no model) on synthetic vowel-train utterances over music/noise beds",
              "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared), OMP_NUM_THREADS="
                         f"{os.environ.get('OMP_NUM_THREADS', 'unset')}",
              "utterances_total": sum(r["utterances"] for r in runs), "totals": totals, "runs": runs}
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=1)
    print(json.dumps(totals, indent=1))


if __name__ == "__main__":
    main()
