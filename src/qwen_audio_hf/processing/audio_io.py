"""Audio input handling: decode files, validate arrays, downmix to mono, resample to 16 kHz, cap at 30 s.

Every entry point returns a 1-D ``float32`` waveform at :data:`TARGET_SAMPLING_RATE`. Files are decoded with
``soundfile`` (wav, flac, ogg, mp3 with libsndfile >= 1.1); other containers fall back to ``librosa``'s
decoder. Resampling uses ``soxr`` (a librosa dependency) or ``librosa.resample``. Those libraries are
imported lazily so this module only needs numpy at import time.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from ..core.audio_lengths import MAX_AUDIO_SAMPLES, MAX_AUDIO_SECONDS, TARGET_SAMPLING_RATE

MAX_CHANNELS = 16
"""Largest channel count accepted for 2-D arrays; the smaller axis of a 2-D array is the channel axis."""

_URL_PREFIXES = ("http://", "https://")
_INT_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


def validate_sampling_rate(sampling_rate: Any, what: str = "audio") -> int:
    """Return ``sampling_rate`` as ``int`` or raise a ``ValueError``/``TypeError`` that explains the fix."""
    if sampling_rate is None:
        raise ValueError(
            f"`sampling_rate` is required for in-memory audio ({what}): pass the rate the samples were recorded "
            f"at, e.g. sampling_rate={TARGET_SAMPLING_RATE} (audio is resampled to {TARGET_SAMPLING_RATE} Hz); in a "
            f"chat message: {{'type': 'audio', 'audio': array, 'sampling_rate': rate}}, or a datasets audio value."
        )
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (Integral, float)):
        raise TypeError(f"`sampling_rate` must be a positive integer (Hz), got {type(sampling_rate).__name__}.")
    if isinstance(sampling_rate, float):
        if not np.isfinite(sampling_rate) or not float(sampling_rate).is_integer():
            raise ValueError(f"`sampling_rate` must be a whole number of Hz, got {sampling_rate!r}.")
        sampling_rate = int(sampling_rate)
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be a positive integer (Hz), got {sampling_rate}.")
    return int(sampling_rate)


def is_audio_decoder(value: Any) -> bool:
    """A decoded ``datasets.Audio`` value of datasets >= 4 (torchcodec ``AudioDecoder``), recognised by its
    ``get_all_samples()`` method so torchcodec need not be importable here."""
    return callable(getattr(value, "get_all_samples", None))


def decoder_samples(decoder: Any) -> tuple[np.ndarray, int]:
    """All samples of an ``AudioDecoder`` as a (channels, n) float32 array and its sampling rate."""
    samples = decoder.get_all_samples()
    data = getattr(samples, "data", None)
    rate = getattr(samples, "sample_rate", None)
    if data is None or rate is None:
        raise TypeError(f"{type(decoder).__name__}.get_all_samples() returned {type(samples).__name__} without "
                        "`data` and `sample_rate`; expected torchcodec's AudioSamples.")
    return to_numpy(data), int(rate)


def is_url(source: Any) -> bool:
    return isinstance(source, str) and source.lower().startswith(_URL_PREFIXES)


def to_numpy(array: Any) -> np.ndarray:
    """A numpy view of in-memory samples (numpy array, torch tensor, list); raises naming the accepted kinds."""
    if hasattr(array, "detach") and hasattr(array, "cpu"):  # torch.Tensor, without importing torch
        array = array.detach().cpu().numpy()
    if isinstance(array, (list, tuple)):
        array = np.asarray(array, dtype=np.float32)
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"Audio must be a file path, URL, bytes, or a numpy array / torch tensor / list of samples; "
            f"got {type(array).__name__}."
        )
    return array


def _to_float(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype in _INT_SCALES:
        return array.astype(np.float32) / _INT_SCALES[array.dtype]
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    raise TypeError(
        f"{name}: unsupported sample dtype {array.dtype}. Use float samples in [-1, 1] or int16/int32 PCM "
        "(int16 is scaled by 1/32768)."
    )


def _downmix(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise ValueError(
            f"{name}: audio must be 1-D (samples,) or 2-D (samples, channels) / (channels, samples); "
            f"got shape {tuple(array.shape)}."
        )
    channel_axis = 0 if array.shape[0] <= array.shape[1] else 1
    if array.shape[channel_axis] > MAX_CHANNELS:
        raise ValueError(
            f"{name}: cannot tell the channel axis of a 2-D array of shape {tuple(array.shape)} (more than "
            f"{MAX_CHANNELS} channels on the smaller axis). Pass a 1-D mono array or shape (samples, channels)."
        )
    return array.mean(axis=channel_axis, dtype=np.float64).astype(np.float32)


def resample(waveform: np.ndarray, orig_sampling_rate: int, target_sampling_rate: int = TARGET_SAMPLING_RATE):
    """Resample a mono float32 waveform with soxr (high quality), or librosa if soxr is unavailable."""
    if orig_sampling_rate == target_sampling_rate:
        return waveform
    try:
        import soxr
    except ImportError:
        import librosa

        out = librosa.resample(waveform, orig_sr=orig_sampling_rate, target_sr=target_sampling_rate)
    else:
        out = soxr.resample(waveform, orig_sampling_rate, target_sampling_rate, quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


def truncate_to_max_length(waveform: np.ndarray, name: str = "audio", max_samples: int = MAX_AUDIO_SAMPLES):
    """Keep the first ``max_samples`` samples (30 s at 16 kHz), warning when a clip is cut."""
    if max_samples is None or waveform.shape[0] <= max_samples:
        return waveform
    seconds = waveform.shape[0] / TARGET_SAMPLING_RATE
    message = (
        f"{name} is {seconds:.2f} s long; Qwen-Audio encodes at most {max_samples / TARGET_SAMPLING_RATE:g} s "
        f"per clip, so only the first {max_samples / TARGET_SAMPLING_RATE:g} s are used."
    )
    warnings.warn(message, UserWarning, stacklevel=3)
    return waveform[:max_samples]


def prepare_waveform(
    array: Any,
    sampling_rate: Any,
    *,
    name: str = "audio",
    target_sampling_rate: int = TARGET_SAMPLING_RATE,
    max_samples: int | None = MAX_AUDIO_SAMPLES,
) -> np.ndarray:
    """Validate an in-memory clip and return it as mono float32 at ``target_sampling_rate``.

    Accepts float or int16/int32 samples in layouts (n,), (n, channels) or (channels, n); channels are averaged.
    """
    sampling_rate = validate_sampling_rate(sampling_rate, what=name)
    array = to_numpy(array)
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(array.shape)}); pass at least one sample of audio.")
    waveform = _downmix(_to_float(array, name), name)
    if not np.all(np.isfinite(waveform)):
        raise ValueError(f"{name} contains NaN or infinite samples; clean the waveform before processing.")
    # Clips under 30 ms are kept: like the original, they give no audio token (a span of just <audio></audio>).
    waveform = resample(np.ascontiguousarray(waveform), sampling_rate, target_sampling_rate)
    return truncate_to_max_length(waveform, name, max_samples)


# Optional decoders sit in try blocks: transformers' remote-code import check then does not demand them.
def _decode_with_soundfile(source) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError as error:
        raise ImportError("Reading audio files needs the soundfile package: pip install soundfile.") from error

    data, sampling_rate = soundfile.read(source, dtype="float32", always_2d=True)
    return data, sampling_rate


def _decode_with_librosa(path: str) -> tuple[np.ndarray, int]:
    try:
        import librosa
    except ImportError as error:
        raise ImportError("Decoding this audio format needs librosa: pip install librosa (or convert to wav/flac).") from error

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, sampling_rate = librosa.load(path, sr=None, mono=False)
    data = np.asarray(data, dtype=np.float32)
    return (data.T if data.ndim == 2 else data[:, None]), int(sampling_rate)


def _read_url(url: str, timeout: float = 30.0) -> bytes:
    from urllib.request import urlopen

    try:
        with urlopen(url, timeout=timeout) as response:  # noqa: S310 - only reached with allow_urls=True
            return response.read()
    except Exception as error:
        raise ValueError(f"Could not download audio from {url}: {error}") from error


def decode_audio_file(source: str | os.PathLike | bytes, name: str | None = None) -> tuple[np.ndarray, int]:
    """Decode a file path or encoded bytes into a (samples, channels) float32 array and its sampling rate."""
    if isinstance(source, (bytes, bytearray)):
        label = name or "audio bytes"
        try:
            return _decode_with_soundfile(io.BytesIO(bytes(source)))
        except Exception as error:
            reason = str(error).rstrip(".")
            raise ValueError(f"Could not decode {label}: {reason}. Supported: wav, flac, ogg, mp3.") from error
    path = os.fspath(source)
    label = name or f"audio file {path!r}"
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{label} does not exist; check the path (relative paths are resolved from {os.getcwd()!r})."
        )
    if os.path.isdir(path):
        raise ValueError(f"{label} is a directory, not an audio file.")
    try:
        return _decode_with_soundfile(path)
    except Exception as soundfile_error:
        try:
            data, sampling_rate = _decode_with_librosa(path)
            if data.size == 0:  # audioread "decodes" some garbage to nothing
                raise ValueError("no samples decoded")
            return data, sampling_rate
        except Exception:
            reason = str(soundfile_error).rstrip(".")
            raise ValueError(
                f"Could not decode {label}: {reason}. The file is corrupt or in an unsupported format "
                "(supported: wav, flac, ogg, mp3 via soundfile; other formats need ffmpeg for librosa)."
            ) from soundfile_error


def unpack_audio_source(audio: Any, sampling_rate: Any, *, name: str | None = None) -> tuple[Any, Any]:
    """A torchcodec ``AudioDecoder`` or a ``datasets`` audio dict -> (array, rate), (bytes, rate) or (path, rate);
    any other source is returned unchanged."""
    if is_audio_decoder(audio):
        audio, sampling_rate = decoder_samples(audio)
    if isinstance(audio, Mapping):
        if audio.get("array") is not None:
            return audio["array"], audio.get("sampling_rate", sampling_rate)
        if audio.get("bytes"):
            return audio["bytes"], sampling_rate
        if audio.get("path"):
            return audio["path"], sampling_rate
        raise ValueError(
            f"{name or 'audio'}: the audio dict with keys {sorted(audio)} has no 'array' (+ 'sampling_rate'), "
            "'bytes' or 'path'; pass one of them."
        )
    return audio, sampling_rate


@dataclass(frozen=True)
class AudioSource:
    """One audio value, classified: ``kind`` "file" (a local path), "bytes" (encoded audio) or "array" (samples at
    ``sampling_rate``, not yet checked); ``label`` names it in errors."""

    kind: str
    value: Any
    sampling_rate: Any
    label: str


def audio_source(audio: Any, sampling_rate: Any = None, *, name: str | None = None,
                 allow_urls: bool = False) -> AudioSource:
    """Classify any accepted audio value (path, URL, encoded bytes, array / tensor / list, ``datasets`` audio dict,
    torchcodec ``AudioDecoder``): the one source classifier of every audio reader. A URL is fetched (into "bytes")
    only with ``allow_urls=True``."""
    audio, sampling_rate = unpack_audio_source(audio, sampling_rate, name=name)
    if isinstance(audio, (str, os.PathLike)):
        if is_url(audio):
            if not allow_urls:
                raise ValueError(
                    f"Audio source {audio!r} is a URL; downloading is disabled by default. Pass allow_urls=True "
                    "to fetch it, or download the file and pass its local path."
                )
            return AudioSource("bytes", _read_url(audio), None, name or f"audio from {audio}")
        path = os.fspath(audio)
        return AudioSource("file", path, None, name or f"audio file {path!r}")
    if isinstance(audio, (bytes, bytearray)):
        return AudioSource("bytes", bytes(audio), None, name or "audio bytes")
    return AudioSource("array", audio, sampling_rate, name or "audio array")


def load_audio(
    audio: Any,
    sampling_rate: Any = None,
    *,
    allow_urls: bool = False,
    name: str | None = None,
    target_sampling_rate: int = TARGET_SAMPLING_RATE,
    max_samples: int | None = MAX_AUDIO_SAMPLES,
) -> np.ndarray:
    """Load one clip (path, URL, encoded bytes, array, or a ``datasets`` audio dict) as mono float32 at 16 kHz.

    ``sampling_rate`` is required for arrays and ignored for files (their header gives the rate). A dict with
    ``array`` + ``sampling_rate`` (decoded ``datasets.Audio``) or ``bytes`` / ``path`` (``Audio(decode=False)``)
    is accepted too, and so is a torchcodec ``AudioDecoder`` (what ``datasets.Audio`` decodes to in datasets >= 4;
    its own rate wins over ``sampling_rate``). URLs are only fetched when ``allow_urls=True``. Clips over
    ``max_samples`` (30 s) are cut with a warning; ``max_samples=None`` reads everything (for recordings of any
    length, ``long_form.reading.read_long_audio`` streams files block by block instead).
    """
    source = audio_source(audio, sampling_rate, name=name, allow_urls=allow_urls)
    if source.kind == "array":
        return prepare_waveform(source.value, source.sampling_rate, name=source.label,
                                target_sampling_rate=target_sampling_rate, max_samples=max_samples)
    data, file_rate = decode_audio_file(source.value, name=source.label)
    if data.shape[0] == 0:
        raise ValueError(f"{source.label} contains no samples.")
    return prepare_waveform(data.mean(axis=1, dtype=np.float64).astype(np.float32), file_rate, name=source.label,
                            target_sampling_rate=target_sampling_rate, max_samples=max_samples)


__all__ = [
    "MAX_AUDIO_SAMPLES",
    "MAX_AUDIO_SECONDS",
    "TARGET_SAMPLING_RATE",
    "AudioSource",
    "audio_source",
    "decode_audio_file",
    "decoder_samples",
    "is_audio_decoder",
    "load_audio",
    "prepare_waveform",
    "resample",
    "to_numpy",
    "truncate_to_max_length",
    "validate_sampling_rate",
]
