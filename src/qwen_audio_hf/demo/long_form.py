"""Long-form stage of the demo: held-out clips in one recording of >= 2 minutes, decoded through the long-form path.

The clips (1 s each) are laid end to end with silences of random length (`SILENCE_RANGE_S`, faint -70 dBFS hiss)
and the recording goes through `long_form.LongFormDecoder` with `CHUNK_LENGTH_S` windows: shorter than two clips
and the silence between them, so the segmenter has to cut in every silence. Each task gets one pass over the whole
recording with its prompt; a clip counts as recovered when the window holding it gives the clip's answer. For the
event task the window's onset/offset (chat: "0.10-0.30"; tagged: `<|t|>` tokens shifted by the stitcher), moved to
absolute time by where the window's audio starts, must land on the burst's true absolute onset/offset (within
15 ms, i.e. the 0.01 s grid of the held-out check). The headline uses the chat prompts the demo's final model is
evaluated with; after chat SFT the tagged prompts are reported too, next to the same clips decoded alone.
The headline run also returns ``timeline``: the recording, its clips as truth (their labels) and each window's
answer (from its clip's task pass), for the report's ``long_form_timeline.png``.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from ..core.token_ids import IM_END
from ..long_form import LongFormDecoder, LongFormTask
from ..long_form.stitching import parse_window
from ..long_form.windows import segment
from ..processing.tags import TimeSpan

SAMPLE_RATE = 16000
MIN_RECORDING_S = 120.0
SILENCE_RANGE_S = (1.0, 2.0)
SILENCE_LEVEL = 3e-4
"""RMS of the hiss in the silences (-70 dBFS, under the segmenter's -60 dBFS silence threshold)."""
CHUNK_LENGTH_S = 2.9
"""Windows hold at most one clip (two clips and the shortest silence need 3 s) and always reach a silence."""
TIME_TOLERANCE_S = 0.015
_PLAIN_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)")


def build_recording(examples: Sequence[Dict], seed: int, min_seconds: float = MIN_RECORDING_S,
                    ) -> Tuple[np.ndarray, List[Tuple[Dict, int]]]:
    """Clips of ``examples`` in order, each after a random silence, until ``min_seconds`` are reached.
    Returns the recording and (example, start sample) for every clip used. Silences are whole 10 ms steps."""
    rng = np.random.default_rng(seed)
    pieces, placed, length = [], [], 0
    for example in examples:
        gap = int(round(rng.uniform(*SILENCE_RANGE_S) * 100)) * SAMPLE_RATE // 100
        pieces.append((SILENCE_LEVEL * rng.standard_normal(gap)).astype(np.float32))
        placed.append((example, length + gap))
        pieces.append(np.asarray(example["audio"], dtype=np.float32))
        length += gap + len(example["audio"])
        if length >= min_seconds * SAMPLE_RATE:
            break
    else:
        raise ValueError(f"{len(examples)} clips make only {length / SAMPLE_RATE:.1f} s; pass more held-out clips")
    tail = int(SILENCE_RANGE_S[0] * SAMPLE_RATE)
    pieces.append((SILENCE_LEVEL * rng.standard_normal(tail)).astype(np.float32))
    return np.concatenate(pieces), placed


def _event_spans(response: str, offset_s: float) -> List[TimeSpan]:
    """Absolute spans of an event answer: ``<|t0|><|t1|>`` grounding tags (shifted by the stitcher's parser) or
    the chat answer's plain ``"0.10-0.30"`` (shifted here by the same window offset)."""
    spans = [span for phrase in parse_window(response, offset_s, None)[2] for span in phrase.spans]
    if spans:
        return spans
    match = _PLAIN_SPAN.fullmatch(response.replace(IM_END, "").strip())
    return [TimeSpan(float(match[1]) + offset_s, float(match[2]) + offset_s)] if match else []


def _window_of(windows, start: float, end: float):
    """The window that holds [start, end] whole, or None when a cut falls inside the clip."""
    return next((w for w in windows if w.start_s <= start and end <= w.end_s), None)


def run_long_form_stage(model, processor, examples: Sequence[Dict], *, seed: int,
                        prompt_for: Callable[[Dict], str], is_correct: Callable[[Dict, str], bool],
                        batch_size: int = 16, max_new_tokens: int = 12, min_seconds: float = MIN_RECORDING_S) -> Dict:
    """Build the recording, decode it once per task, score every clip; returns the metrics dict."""
    begin = time.time()
    audio, placed = build_recording(examples, seed, min_seconds)
    tasks = sorted({example["task"] for example, _ in placed})
    decoder = LongFormDecoder(model, processor, chunk_length_s=CHUNK_LENGTH_S, batch_size=batch_size,
                              max_new_tokens=max_new_tokens)
    recovered: Dict[str, List[bool]] = {task: [] for task in tasks}
    onset_errors, offset_errors, windows, texts = [], [], [], {}
    for task in tasks:
        first = next(example for example, _ in placed if example["task"] == task)
        result = decoder(audio, LongFormTask.from_prompt(prompt_for(first)), sampling_rate=SAMPLE_RATE)
        windows = result.windows
        for example, start in placed:
            if example["task"] != task:
                continue
            clip_start = start / SAMPLE_RATE
            window = _window_of(result.windows, clip_start, clip_start + len(example["audio"]) / SAMPLE_RATE)
            if window is not None:
                texts[window.start_s] = window.text  # the window's answer in its clip's own task pass
            ok = window is not None and is_correct(example, window.response)
            if ok and task == "event_timestamps":
                spans = _event_spans(window.response, window.offset_s)
                ok = len(spans) == 1
                if ok:
                    onset_errors.append(abs(spans[0].start - (clip_start + example["onset"])))
                    offset_errors.append(abs(spans[0].end - (clip_start + example["offset"])))
                    ok = onset_errors[-1] <= TIME_TOLERANCE_S and offset_errors[-1] <= TIME_TOLERANCE_S
            recovered[task].append(bool(ok))
    clip_spans = [(s / SAMPLE_RATE, (s + len(e["audio"])) / SAMPLE_RATE) for e, s in placed]
    segments = segment(audio, CHUNK_LENGTH_S)  # the decoder's windows, with their cut flags
    cuts = [w.end_s for w in segments[:-1]]
    cuts_in_silence = sum(not any(a < cut < b for a, b in clip_spans) for cut in cuts)
    flat = [value for values in recovered.values() for value in values]
    return {
        "clips": len(placed),
        "recovered_fraction": float(np.mean(flat)),
        "mean_abs_onset_error_s": float(np.mean(onset_errors)) if onset_errors else None,
        "mean_abs_offset_error_s": float(np.mean(offset_errors)) if offset_errors else None,
        "recovered_fraction_per_task": {task: float(np.mean(values)) for task, values in recovered.items()},
        "recording_s": round(len(audio) / SAMPLE_RATE, 2),
        "chunk_length_s": CHUNK_LENGTH_S,
        "windows": len(windows),
        "cuts_in_silence_fraction": cuts_in_silence / len(cuts) if cuts else 1.0,
        "forced_cuts": int(sum(w.forced for w in segments)),
        "seconds": round(time.time() - begin, 1),
        "timeline": {  # plain data for the report's picture (run.py takes it out of metrics.json)
            "name": "demo long-form recording (held-out sound clips; each window's answer to its clip's question)",
            "items": "clips", "waveform": audio, "sample_rate": SAMPLE_RATE, "forced": [w.forced for w in segments],
            "truth": [{"start_s": a, "end_s": b, "text": e["label"]} for (a, b), (e, _) in zip(clip_spans, placed)],
            "transcript": {"windows": [{"start_s": w.start_s, "end_s": w.end_s, "text": texts.get(w.start_s, "")}
                                       for w in windows]},
        },
    }





def clip_alone_accuracy(model, processor, examples: Sequence[Dict], prompt_for: Callable, is_correct: Callable,
                        batch_size: int = 16, max_new_tokens: int = 12) -> float:
    """Accuracy on the same clips decoded on their own (no recording, no windows), for comparison."""
    decoder = LongFormDecoder(model, processor, batch_size=batch_size, max_new_tokens=max_new_tokens)
    correct = []
    for task in sorted({example["task"] for example in examples}):
        chosen = [example for example in examples if example["task"] == task]
        for begin in range(0, len(chosen), batch_size):
            batch = chosen[begin : begin + batch_size]
            answers = decoder.decode_clips([e["audio"] for e in batch], LongFormTask.from_prompt(prompt_for(batch[0])))
            correct += [is_correct(e, a) for e, a in zip(batch, answers)]
    return float(np.mean(correct))


def long_form_metrics(model, processor, examples: Sequence[Dict], *, seed: int, prompt_text: Callable,
                      is_correct: Callable, min_seconds: float = MIN_RECORDING_S) -> Dict:
    """The stage with the chat prompts the demo's final (SFT) model is evaluated with (headline), and again with
    the base-model task prompts (under ``"tagged"``), whose `<|t|>` event times go through the stitcher's shift.
    Each run also reports ``clip_alone_accuracy``: the same clips decoded alone, the ceiling for recovery."""
    runs = {}
    for style in ("chat", "tagged"):
        def prompt_for(example, style=style):
            return prompt_text(example, style, processor)

        run = run_long_form_stage(model, processor, examples, seed=seed, min_seconds=min_seconds,
                                  prompt_for=prompt_for, is_correct=is_correct)
        used = [example for example, _ in build_recording(examples, seed, min_seconds)[1]]
        run["clip_alone_accuracy"] = clip_alone_accuracy(model, processor, used, prompt_for, is_correct)
        runs[style] = run
    runs["tagged"].pop("timeline")
    return {**runs["chat"], "prompts": "chat", "tagged": runs["tagged"]}


# ------------------------------------------------------------------------------------------------ speech
SPEECH_MIN_RECORDING_S = 180.0
SPEECH_MIN_UTTERANCES = 40
SPEECH_PAUSE_S = (1.2, 2.5)
SPEECH_NOISE_FRACTION = 0.3
"""Pauses holding a burst of coloured noise (0.3-0.8 s, -40 to -30 dBFS) between two utterances."""
SPEECH_CHUNK_LENGTH_S = 4.0
"""The demo model learnt utterances of at most ~3 s; 4 s windows cut in the pauses hold one (or two short) each."""


def build_speech_recording(utterances: Sequence[Dict], seed: int, min_seconds: float = SPEECH_MIN_RECORDING_S,
                           min_utterances: int = SPEECH_MIN_UTTERANCES) -> Tuple[np.ndarray, List[Dict]]:
    """Utterances in order with random pauses (some with a noise burst) until both minimums are reached.
    Returns the 16 kHz recording and the truth: per utterance its text, start/end (s) and absolute word starts."""
    from .synthetic import _coloured_noise

    rng = np.random.default_rng(seed)
    pieces, truth, length = [], [], 0
    for utterance in utterances:
        gap = int(round(rng.uniform(*SPEECH_PAUSE_S) * 100)) * SAMPLE_RATE // 100
        pause = SILENCE_LEVEL * rng.standard_normal(gap)
        noise = rng.random() < SPEECH_NOISE_FRACTION
        if noise:
            n = int(rng.uniform(0.3, 0.8) * SAMPLE_RATE)
            at = int(rng.integers(int(0.35 * SAMPLE_RATE), max(gap - n - int(0.35 * SAMPLE_RATE), int(0.36 * SAMPLE_RATE))))
            burst = _coloured_noise(rng, n, rng.uniform(0.0, 2.0)) * np.hanning(n)
            pause[at : at + n] += burst * (10 ** (rng.uniform(-40, -30) / 20) / max(np.sqrt(np.mean(burst**2)), 1e-8))
        pieces.append(pause.astype(np.float32))
        start = (length + gap) / SAMPLE_RATE
        truth.append({"text": utterance["label"], "clip_start_sample": length + gap, "start_s": round(start + utterance["starts"][0], 3),
                      "end_s": round(start + utterance["ends"][-1], 3), "noise_before": bool(noise),
                      "word_starts_s": [round(start + t, 3) for t in utterance["starts"]], "voice": utterance["voice"]})
        pieces.append(np.asarray(utterance["audio"], dtype=np.float32))
        length += gap + len(utterance["audio"])
        if length >= min_seconds * SAMPLE_RATE and len(truth) >= min_utterances:
            break
    else:
        raise ValueError(f"{len(utterances)} utterances make only {length / SAMPLE_RATE:.1f} s; pass more")
    pieces.append((SILENCE_LEVEL * rng.standard_normal(int(SPEECH_PAUSE_S[0] * SAMPLE_RATE))).astype(np.float32))
    return np.concatenate(pieces), truth


def utterance_starts(truth: Sequence[Dict], word_starts: Sequence[float]) -> List[float | None]:
    """Per truth utterance, the transcript's start of it: the earliest hypothesis word start between 0.5 s before
    the utterance and its end (None: no word there)."""
    found = []
    for item in truth:
        starts = [start for start in word_starts if item["start_s"] - 0.5 <= start <= item["end_s"]]
        found.append(min(starts) if starts else None)
    return found


def utterance_start_errors(truth: Sequence[Dict], words) -> List[float | None]:
    """Per truth utterance, |transcript start (`utterance_starts`) - utterance start| (None: no word there)."""
    return [None if start is None else abs(start - item["start_s"])
            for item, start in zip(truth, utterance_starts(truth, [w.start for w in words]))]


def run_speech_long_form(model, processor, utterances: Sequence[Dict], *, seed: int, output_dir: str,
                         chunk_length_s: float = SPEECH_CHUNK_LENGTH_S, batch_size: int = 16,
                         min_seconds: float = SPEECH_MIN_RECORDING_S, min_utterances: int = SPEECH_MIN_UTTERANCES,
                         max_new_tokens: int = 48) -> Dict:
    """Write the recording (``long_recording.wav`` + ``long_recording_truth.json``) and transcribe it as
    `qwen-audio-hf transcribe --timestamps --chunk-length-s ...` does (`long_form.build_task` + `LongFormDecoder`):
    transcript WER against the words written, and utterance start errors from the word timestamps."""
    import json
    import os

    import soundfile as sf

    from ..evaluation.metrics import word_error_rate
    from ..long_form import LongFormDecoder
    from ..long_form.decoding import build_task

    begin = time.time()
    audio, truth = build_speech_recording(utterances, seed, min_seconds, min_utterances)
    wav = os.path.join(output_dir, "long_recording.wav")
    sf.write(wav, audio, SAMPLE_RATE, subtype="FLOAT")
    with open(os.path.join(output_dir, "long_recording_truth.json"), "w", encoding="utf-8") as handle:
        json.dump(truth, handle, indent=1)
    decoder = LongFormDecoder(model, processor, chunk_length_s=chunk_length_s, batch_size=batch_size,
                              max_new_tokens=max_new_tokens)
    result = decoder(wav, build_task("asr", "en", timestamps=True))
    reference = " ".join(item["text"] for item in truth)
    errors = utterance_start_errors(truth, result.words)
    found = [e for e in errors if e is not None]
    segments = segment(audio, chunk_length_s)  # the decoder's windows (energy segmentation), with their cut flags
    if len(segments) != len(result.windows):
        raise RuntimeError(f"the decoder made {len(result.windows)} windows, the planner {len(segments)}")
    spans = [(item["start_s"], item["end_s"]) for item in truth]
    cuts = [w.end_s for w in segments[:-1]]
    return {
        "audio": wav,
        "command": f"qwen-audio-hf transcribe {wav} --model MODEL_DIR --timestamps --chunk-length-s {chunk_length_s} "
                   f"--max-new-tokens {max_new_tokens} --output-dir {output_dir}",
        "recording_s": round(len(audio) / SAMPLE_RATE, 2),
        "utterances": len(truth),
        "noisy_pauses": int(sum(item["noise_before"] for item in truth)),
        "chunk_length_s": chunk_length_s,
        "wer": word_error_rate([reference], [result.text]),
        "median_start_error_s": float(np.median(found)) if found else None,
        "utterances_found_fraction": len(found) / len(truth),
        "start_errors_s": errors,
        "cuts_in_pause_fraction": sum(not any(a < c < b for a, b in spans) for c in cuts) / len(cuts) if cuts else 1.0,
        "forced_cuts": int(sum(w.forced for w in segments)),
        "windows": [{"start_s": w.start_s, "end_s": w.end_s, "text": w.text, "response": w.response,
                     "forced": bool(planned.forced)} for w, planned in zip(result.windows, segments)],
        "cut_points_s": cuts,
        "words": [{"text": w.text, "start_s": round(w.start, 3), "end_s": round(w.end, 3)} for w in result.words],
        "transcript": result.text,
        "truth": truth,
        "seconds": round(time.time() - begin, 1),
    }


__all__ = ["CHUNK_LENGTH_S", "SPEECH_CHUNK_LENGTH_S", "build_recording", "build_speech_recording",
           "clip_alone_accuracy", "long_form_metrics", "run_long_form_stage", "run_speech_long_form",
           "utterance_start_errors", "utterance_starts"]
