"""Split a long 16 kHz recording into windows of at most ``chunk_length_s`` that tile it exactly once.

Cutting rule: while more than ``chunk_length_s`` remains, look at the last ``search_s`` seconds before the limit,
measure the energy of every ``frame_s`` (100 ms) frame on a 10 ms grid, and cut in the middle of the longest run
of frames as quiet as the quietest one (so a pause is cut in its middle, never at a sound next to it). When no
frame in the search region is silent or clearly quieter than the rest (no pause), the cut is still at the quietest frame
and the window is marked ``forced``. The search region never reaches into the last ``min_window_s`` of the
recording, so the final window is never shorter than that (a short tail is absorbed by cutting earlier, which
keeps every window within the cap the model accepts, instead of merging it into an over-long window).

``active_region`` finds the part of a window that is louder than ``silence_db`` dBFS: silent windows are not
decoded (their result is empty) and leading/trailing digital silence is not fed to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..processing.audio_io import MAX_AUDIO_SECONDS, TARGET_SAMPLING_RATE

HOP_SAMPLES = TARGET_SAMPLING_RATE // 100
"""10 ms: the grid on which frames are measured and cuts are placed."""
SILENCE_DB = -60.0
"""A 10 ms hop whose RMS is below this level (dBFS) counts as silence."""
PAUSE_RATIO = 0.25
"""The quietest frame is a pause when it is silent or its RMS is below this fraction of the region's median."""


@dataclass(frozen=True)
class Window:
    """One window of a recording: samples ``start:end`` at 16 kHz, absolute; ``forced``: its end cut no pause."""

    start: int
    end: int
    forced: bool = False

    @property
    def start_s(self) -> float:
        return self.start / TARGET_SAMPLING_RATE

    @property
    def end_s(self) -> float:
        return self.end / TARGET_SAMPLING_RATE

    @property
    def num_samples(self) -> int:
        return self.end - self.start


def _hop_energies(waveform: np.ndarray, start: int, end: int) -> np.ndarray:
    """Sum of squares of each full 10 ms hop in ``waveform[start:end]`` (float64)."""
    count = (end - start) // HOP_SAMPLES
    hops = waveform[start : start + count * HOP_SAMPLES].reshape(count, HOP_SAMPLES).astype(np.float64)
    return np.einsum("ij,ij->i", hops, hops)


def _longest_run_middle(mask: np.ndarray) -> int:
    """Index of the middle of the longest run of True in ``mask`` (the latest one on ties)."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, stops = edges[::2], edges[1::2]
    lengths = stops - starts
    best = len(lengths) - 1 - int(np.argmax(lengths[::-1]))
    return int((starts[best] + stops[best] - 1) // 2)


def find_cut(waveform: np.ndarray, low: int, high: int, frame_hops: int = 10) -> tuple[int, bool]:
    """Cut point in ``[low, high]`` at the quietest ``frame_hops`` x 10 ms frame; returns (sample, forced)."""
    energies = _hop_energies(waveform, low, high)
    if energies.shape[0] < frame_hops:
        raise ValueError(f"search region of {(high - low) / TARGET_SAMPLING_RATE:.3f} s is shorter than one frame")
    frames = np.convolve(energies, np.ones(frame_hops), mode="valid")  # frame j covers hops j .. j+frame_hops-1
    quietest = frames.min()
    quiet = frames <= quietest * 1.5 + 1e-12 * frame_hops * HOP_SAMPLES
    frame = _longest_run_middle(quiet)
    cut = low + (frame * HOP_SAMPLES) + frame_hops * HOP_SAMPLES // 2
    silent = quietest < frame_hops * HOP_SAMPLES * 10.0 ** (SILENCE_DB / 10.0)
    forced = not silent and bool(np.sqrt(quietest) > PAUSE_RATIO * np.sqrt(np.median(frames)))
    return cut, forced


def check_chunk_length(chunk_length_s: float) -> None:
    """Raise unless ``0 < chunk_length_s <= 30`` (the longest clip Qwen-Audio encodes)."""
    if not 0 < chunk_length_s <= MAX_AUDIO_SECONDS:
        raise ValueError(
            f"chunk_length_s must be in (0, {MAX_AUDIO_SECONDS}] seconds (Qwen-Audio encodes at most "
            f"{MAX_AUDIO_SECONDS} s per window), got {chunk_length_s!r}."
        )


def segment(
    waveform: np.ndarray,
    chunk_length_s: float = MAX_AUDIO_SECONDS,
    *,
    search_s: float | None = None,
    frame_s: float = 0.1,
    min_window_s: float = 0.5,
) -> list[Window]:
    """Windows of at most ``chunk_length_s`` seconds covering ``waveform`` (16 kHz) exactly once, in order.

    ``search_s``: how far before the limit a cut may go (default: ``min(5, chunk_length_s / 2)``).
    ``min_window_s``: no window but a whole recording shorter than this is produced (see module docstring).
    An empty waveform gives no windows.
    """
    check_chunk_length(chunk_length_s)
    search_s = min(5.0, chunk_length_s / 2) if search_s is None else search_s
    if not frame_s + min_window_s < search_s <= chunk_length_s:
        raise ValueError(
            f"search_s ({search_s}) must exceed frame_s + min_window_s ({frame_s + min_window_s}) and be at most "
            f"chunk_length_s ({chunk_length_s}); use a longer chunk_length_s (>= {2 * (frame_s + min_window_s):g})."
        )
    total = int(np.asarray(waveform).shape[0])
    limit = int(round(chunk_length_s * TARGET_SAMPLING_RATE))
    search = int(round(search_s * TARGET_SAMPLING_RATE))
    min_window = int(round(min_window_s * TARGET_SAMPLING_RATE))
    frame_hops = max(int(round(frame_s * 100)), 1)
    windows: list[Window] = []
    start = 0
    while total - start > limit:
        low = start + limit - search
        high = min(start + limit, total - min_window)
        cut, forced = find_cut(waveform, low, high, frame_hops)
        windows.append(Window(start, cut, forced))
        start = cut
    if total > start:
        windows.append(Window(start, total))
    return windows


def active_region(waveform: np.ndarray, start: int, end: int, silence_db: float = SILENCE_DB) -> tuple[int, int] | None:
    """``(first, last)`` sample bounds of the 10 ms hops of ``waveform[start:end]`` louder than ``silence_db``;
    ``None`` when the whole window is silent. A trailing partial hop counts like a full one."""
    if end <= start:
        return None
    threshold = HOP_SAMPLES * 10.0 ** (silence_db / 10.0)  # sum of squares of a hop at that RMS
    energies = _hop_energies(waveform, start, end)
    tail = waveform[start + energies.shape[0] * HOP_SAMPLES : end].astype(np.float64)
    if tail.size:
        energies = np.append(energies, np.dot(tail, tail) * HOP_SAMPLES / tail.size)
    loud = np.flatnonzero(energies > threshold)
    if loud.size == 0:
        return None
    return start + int(loud[0]) * HOP_SAMPLES, min(end, start + (int(loud[-1]) + 1) * HOP_SAMPLES)


MIN_CLIP_SAMPLES = 480
"""30 ms: shorter sound in a window is zero-padded to this, the shortest clip that gives one audio token."""


def window_clip(waveform: np.ndarray, window: Window, margin: int = 0,
                silence_db: float = SILENCE_DB) -> tuple[np.ndarray, float] | None:
    """What the model hears of ``window`` (widened by ``margin`` samples each side): its sound without leading and
    trailing silence, as a float32 copy, and the time (s) at which that clip starts; ``None`` for a silent window."""
    region = active_region(waveform, max(0, window.start - margin), min(len(waveform), window.end + margin), silence_db)
    if region is None:
        return None
    clip = np.array(waveform[region[0] : region[1]], dtype=np.float32)  # a copy: the recording can go
    if clip.shape[0] < MIN_CLIP_SAMPLES:
        clip = np.pad(clip, (0, MIN_CLIP_SAMPLES - clip.shape[0]))
    return clip, region[0] / TARGET_SAMPLING_RATE


__all__ = ["HOP_SAMPLES", "MIN_CLIP_SAMPLES", "PAUSE_RATIO", "SILENCE_DB", "Window", "active_region",
           "check_chunk_length", "find_cut", "segment", "window_clip"]
