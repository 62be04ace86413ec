"""Read a recording of any length as ONE mono float32 array at 16 kHz, without the 30 s cap of ``load_audio``.

Files that soundfile reads (wav, flac, ogg, mp3) are streamed: blocks of a few seconds are decoded, downmixed and
resampled with soxr's streaming resampler (bit-identical to resampling the whole signal at once) straight into
the output array, so an hour-long 44.1 kHz stereo file never exists in memory at its native rate: the peak is
the 16 kHz output (230 MB per hour) plus one block. Other formats go through ``audio_io.decode_audio_file``
(librosa/ffmpeg), which holds the decoded file once before resampling. In-memory arrays are resampled in one go.

Unlike ``load_audio``, an empty source gives an empty array (long-form decoding turns it into an empty result)
and a source shorter than 30 ms is returned as is.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..processing.audio_io import (
    TARGET_SAMPLING_RATE,
    audio_source,
    decode_audio_file,
    prepare_waveform,
    to_numpy,
    validate_sampling_rate,
)

BLOCK_SECONDS = 10.0
"""Seconds of native-rate audio decoded per block when streaming a file."""


def _check_finite(block: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(block)):
        raise ValueError(f"{name} contains NaN or infinite samples; clean the waveform before processing.")


def _stream_soundfile(path: str, name: str) -> np.ndarray:
    """Decode, downmix and resample ``path`` block by block into one preallocated 16 kHz array."""
    import soundfile
    import soxr

    with soundfile.SoundFile(path) as handle:
        rate, frames = handle.samplerate, handle.frames
        capacity = math.ceil(frames * TARGET_SAMPLING_RATE / rate) + 16
        out = np.empty(capacity, dtype=np.float32)
        stream = None if rate == TARGET_SAMPLING_RATE else soxr.ResampleStream(
            rate, TARGET_SAMPLING_RATE, 1, dtype="float32", quality="HQ"
        )
        filled = 0

        def put(chunk: np.ndarray) -> None:
            nonlocal filled, out
            if filled + chunk.shape[0] > out.shape[0]:  # header frame count was short: grow once
                out = np.concatenate([out[:filled], np.empty(max(chunk.shape[0], out.shape[0] // 8), np.float32)])
            out[filled : filled + chunk.shape[0]] = chunk
            filled += chunk.shape[0]

        blocksize = max(int(rate * BLOCK_SECONDS), 1)
        for block in handle.blocks(blocksize=blocksize, dtype="float32", always_2d=True):
            mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)  # same downmix as load_audio
            _check_finite(mono, name)
            put(mono if stream is None else stream.resample_chunk(mono, last=False))
        if stream is not None:
            put(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return out[:filled]


def _decoded_mono(data: np.ndarray, rate: int, name: str) -> np.ndarray:
    """A decoded (samples, channels) file as 16 kHz mono, in one go (empty stays empty)."""
    if data.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    return prepare_waveform(data.mean(axis=1, dtype=np.float64).astype(np.float32), rate, name=name, max_samples=None)


def _read_file(path: str, name: str) -> np.ndarray:
    if not os.path.isfile(path):
        decode_audio_file(path, name=name)  # raises the package's "does not exist" / "is a directory" errors
    try:
        return _stream_soundfile(path, name)
    except ValueError as error:
        if "NaN" in str(error):
            raise
    except Exception:  # noqa: BLE001 - soundfile cannot read it: try the general decoder below
        pass
    return _decoded_mono(*decode_audio_file(path, name=name), name)


def read_long_audio(audio: Any, sampling_rate: Any = None, *, name: str | None = None,
                    allow_urls: bool = False) -> np.ndarray:
    """Any source the processor accepts (path, encoded bytes, array + rate, ``datasets`` audio dict, URL with
    ``allow_urls=True``), any length, as mono float32 at 16 kHz. Multichannel audio is averaged."""
    source = audio_source(audio, sampling_rate, name=name, allow_urls=allow_urls)
    if source.kind == "file":
        return _read_file(source.value, source.label)
    if source.kind == "bytes":
        return _decoded_mono(*decode_audio_file(source.value, name=source.label), source.label)
    rate = validate_sampling_rate(source.sampling_rate, what=source.label)
    if to_numpy(source.value).size == 0:
        return np.zeros(0, dtype=np.float32)
    return prepare_waveform(source.value, rate, name=source.label, max_samples=None)


__all__ = ["BLOCK_SECONDS", "read_long_audio"]
