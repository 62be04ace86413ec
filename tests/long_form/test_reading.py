"""Long-form reading: any source, any length, streamed into one 16 kHz array; the same samples as load_audio."""

import numpy as np
import pytest

from qwen_audio_hf.long_form import reading
from qwen_audio_hf.long_form.windows import segment
from qwen_audio_hf.processing.audio_io import load_audio

from .signals import SR, assert_tiles, noise_with_pauses


def test_arrays_multichannel_and_resampled_input(tmp_path):
    stereo = np.stack([noise_with_pauses(5.0, [], seed=1), noise_with_pauses(5.0, [], seed=2)], axis=1)
    mono = read = reading.read_long_audio(stereo, SR)
    np.testing.assert_allclose(mono, stereo.mean(1), atol=1e-7)
    channels_first = reading.read_long_audio(stereo.T, SR)
    np.testing.assert_array_equal(channels_first, read)
    at_8k = reading.read_long_audio(stereo[::2], 8000)
    assert at_8k.shape == (5 * SR,) and at_8k.dtype == np.float32
    assert reading.read_long_audio(np.zeros((0, 2), np.float32), 44100).shape == (0,)
    with pytest.raises(ValueError, match="sampling_rate"):
        reading.read_long_audio(stereo, None)


@pytest.mark.parametrize("fmt, rate, tolerance", [("wav", 44100, 1e-6), ("flac", 22050, 1e-4), ("ogg", 16000, 0.1)])
def test_files_stream_like_load_audio_and_exceed_30_s(tmp_path, fmt, rate, tolerance):
    import soundfile

    seconds = 41.0
    t = np.arange(int(seconds * rate)) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], axis=1)
    path = tmp_path / f"long.{fmt}"
    soundfile.write(path, stereo.astype(np.float32), rate)
    waveform = reading.read_long_audio(str(path))
    assert waveform.dtype == np.float32 and abs(waveform.shape[0] - seconds * SR) <= 1
    reference = load_audio(str(path), max_samples=None)  # whole-file decode + one-shot resample
    assert waveform.shape == reference.shape
    np.testing.assert_allclose(waveform, reference, atol=tolerance)


def test_blocks_give_the_same_samples_as_one_shot(tmp_path, monkeypatch):
    import soundfile

    audio = noise_with_pauses(7.3, [(2.0, 3.0)], seed=4)
    soundfile.write(tmp_path / "a.wav", audio, 48000)
    whole = reading.read_long_audio(str(tmp_path / "a.wav"))
    monkeypatch.setattr(reading, "BLOCK_SECONDS", 0.37)
    np.testing.assert_array_equal(reading.read_long_audio(str(tmp_path / "a.wav")), whole)


def test_unreadable_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ValueError, match="bad.wav"):
        reading.read_long_audio(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        reading.read_long_audio(str(tmp_path / "missing.wav"))
    nan = np.zeros(SR, np.float32)
    nan[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        reading.read_long_audio(nan, SR)
    with pytest.raises(ValueError, match="allow_urls=True"):
        reading.read_long_audio("https://example.com/a.wav")


def test_bytes_and_datasets_dicts(tmp_path):
    import soundfile

    audio = noise_with_pauses(31.0, [(3.0, 4.0)], seed=5, level=0.1)  # no clipping in 16-bit flac
    soundfile.write(tmp_path / "a.flac", audio, SR)
    encoded = (tmp_path / "a.flac").read_bytes()
    from_bytes = reading.read_long_audio(encoded)
    np.testing.assert_allclose(from_bytes, audio, atol=1e-4)
    np.testing.assert_array_equal(reading.read_long_audio({"bytes": encoded, "path": None}), from_bytes)
    np.testing.assert_array_equal(reading.read_long_audio({"path": str(tmp_path / "a.flac")}), from_bytes)
    np.testing.assert_array_equal(reading.read_long_audio({"array": audio, "sampling_rate": SR}), audio)


def test_an_hour_long_file_is_held_once(tmp_path):
    """Peak traced memory while reading a 1 h 8 kHz stereo int16 file stays within its 16 kHz float32 output
    (230.4 MB) plus 32 MB: the native-rate signal is never materialised whole."""
    import tracemalloc

    import soundfile

    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", samplerate=8000, channels=2, subtype="PCM_16") as handle:
        for _ in range(60):
            handle.write((0.1 * rng.standard_normal((8000 * 60, 2))).astype(np.float32))
    tracemalloc.start()
    waveform = reading.read_long_audio(str(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    output_bytes = 3600 * SR * 4
    assert waveform.shape[0] == 3600 * SR
    assert peak <= output_bytes + 32e6, f"peak {peak / 1e6:.1f} MB"
    windows = segment(waveform, 30.0)
    assert_tiles(windows, len(waveform), 30.0)
