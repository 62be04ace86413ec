"""The demo's report: ``training_curves.png``, ``long_form_timeline.png`` and ``report.md`` in the output folder.

Everything is drawn from plain data, never from a model: the metrics dict the demo writes to ``metrics.json``
(per-task rows, the long-form results, ``loss_history``: each stage's Trainer ``log_history``), and for the
timeline the long recording itself, its truth utterances (``{"start_s", "end_s", "text"}``, optionally the
words' ``word_starts_s``) and its transcript in the schema ``qwen-audio-hf transcribe`` writes
(``LongFormResult.to_dict``: ``windows`` as planned, with their texts, and ``words`` with ``--timestamps``).
Mistakes are found by aligning truth and transcript words with jiwer over the tokens the package's WER counts.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..evaluation.text_normalization import error_rate_tokens, remove_special_tokens

TRAINING_CURVES = "training_curves.png"
TIMELINE = "long_form_timeline.png"
REPORT = "report.md"
STAGES = {"pretrain": "pretraining", "sft": "LoRA SFT"}
"""metrics.json's ``loss_history`` keys (each stage's Trainer log_history) -> the picture's panel titles."""
START_TOLERANCE_S = 0.3
"""Start-time error above which an utterance's start is marked (the issue's goal for the median)."""
METRICS = {"accuracy": "accuracy", "wer": "wer", "median_start_error_s": "seconds", "start_error_s": "seconds"}
"""Metric keys of a task row in metrics.json -> unit (panel) of the picture; ``audio_zeroed_<key>`` and
``chance`` (accuracy) or ``chance_<key>`` give the reference marks."""


# ------------------------------------------------------------------------------------------------ plain data
def loss_points(log_history: Sequence[Dict]) -> List[List[float]]:
    """``[step, loss]`` of every training-loss entry of a Trainer ``log_history`` (the final summary excluded)."""
    return [[int(entry["step"]), float(entry["loss"])] for entry in log_history if "loss" in entry and "step" in entry]


def task_rows(tasks: Dict[str, Dict]) -> List[Dict]:
    """One row per (task, metric) of metrics.json's ``tasks``: task, metric, unit, value, audio_zeroed, chance."""
    rows = []
    for task, row in tasks.items():
        for key, unit in METRICS.items():
            if key in row:
                chance = row.get("chance") if key == "accuracy" else row.get(f"chance_{key}")
                rows.append({"task": task, "metric": key, "unit": unit, "value": row[key],
                             "audio_zeroed": row.get(f"audio_zeroed_{key}"), "chance": chance})
    return rows


def metric_rows(metrics: Dict[str, Any]) -> List[Dict]:
    """Every held-out figure the pictures show: the chat tasks (``tasks``), the tagged speech tasks (``speech``:
    ASR WER and SRWT word-start error) and the long recording (``speech_long_form``: WER, start error)."""
    rows = task_rows(metrics.get("tasks", {}))
    speech = metrics.get("speech") or {}
    if "asr_wer" in speech:
        rows.append({"task": "asr (tagged prompt)", "metric": "wer", "unit": "wer", "value": speech["asr_wer"],
                     "audio_zeroed": speech.get("asr_audio_zeroed_wer"), "chance": None})
    if "srwt_median_word_start_error_s" in speech:
        rows.append({"task": "srwt (tagged prompt)", "metric": "median word-start error (s)", "unit": "seconds",
                     "value": speech["srwt_median_word_start_error_s"],
                     "audio_zeroed": speech.get("srwt_audio_zeroed_median_word_start_error_s"), "chance": None})
    long_run = metrics.get("speech_long_form") or {}
    if "wer" in long_run:
        rows.append({"task": "long recording", "metric": "wer", "unit": "wer", "value": long_run["wer"],
                     "audio_zeroed": None, "chance": None})
    if long_run.get("median_start_error_s") is not None:
        rows.append({"task": "long recording", "metric": "median utterance start error (s)", "unit": "seconds",
                     "value": long_run["median_start_error_s"], "audio_zeroed": None, "chance": None})
    return rows


def extra_curves(metrics: Dict[str, Any]) -> Dict[str, tuple]:
    """Curves besides the losses: the ASR WER on a few held-out clips during pretraining (``asr_wer_curve``)."""
    curve = metrics.get("asr_wer_curve") or {}
    points = [(point["step"], point["asr_wer"]) for point in curve.get("points", [])]
    if not points:
        return {}
    return {f"pretraining: ASR WER on {curve.get('clips', '?')} held-out clips": ("word error rate", points)}


def speech_recording(long_run: Dict[str, Any]) -> Dict[str, Any]:
    """The timeline's data from metrics.json's ``speech_long_form``: the recording it wrote (``audio``), its truth,
    and the transcript's windows (with the planner's ``forced`` flags) and timed words."""
    import soundfile

    waveform, rate = soundfile.read(long_run["audio"], dtype="float32")
    return {"waveform": waveform, "sample_rate": rate, "truth": long_run["truth"], "name": os.path.basename(long_run["audio"]),
            "transcript": {"windows": long_run["windows"], "words": long_run.get("words", [])},
            "forced": [window.get("forced", False) for window in long_run["windows"]]}


def _tokens(text: str, language: str) -> List[str]:
    return error_rate_tokens(remove_special_tokens(text, language), language)


def _spread(tokens: Sequence[str], start: float, end: float) -> List[float]:
    """Display times for tokens laid evenly over [start, end]."""
    return [start + (index + 0.5) * (end - start) / len(tokens) for index in range(len(tokens))]


def align_transcript(truth: Sequence[Dict], transcript: Dict, language: str = "en") -> Dict[str, List[Dict]]:
    """Truth utterances and transcript words aligned word by word (jiwer, on the WER's tokens).

    A truth utterance may carry its words' absolute ``starts`` (or ``word_starts_s``; and ``ends``) to place them; otherwise its words
    are laid evenly over it. Returns ``utterances``: each truth utterance with its ``words`` (text, display time, status ``equal`` /
    ``substitute`` / ``delete``) and ``hypothesis_start_s`` (the transcript's start of it as the long-form metric
    finds it, `long_form.utterance_starts`; only when the transcript has word timestamps), and ``words``: the transcript's words with
    their time and status (``equal`` / ``substitute`` / ``insert``). Without word timestamps the words of each
    window's text are laid evenly over the window."""
    import jiwer

    utterances, reference = [], []
    for item in truth:
        tokens = _tokens(item["text"], language)
        starts = item.get("starts", item.get("word_starts_s"))
        if starts is not None and len(starts) == len(tokens):  # true word starts: draw each word in its middle
            ends = list(item.get("ends") or list(starts[1:]) + [item["end_s"]])
            times = [(start + end) / 2 for start, end in zip(starts, ends)]
        else:
            times = _spread(tokens, item["start_s"], item["end_s"])
        words = [{"text": token, "time_s": time, "status": "delete"} for token, time in zip(tokens, times)]
        utterances.append({**item, "words": words, "hypothesis_start_s": None})
        reference += words
    hypothesis = []
    timed = bool(transcript.get("words"))
    pieces = transcript["words"] if timed else transcript.get("windows", [])
    for piece in pieces:
        tokens = _tokens(piece["text"], language)
        times = ([(piece["start_s"] + piece["end_s"]) / 2] * len(tokens) if timed else
                 _spread(tokens, piece["start_s"], piece["end_s"]))
        hypothesis += [{"text": token, "time_s": time, "start_s": piece["start_s"] if timed else None,
                        "status": "insert"} for token, time in zip(tokens, times)]
    if reference and hypothesis:
        output = jiwer.process_words(" ".join(w["text"] for w in reference), " ".join(w["text"] for w in hypothesis))
        for chunk in output.alignments[0]:
            if chunk.type in ("equal", "substitute"):
                for ref, hyp in zip(range(chunk.ref_start_idx, chunk.ref_end_idx),
                                    range(chunk.hyp_start_idx, chunk.hyp_end_idx)):
                    reference[ref]["status"] = hypothesis[hyp]["status"] = chunk.type
    if timed:  # the start the long-form metric measures (demo.long_form.utterance_starts)
        from .long_form import utterance_starts

        for utterance, start in zip(utterances, utterance_starts(truth, [w["start_s"] for w in transcript["words"]])):
            utterance["hypothesis_start_s"] = start
    return {"utterances": utterances, "words": hypothesis}


# ------------------------------------------------------------------------------------------------ writing
def write_report(output_dir: str, metrics: Dict[str, Any], recording: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """Write the pictures and report.md into ``output_dir``; returns their paths.

    ``metrics``: the dict of metrics.json. ``recording`` (for the timeline): ``waveform`` (16 kHz float array),
    ``sample_rate``, ``truth`` (utterances), ``transcript`` (the transcribe JSON), optional ``forced`` (one flag
    per window: its end cut no pause, from the planner's windows), ``language``, ``name`` and ``items`` (what the
    truth entries are, for the title: "utterances")."""
    from . import pictures

    os.makedirs(output_dir, exist_ok=True)
    histories = metrics.get("loss_history", {})
    losses = {STAGES.get(stage, stage): loss_points(history) for stage, history in histories.items()}
    paths = {"training_curves": pictures.training_curves(os.path.join(output_dir, TRAINING_CURVES), losses,
                                                         metric_rows(metrics), extra_curves(metrics))}
    if metrics.get("speech_long_form"):  # the speech recording is the headline; the sound stage's is the fallback
        recording = speech_recording(metrics["speech_long_form"])
    if recording is not None:
        transcript = recording["transcript"]
        aligned = align_transcript(recording["truth"], transcript, recording.get("language", "en"))
        forced = recording.get("forced") or [False] * len(transcript["windows"])
        windows = [{**window, "forced": bool(flag)} for window, flag in zip(transcript["windows"], forced)]
        name, items = recording.get("name", "the long recording"), recording.get("items", "utterances")
        paths["timeline"] = pictures.long_form_timeline(
            os.path.join(output_dir, TIMELINE), np.asarray(recording["waveform"]), recording["sample_rate"], windows,
            aligned["utterances"], aligned["words"], start_tolerance_s=START_TOLERANCE_S,
            title=f"{name}: {len(recording['truth'])} {items}, {len(windows)} windows, decoded by the demo model")
    report = os.path.join(output_dir, REPORT)
    with open(report, "w", encoding="utf-8") as handle:
        handle.write(render_report(metrics, has_timeline="timeline" in paths))
    paths["report"] = report
    return paths


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _scalars(data: Dict[str, Any], prefix: str = "") -> List[tuple]:
    """(dotted key, value) of every number/string in a nested dict (lists left out)."""
    found = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += _scalars(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float, str)) or value is None:
            found.append((prefix + key, value))
    return found


LONG_RUN_FIGURES = (("recording_s", "recording length (s)"), ("utterances", "utterances"),
                    ("noisy_pauses", "pauses with a noise burst"), ("chunk_length_s", "longest window (s)"),
                    ("wer", "WER"), ("median_start_error_s", "median utterance start error (s)"),
                    ("utterances_found_fraction", "fraction of utterances with a transcript word near their start"),
                    ("cuts_in_pause_fraction", "fraction of cuts in a pause"), ("forced_cuts", "forced cuts"),
                    ("seconds", "decoding time (s)"))


def render_report(metrics: Dict[str, Any], has_timeline: bool) -> str:
    """report.md: the pictures and the metrics tables, all numbers taken from ``metrics``."""
    settings = metrics.get("settings", {})
    lines = ["# qwen-audio-hf demo report", ""]
    params = metrics.get("parameters")
    lines.append(f"Tiny QwenAudio ({f'{params:,}' if isinstance(params, int) else '–'} parameters, vocabulary "
                 f"{_number(metrics.get('vocab_size'))}), seed {_number(settings.get('seed'))}; wall time of the "
                 f"demo: **{_number(metrics.get('seconds'))} s**. Every figure here is read from `metrics.json`.")
    lines += ["", f"![training curves]({TRAINING_CURVES})", "", "## Held-out evaluation", "",
              "| task | metric | with the audio | audio zeroed | chance |", "|---|---|---:|---:|---:|"]
    for row in metric_rows(metrics):
        lines.append(f"| {row['task']} | {row['metric']} | {_number(row['value'])} | {_number(row['audio_zeroed'])} "
                     f"| {_number(row['chance'])} |")
    before, after = metrics.get("tagged_after_pretraining"), metrics.get("tagged_after_sft")
    if before and after:
        lines += ["", "## Tagged (base-model) prompts before and after SFT", "",
                  "| tagged accuracy after pretraining | after SFT | after / before |", "|---:|---:|---:|",
                  f"| {_number(before.get('accuracy'))} | {_number(after.get('accuracy'))} "
                  f"| {_number(metrics.get('tagged_accuracy_ratio_after_sft'))} |"]
    long_run = metrics.get("speech_long_form")
    if long_run:
        lines += ["", "## The long recording", ""]
        if has_timeline:
            lines += [f"![long-form timeline]({TIMELINE})", ""]
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {label} | {_number(long_run[key])} |" for key, label in LONG_RUN_FIGURES if key in long_run]
        if long_run.get("command"):
            lines += ["", "Transcribe it yourself:", "", "```bash", long_run["command"], "```"]
    long_form = metrics.get("long_form")
    if long_form:
        lines += ["", "## Long-form stage on sound clips", ""]
        if has_timeline and not long_run:
            lines += [f"![long-form timeline]({TIMELINE})", ""]
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {key} | {_number(value)} |" for key, value in _scalars(long_form)]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---:|"]
    lines += [f"| {key} | {_number(value)} |" for key, value in _scalars(settings)]
    return "\n".join(lines) + "\n"


__all__ = ["START_TOLERANCE_S", "align_transcript", "loss_points", "metric_rows", "render_report", "speech_recording",
           "task_rows", "write_report"]
