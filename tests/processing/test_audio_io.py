"""Audio loading: formats, resampling, downmixing, 30 s cap, and the error for each bad input."""

import warnings

import numpy as np
import pytest
import soundfile

from qwen_audio_hf.processing.audio_io import (
    MAX_AUDIO_SAMPLES,
    TARGET_SAMPLING_RATE,
    load_audio,
    prepare_waveform,
    validate_sampling_rate,
)

from .signals import tone


def dominant_frequency(waveform, sampling_rate):
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return np.fft.rfftfreq(len(waveform), 1 / sampling_rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("extension", ["wav", "flac", "ogg", "mp3"])
def test_file_formats_decode_to_16k_mono(tmp_path, extension):
    stereo = np.stack([tone(1.5, 440, 44100), tone(1.5, 440, 44100, 0.1)], axis=1)
    path = tmp_path / f"clip.{extension}"
    soundfile.write(path, stereo, 44100)
    waveform = load_audio(str(path))
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(len(waveform) - 1.5 * TARGET_SAMPLING_RATE) < 0.02 * TARGET_SAMPLING_RATE  # mp3 adds padding
    assert abs(dominant_frequency(waveform, TARGET_SAMPLING_RATE) - 440) < 3
    # mean of the two channels: amplitude (0.3 + 0.1) / 2
    assert abs(np.abs(waveform).max() - 0.2) < 0.02


def test_wav_int16_matches_pcm_scaling(tmp_path):
    pcm = (tone(1.0, 300, 16000) * 32767).astype(np.int16)
    path = tmp_path / "pcm.wav"
    soundfile.write(path, pcm, 16000, subtype="PCM_16")
    np.testing.assert_array_equal(load_audio(path), pcm.astype(np.float32) / 32768.0)
    np.testing.assert_array_equal(load_audio(pcm, sampling_rate=16000), pcm.astype(np.float32) / 32768.0)


def test_resampling_keeps_frequency():
    waveform = load_audio(tone(2.0, 1000, 44100), sampling_rate=44100)
    assert len(waveform) == 32000
    assert abs(dominant_frequency(waveform, 16000) - 1000) < 2
    direct = tone(2.0, 1000, 16000)
    core = slice(1000, -1000)  # ignore resampler edge effects
    assert np.abs(waveform[core] - direct[core]).max() < 0.01


@pytest.mark.parametrize("layout", ["samples_channels", "channels_samples"])
def test_downmix_averages_channels(layout):
    left, right = tone(1.0, 500, 16000, 0.4), tone(1.0, 500, 16000, 0.2)
    stacked = np.stack([left, right], axis=1 if layout == "samples_channels" else 0)
    np.testing.assert_allclose(load_audio(stacked, sampling_rate=16000), (left + right) / 2, atol=1e-7)


def test_torch_tensor_and_list_inputs():
    torch = pytest.importorskip("torch")
    clip = tone(0.5, 200, 16000)
    np.testing.assert_array_equal(load_audio(torch.from_numpy(clip), sampling_rate=16000), clip)
    np.testing.assert_allclose(load_audio(clip.tolist(), sampling_rate=16000), clip)


def test_over_30_seconds_truncates_with_warning():
    clip = tone(33.0, 100, 16000)
    with pytest.warns(UserWarning, match=r"33\.00 s long.*only the first 30 s are used"):
        waveform = load_audio(clip, sampling_rate=16000)
    np.testing.assert_array_equal(waveform, clip[:MAX_AUDIO_SAMPLES])


def test_exactly_30_seconds_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_audio(tone(30.0, 100, 16000), sampling_rate=16000)) == MAX_AUDIO_SAMPLES


@pytest.mark.parametrize(
    "array, sampling_rate, error, message",
    [
        (np.zeros(1600), None, ValueError, "`sampling_rate` is required"),
        (np.zeros(1600), 0, ValueError, "positive integer"),
        (np.zeros(1600), -8000, ValueError, "positive integer"),
        (np.zeros(1600), 16000.5, ValueError, "whole number"),
        (np.zeros(1600), "16k", TypeError, "positive integer"),
        (np.zeros(1600), True, TypeError, "positive integer"),
        (np.zeros(0), 16000, ValueError, "empty"),
        (np.full(1600, np.nan), 16000, ValueError, "NaN or infinite"),
        (np.concatenate([np.zeros(1600), [np.inf]]), 16000, ValueError, "NaN or infinite"),
        (np.zeros((2, 2, 1600)), 16000, ValueError, "1-D"),
        (np.zeros((40, 1600)), 16000, ValueError, "channel axis"),
        (np.zeros(1600, dtype=np.int64), 16000, TypeError, "int16"),
        (np.zeros(1600, dtype=np.complex64), 16000, TypeError, "unsupported sample dtype"),
        ({"samples": [0.0]}, 16000, ValueError, "has no 'array'"),
        (object(), 16000, TypeError, "numpy array"),
    ],
)
def test_bad_arrays_raise_clear_errors(array, sampling_rate, error, message):
    with pytest.raises(error, match=message):
        load_audio(array, sampling_rate=sampling_rate)


def test_float_sampling_rate_that_is_whole_is_accepted():
    assert validate_sampling_rate(16000.0) == 16000
    assert validate_sampling_rate(np.int64(8000)) == 8000


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio(str(tmp_path / "missing.wav"))


def test_corrupt_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 8)
    with pytest.raises(ValueError, match="Could not decode"):
        load_audio(str(path))


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        load_audio(str(tmp_path))


def test_urls_require_opt_in():
    with pytest.raises(ValueError, match="allow_urls=True"):
        load_audio("https://example.com/clip.wav")


def test_encoded_bytes(tmp_path):
    path = tmp_path / "clip.flac"
    soundfile.write(path, tone(0.5, 700, 22050), 22050)
    waveform = load_audio(path.read_bytes())
    assert len(waveform) == 8000 and abs(dominant_frequency(waveform, 16000) - 700) < 5


def test_prepare_waveform_does_not_modify_input():
    clip = (tone(0.5, 440, 16000) * 32767).astype(np.int16)
    before = clip.copy()
    prepare_waveform(clip, 16000)
    np.testing.assert_array_equal(clip, before)


def test_datasets_style_dicts(tmp_path):
    clip = tone(1.0, 440, 22050)
    expected = load_audio(clip, sampling_rate=22050)
    np.testing.assert_array_equal(load_audio({"array": clip, "sampling_rate": 22050}), expected)
    path = tmp_path / "clip.wav"
    soundfile.write(path, clip, 22050, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio({"path": str(path), "bytes": None}), expected)
    np.testing.assert_array_equal(load_audio({"path": None, "bytes": path.read_bytes()}), expected)
