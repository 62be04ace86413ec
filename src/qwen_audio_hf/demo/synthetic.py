"""A synthetic multitask audio set for the built-in demo: four small tasks whose answers are short and exact.

Every clip is `CLIP_SECONDS` of 16 kHz mono float32 audio made from a seeded numpy generator:

- ``note_analysis``: a harmonic tone; the answer is its MIDI pitch (one of `NOTE_PITCHES`).
- ``beep_counting``: 1 to `MAX_BEEPS` short beeps over faint noise; audio question answering, the answer is the count.
- ``event_timestamps``: one noise burst; the answer is its onset and offset (on a coarse grid of seconds).
- ``noise_colour``: coloured noise; scene classification, the answer is the colour (`NOISE_COLOURS`).

An example is a plain dict: ``task``, ``audio`` (np.float32 array), ``label`` (the exact answer as a string) and
task fields (``pitch``, ``count``, ``onset``/``offset``, ``colour``). Turning examples into prompts is the demo's job.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

SAMPLE_RATE = 16000
CLIP_SECONDS = 1.0
TASKS = ("note_analysis", "beep_counting", "event_timestamps", "noise_colour")
NOTE_PITCHES = (57, 60, 63, 66, 69, 72, 75, 78)
MAX_BEEPS = 4
BEEP_HZ, BEEP_LEVEL = 1000.0, 0.6  # identical beeps: the count is in how many there are, nothing else
EVENT_ONSETS = (0.1, 0.3, 0.5)
EVENT_DURATIONS = (0.2, 0.4)
NOISE_COLOURS = ("white", "pink", "brown", "blue")
_COLOUR_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}


def chance_level(task: str) -> float:
    """Accuracy of a uniform random guess among the task's answers."""
    sizes = {
        "note_analysis": len(NOTE_PITCHES),
        "beep_counting": MAX_BEEPS,
        "event_timestamps": len(EVENT_ONSETS) * len(EVENT_DURATIONS),
        "noise_colour": len(NOISE_COLOURS),
    }
    if task not in sizes:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}.")
    return 1.0 / sizes[task]


def _num_samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))


def _normalise(audio: np.ndarray, peak: float) -> np.ndarray:
    return (audio * (peak / max(float(np.abs(audio).max()), 1e-8))).astype(np.float32)


def _coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise whose power falls as 1/f**exponent."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    spectrum *= freqs ** (-exponent / 2.0)
    return np.fft.irfft(spectrum, n)


def _tone(frequency: float, n: int, harmonics: Sequence[float] = (1.0,)) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    return sum(w * np.sin(2 * np.pi * frequency * (k + 1) * t) for k, w in enumerate(harmonics))


def _fade(n: int, ramp: int) -> np.ndarray:
    envelope = np.ones(n)
    ramp = min(ramp, n // 2)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[n - ramp :] = np.linspace(1.0, 0.0, ramp)
    return envelope


def make_note(rng: np.random.Generator) -> Dict:
    """A harmonic tone with a random timbre and loudness; the label is its MIDI pitch."""
    pitch = int(rng.choice(NOTE_PITCHES))
    n = _num_samples(CLIP_SECONDS)
    frequency = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    harmonics = [1.0] + list(rng.uniform(0.0, 0.6, size=3))
    audio = _tone(frequency, n, harmonics) * _fade(n, 400) * np.exp(-np.arange(n) / (SAMPLE_RATE * rng.uniform(0.3, 2.0)))
    audio = _normalise(audio, rng.uniform(0.3, 0.9)) + 0.005 * rng.standard_normal(n)
    return {"task": "note_analysis", "audio": audio.astype(np.float32), "pitch": pitch, "label": str(pitch)}


def make_beeps(rng: np.random.Generator) -> Dict:
    """1..MAX_BEEPS identical, separated beeps at random places over faint noise; the label is the count."""
    count = int(rng.integers(1, MAX_BEEPS + 1))
    n = _num_samples(CLIP_SECONDS)
    beep_len, gap = _num_samples(0.08), _num_samples(0.08)
    # Place beeps left to right with random gaps that always leave room for the rest.
    free = n - count * beep_len - (count + 1) * gap
    extra = np.sort(rng.uniform(0, free, size=count))
    audio = 0.01 * rng.standard_normal(n)
    beep = BEEP_LEVEL * _tone(BEEP_HZ, beep_len) * _fade(beep_len, 80)
    for i in range(count):
        start = gap + i * (beep_len + gap) + int(extra[i])
        audio[start : start + beep_len] += beep
    return {"task": "beep_counting", "audio": audio.astype(np.float32), "count": count, "label": str(count)}


def make_event(rng: np.random.Generator) -> Dict:
    """One band-limited noise burst over faint background; the label is 'onset-offset' in seconds."""
    onset = float(rng.choice(EVENT_ONSETS))
    offset = round(onset + float(rng.choice(EVENT_DURATIONS)), 2)
    n = _num_samples(CLIP_SECONDS)
    audio = 0.01 * rng.standard_normal(n)
    start, stop = _num_samples(onset), _num_samples(offset)
    burst = _coloured_noise(rng, stop - start, rng.uniform(-0.5, 1.0))
    audio[start:stop] += _normalise(burst * _fade(stop - start, 80), rng.uniform(0.4, 0.8))
    label = f"{onset:.2f}-{offset:.2f}"
    return {"task": "event_timestamps", "audio": audio.astype(np.float32), "onset": onset, "offset": offset, "label": label}


def make_noise(rng: np.random.Generator) -> Dict:
    """Coloured noise (white, pink, brown or blue) at a random level; the label is the colour."""
    colour = str(rng.choice(NOISE_COLOURS))
    audio = _coloured_noise(rng, _num_samples(CLIP_SECONDS), _COLOUR_EXPONENT[colour])
    audio = _normalise(audio, rng.uniform(0.2, 0.9))
    return {"task": "noise_colour", "audio": audio, "colour": colour, "label": colour}


_MAKERS = {"note_analysis": make_note, "beep_counting": make_beeps, "event_timestamps": make_event, "noise_colour": make_noise}


def make_examples(num_per_task: int, seed: int, tasks: Sequence[str] = TASKS) -> List[Dict]:
    """`num_per_task` examples of each task, interleaved task by task, reproducible from `seed`."""
    if num_per_task < 1:
        raise ValueError(f"num_per_task must be >= 1, got {num_per_task}.")
    unknown = [t for t in tasks if t not in _MAKERS]
    if unknown:
        raise ValueError(f"Unknown task(s) {unknown}; expected a subset of {TASKS}.")
    rng = np.random.default_rng(seed)
    return [_MAKERS[task](rng) for _ in range(num_per_task) for task in tasks]
