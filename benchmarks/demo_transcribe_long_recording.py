"""Transcribe the demo's long recording with the demo model through the CLI, as README shows, and score it.

    python benchmarks/demo_transcribe_long_recording.py outputs/demo benchmarks/results/demo_transcribe_long_recording.json

Runs the command the demo prints (metrics.json -> speech_long_form.command, paths relative to the current folder),
then scores the JSON it wrote against DIR/long_recording_truth.json: WER (evaluation.metrics.word_error_rate) and
utterance start errors (demo.long_form.utterance_start_errors), next to the figures the demo itself reported.
"""
import json
import os
import shlex
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np

from qwen_audio_hf.demo.long_form import utterance_start_errors
from qwen_audio_hf.evaluation.metrics import word_error_rate

demo_dir, out = sys.argv[1], sys.argv[2]
wav, model_dir = os.path.join(demo_dir, "long_recording.wav"), os.path.join(demo_dir, "model")
demo_metrics = json.load(open(os.path.join(demo_dir, "metrics.json")))
demo_run = demo_metrics["speech_long_form"]
printed = shlex.split(demo_run["command"])  # the demo's own command, run here on DIR's files
options = [item for flag in ("--chunk-length-s", "--max-new-tokens") for item in (flag, printed[printed.index(flag) + 1])]
command = ["qwen-audio-hf", "transcribe", wav, "--model", model_dir, "--timestamps", *options, "--output-dir", demo_dir]
begin = time.time()
done = subprocess.run(command, capture_output=True, text=True, check=True)
seconds = time.time() - begin
result = json.load(open(os.path.join(demo_dir, "long_recording.json")))
truth = json.load(open(os.path.join(demo_dir, "long_recording_truth.json")))
words = [SimpleNamespace(start=w["start_s"]) for w in result["words"]]
errors = [e for e in utterance_start_errors(truth, words) if e is not None]
record = {
    "command": shlex.join(command),
    "stdout": done.stdout,
    "seconds": round(seconds, 1),
    "duration_s": result["duration_s"],
    "windows": len(result["windows"]),
    "utterances": len(truth),
    "wer": word_error_rate([" ".join(t["text"] for t in truth)], [result["text"]]),
    "median_start_error_s": float(np.median(errors)) if errors else None,
    "utterances_with_start": len(errors),
    "demo_reported": {key: demo_run.get(key) for key in ("wer", "median_start_error_s", "utterances", "recording_s")},
    "demo_run": {"seconds": demo_metrics.get("seconds"), "parameters": demo_metrics.get("parameters"),
                 "held_out_asr_wer": demo_metrics.get("speech", {}).get("asr_wer"),
                 "held_out_asr_audio_zeroed_wer": demo_metrics.get("speech", {}).get("asr_audio_zeroed_wer")},
    "first_words": result["words"][:12],
    "truth_first_utterances": truth[:4],
    "text_head": result["text"][:400],
}
json.dump(record, open(out, "w"), indent=1)
print(json.dumps({k: v for k, v in record.items() if k not in ("first_words", "truth_first_utterances")}, indent=1))
