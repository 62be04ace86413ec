"""The demo's two pictures, drawn from plain data: ``training_curves.png`` and ``long_form_timeline.png``.

The only module of the package that imports matplotlib (the ``[demo]`` extra), lazily and on the Agg canvas (no
display, no pyplot state). What to draw comes from :mod:`.report`: loss points per stage, metric rows per task,
and the timeline's windows, truth utterances and aligned transcript words.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np

OK, WRONG, MISSED, EXTRA = "#2a9d8f", "#e76f51", "#9b2226", "#e76f51"
WINDOW_SHADES = ("#f1f3f5", "#dde3ea")
UNITS = {"accuracy": ("accuracy", "accuracy (higher is better)", 1.0),
         "wer": ("word error rate", "WER (lower is better)", None),
         "seconds": ("start-time error", "seconds (lower is better)", None)}


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - the [demo] extra is installed by README command 1
        raise ImportError("the demo's pictures need matplotlib: pip install 'qwen-audio-hf[demo]'") from error
    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str) -> str:
    import warnings

    with warnings.catch_warnings():  # a glyph the font lacks (an untrained model's text) is drawn as a box
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(path)
    return path


# ------------------------------------------------------------------------------------------------ training curves
def training_curves(path: str, losses: Dict[str, Sequence[tuple]], rows: Sequence[Dict],
                    curves: Dict[str, tuple] | None = None) -> str:
    """Top: loss against optimizer step, one panel per stage (``losses``: stage -> [(step, loss)]), then any
    other curve (``curves``: title -> (y label, [(step, value)])). Bottom: the held-out metric per task, one
    panel per unit (``rows``: task, unit, value, audio_zeroed, chance), with the audio-zeroed value and chance
    drawn as marks on each bar."""
    curves = curves or {}
    units = [unit for unit in UNITS if any(row["unit"] == unit for row in rows)]
    panels = len(losses) + len(curves)
    figure = _figure(5.0 * max(panels, len(units), 2), 8.5)
    top = figure.add_gridspec(1, max(panels, 1), top=0.89, bottom=0.58, wspace=0.25)
    bottom = figure.add_gridspec(1, max(len(units), 1), top=0.43, bottom=0.12, wspace=0.3)
    for index, (stage, points) in enumerate(losses.items()):
        axes = figure.add_subplot(top[0, index])
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, "-o", markersize=2.5, color="#264653")
        axes.set_title(f"{stage}: training loss")
        axes.set_xlabel("optimizer step")
        axes.set_ylabel("loss (mean over each logging interval)")
        axes.grid(True, alpha=0.3)
    for index, (title, (label, points)) in enumerate(curves.items(), len(losses)):
        axes = figure.add_subplot(top[0, index])
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, "-o", markersize=3, color="#e76f51")
        axes.set_title(title)
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(label)
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
    for index, unit in enumerate(units):
        _metric_panel(figure.add_subplot(bottom[0, index]), [row for row in rows if row["unit"] == unit], unit)
    figure.suptitle("qwen-audio-hf demo: training and held-out evaluation", fontsize=13)
    return _save(figure, path)


def _metric_panel(axes, rows: Sequence[Dict], unit: str) -> None:
    title, label, top = UNITS[unit]
    names = [row["task"] for row in rows]
    positions = np.arange(len(rows))
    values = [row["value"] if row["value"] is not None else np.nan for row in rows]
    bars = axes.bar(positions, values, width=0.6, color="#4a6fa5", label="with the audio")
    for bar, value in zip(bars, values):
        if not math.isnan(value):
            axes.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                          fontsize=8, xytext=(0, 3), textcoords="offset points", zorder=5,
                          bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
    chance = [(x, row["chance"]) for x, row in zip(positions, rows) if row.get("chance") is not None]
    if chance:
        xs, ys = zip(*chance)
        axes.hlines(ys, np.array(xs) - 0.4, np.array(xs) + 0.4, colors="#111111", linewidths=2.0, zorder=3,
                    label="chance")
    zeroed = [(x, row["audio_zeroed"]) for x, row in zip(positions, rows) if row.get("audio_zeroed") is not None]
    if zeroed:
        xs, ys = zip(*zeroed)
        axes.scatter(xs, ys, marker="v", s=60, color="#e76f51", edgecolors="#111111", zorder=4,
                     label="audio zeroed")
    axes.set_xlim(-0.6, max(len(rows), 3) - 0.4)
    axes.set_xticks(positions)
    axes.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    highest = max([v for row in rows for v in (row["value"], row.get("audio_zeroed"), row.get("chance"))
                   if v is not None] + [top or 0.0, 1e-3])
    axes.set_ylim(0, highest * 1.35)
    axes.set_ylabel(label)
    axes.set_title(f"held-out {title} per task")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize=7, loc="upper center", ncol=3, framealpha=0.9)


# ------------------------------------------------------------------------------------------------ timeline
def long_form_timeline(path: str, waveform: np.ndarray, sample_rate: int, windows: Sequence[Dict],
                       utterances: Sequence[Dict], words: Sequence[Dict], title: str,
                       start_tolerance_s: float, strip_s: float | None = None) -> str:
    """The recording in strips stacked top to bottom (``strip_s`` seconds each, default <= 30 s). Each strip: the
    waveform's envelope over the planner's windows (alternate shading, dashed line at every cut, red where the
    cut was forced), the truth utterances (their words, green when transcribed right, red when missed or wrong),
    and the transcript's words at their times (green correct, orange wrong or extra), with a line from each
    utterance's true start to the transcript's start (red when off by more than ``start_tolerance_s``)."""
    duration = max(len(waveform) / sample_rate, 1e-3)
    strips = max(1, math.ceil(duration / (strip_s or 30.0)))
    strip_s = duration / strips
    height = 2.6 * strips + 1.6
    figure = _figure(18.0, height)
    grid = figure.add_gridspec(strips, 1, hspace=0.3, top=1 - 1.0 / height, bottom=0.6 / height, left=0.05,
                               right=0.99)
    peaks = _envelope(waveform, sample_rate)
    for strip in range(strips):
        axes = figure.add_subplot(grid[strip])
        low, high = strip * strip_s, (strip + 1) * strip_s
        _draw_strip(axes, peaks, windows, utterances, words, low, high, start_tolerance_s)
        if strip == strips - 1:
            axes.set_xlabel("time in the recording (s)")
    figure.suptitle(title, fontsize=12, y=1 - 0.12 / height, va="top")
    figure.legend(handles=_legend_handles(start_tolerance_s), loc="upper center", ncol=8, fontsize=8,
                  bbox_to_anchor=(0.5, 1 - 0.42 / height), frameon=False)
    return _save(figure, path)


def _envelope(waveform: np.ndarray, sample_rate: int, hop_s: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """(times, peak |amplitude| per 20 ms), normalised to the loudest hop."""
    hop = max(int(sample_rate * hop_s), 1)
    count = max(len(waveform) // hop, 1)
    frames = np.abs(np.asarray(waveform[: count * hop], dtype=np.float32)).reshape(count, -1)
    peaks = frames.max(1) if frames.size else np.zeros(count)
    return np.arange(count) * hop / sample_rate, peaks / max(float(peaks.max(initial=0.0)), 1e-9)


# bands of a strip, in axes y units
WAVE, TRUTH, HYPOTHESIS = (1.3, 2.35), 0.9, 0.25
STAGGER = (0.07, -0.07)
"""Neighbouring words are drawn alternately a little higher and lower, so that short words do not overprint."""


def _draw_strip(axes, peaks, windows, utterances, words, low, high, tolerance) -> None:
    times, envelope = peaks
    middle, half = sum(WAVE) / 2, (WAVE[1] - WAVE[0]) / 2
    for number, window in enumerate(windows):
        if window["end_s"] > low and window["start_s"] < high:
            axes.axvspan(window["start_s"], window["end_s"], color=WINDOW_SHADES[number % 2], linewidth=0, zorder=0)
        if number and low <= window["start_s"] <= high:
            forced = windows[number - 1].get("forced", False)
            axes.axvline(window["start_s"], color="#d62828" if forced else "#555555",
                         linestyle="-" if forced else "--", linewidth=1.4 if forced else 0.8, zorder=1)
    shown = (times >= low) & (times <= high)
    axes.fill_between(times[shown], middle - half * envelope[shown], middle + half * envelope[shown],
                      color="#4a6fa5", linewidth=0, zorder=2)
    for utterance in utterances:
        if utterance["end_s"] < low or utterance["start_s"] > high:
            continue
        axes.plot([utterance["start_s"], utterance["end_s"]], [TRUTH + 0.2] * 2, color="#264653", linewidth=1.0)
        for number, word in enumerate(utterance["words"]):
            colour = OK if word["status"] == "equal" else (MISSED if word["status"] == "delete" else WRONG)
            axes.text(word["time_s"], TRUTH + STAGGER[number % 2], word["text"], ha="center", va="center", fontsize=7, color=colour,
                      fontweight="bold" if word["status"] != "equal" else "normal", clip_on=True)
        hyp_start = utterance.get("hypothesis_start_s")
        if hyp_start is not None:
            late = abs(hyp_start - utterance["start_s"]) > tolerance
            axes.plot([utterance["start_s"], hyp_start], [TRUTH - 0.16, HYPOTHESIS + 0.16],
                      color="#d62828" if late else "#8d99ae", linewidth=1.6 if late else 0.8)
            if late:
                axes.text(hyp_start, HYPOTHESIS + 0.3, f"{hyp_start - utterance['start_s']:+.2f} s", fontsize=6.5,
                          color="#d62828", ha="left", va="bottom", clip_on=True)
    for number, word in enumerate(words):
        if low <= word["time_s"] <= high:
            axes.text(word["time_s"], HYPOTHESIS + STAGGER[number % 2], word["text"], ha="center", va="center", fontsize=7,
                      color=OK if word["status"] == "equal" else EXTRA, clip_on=True,
                      fontweight="bold" if word["status"] != "equal" else "normal")
    axes.set_xlim(low, high)
    axes.set_ylim(-0.05, WAVE[1] + 0.05)
    axes.set_yticks([HYPOTHESIS, TRUTH, middle])
    axes.set_yticklabels(["transcript", "truth", "audio"], fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _legend_handles(tolerance: float) -> List:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=WINDOW_SHADES[1], label="planner window (shaded alternately)"),
        Line2D([], [], color="#555555", linestyle="--", label="cut at a pause"),
        Line2D([], [], color="#d62828", label="forced cut (no pause)"),
        Line2D([], [], color=OK, marker="s", linestyle="", label="word right"),
        Line2D([], [], color=WRONG, marker="s", linestyle="", label="word wrong / extra"),
        Line2D([], [], color=MISSED, marker="s", linestyle="", label="word missed (truth row)"),
        Line2D([], [], color="#8d99ae", label="true start -> transcript start"),
        Line2D([], [], color="#d62828", linewidth=1.6, label=f"start off by > {tolerance:g} s"),
    ]


__all__ = ["long_form_timeline", "training_curves"]
