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


def vowel_train(seconds, seed=0, level=0.3):
    """Speech-like sound Silero VAD scores as speech: a 120 Hz glottal pulse train through vowel formants, one
    vowel per 0.2 s syllable with a syllabic envelope (synthetic, not real speech)."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = np.cumsum((120 + 20 * np.sin(2 * np.pi * 0.7 * t)) / SR)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(float)
    formants = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
    out, syllable = np.zeros(n), int(0.2 * SR)
    radius = np.exp(-np.pi * 80 / SR)
    for start in range(0, n, syllable):
        piece = pulses[start : start + syllable]
        for f in formants[rng.integers(len(formants))]:
            piece = lfilter([1], [1, -2 * radius * np.cos(2 * np.pi * f / SR), radius * radius], piece)
        out[start : start + len(piece)] = piece * np.sin(np.linspace(0, np.pi, len(piece))) ** 0.5
    return (level * out / np.abs(out).max()).astype(np.float32)


def music_bed(seconds, level=0.1):
    """A sustained C major chord: sound everywhere, no pause, no speech."""
    t = np.arange(int(seconds * SR)) / SR
    return (level * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) / 3).astype(np.float32)


def speech_over_bed(utterances, seconds, bed="music", seed=0):
    """Vowel-train utterances at (start_s, end_s) over a continuous music or noise bed."""
    if bed == "music":
        audio = music_bed(seconds)
    else:
        audio = (0.05 * np.random.default_rng(seed + 99).standard_normal(int(seconds * SR))).astype(np.float32)
    for index, (begin, end) in enumerate(utterances):
        speech = vowel_train(end - begin, seed=seed + index)
        audio[int(begin * SR) : int(begin * SR) + len(speech)] += speech
    return audio
