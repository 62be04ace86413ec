"""Synthetic recordings (noise with planted pauses, silence with sounds) and the tiling check of window plans."""

import numpy as np

SR = 16000


def noise_with_pauses(seconds, pauses, seed=0, level=0.3):
    """White noise with digital-silence pauses at the given (start_s, end_s) spans."""
    audio = (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)
    for begin, end in pauses:
        audio[int(begin * SR) : int(end * SR)] = 0.0
    return audio


def assert_tiles(windows, total, limit_s):
    assert windows[0].start == 0 and windows[-1].end == total
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))
    assert all(0 < w.num_samples <= int(limit_s * SR) for w in windows)


def recording(spans, seconds, seed=0, level=0.3):
    """Silence with white-noise "sounds" at the given (start_s, end_s) spans."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(seconds * SR), np.float32)
    for begin, end in spans:
        audio[int(begin * SR) : int(end * SR)] = level * rng.standard_normal(int(end * SR) - int(begin * SR))
    return audio
