"""Long-form segmentation: cuts in pauses, exact tiling, the tail rule, forced cuts, every input kind."""

import numpy as np
import pytest

from qwen_audio_hf.processing import long_audio, segmentation
from qwen_audio_hf.processing.audio_io import load_audio
from qwen_audio_hf.processing.segmentation import Window, active_region, segment

SR = 16000


def _noise_with_pauses(seconds, pauses, seed=0, level=0.3):
    """White noise with digital-silence pauses at the given (start_s, end_s) spans."""
    audio = (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)
    for begin, end in pauses:
        audio[int(begin * SR) : int(end * SR)] = 0.0
    return audio


def _assert_tiles(windows, total, limit_s):
    assert windows[0].start == 0 and windows[-1].end == total
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))
    assert all(0 < w.num_samples <= int(limit_s * SR) for w in windows)


def test_cuts_fall_in_the_middle_of_planted_pauses():
    pauses = [(26.0, 26.6), (53.1, 53.5), (79.0, 80.0)]
    audio = _noise_with_pauses(100.0, pauses)
    windows = segment(audio, 30.0)
    _assert_tiles(windows, len(audio), 30.0)
    cuts = [w.end / SR for w in windows[:-1]]
    assert len(cuts) == len(pauses)
    for cut, (begin, end) in zip(cuts, pauses):
        assert begin + 0.04 <= cut <= end - 0.04  # inside the pause, never at the sound next to it
        assert abs(cut - (begin + end) / 2) <= 0.06  # in its middle
    assert not any(w.forced for w in windows)


def test_quiet_but_not_silent_pause_is_found_over_louder_noise():
    audio = _noise_with_pauses(40.0, [])
    audio[int(27.0 * SR) : int(27.4 * SR)] *= 0.05  # -26 dB dip, not digital silence
    windows = segment(audio, 30.0)
    assert 27.0 < windows[0].end / SR < 27.4 and not windows[0].forced


def test_forced_cut_without_a_pause_stays_within_the_limit():
    audio = _noise_with_pauses(70.0, [])
    windows = segment(audio, 30.0)
    _assert_tiles(windows, len(audio), 30.0)
    assert windows[0].forced and windows[1].forced and not windows[-1].forced
    assert all(w.num_samples >= 25 * SR for w in windows[:-1])  # cut within the 5 s search region


@pytest.mark.parametrize("extra_s", [0.01, 0.2, 0.49])
def test_short_tail_is_absorbed_and_the_cap_still_holds(extra_s):
    audio = _noise_with_pauses(30.0 + extra_s, [(28.0, 28.3)])
    windows = segment(audio, 30.0)
    _assert_tiles(windows, len(audio), 30.0)
    assert len(windows) == 2 and windows[-1].num_samples >= 0.5 * SR
    assert 28.0 <= windows[0].end_s <= 28.3  # the pause, not a cut 0.5 s before the end


def test_every_window_but_the_whole_recording_is_at_least_min_window():
    rng = np.random.default_rng(3)
    for trial in range(20):
        seconds = float(rng.uniform(0.1, 95.0))
        pauses = [(s, s + rng.uniform(0.1, 1.0)) for s in rng.uniform(0, seconds, size=4)]
        audio = _noise_with_pauses(seconds, pauses, seed=trial)
        chunk = float(rng.choice([2.0, 7.5, 30.0]))
        windows = segment(audio, chunk)
        _assert_tiles(windows, len(audio), chunk)
        if len(windows) > 1:
            assert min(w.num_samples for w in windows) >= 0.5 * SR


def test_short_and_empty_inputs():
    assert segment(np.zeros(0, np.float32)) == []
    assert segment(np.ones(100, np.float32)) == [Window(0, 100)]
    assert segment(np.ones(30 * SR, np.float32)) == [Window(0, 30 * SR)]


def test_bad_settings_raise_with_the_fix():
    audio = np.zeros(SR, np.float32)
    with pytest.raises(ValueError, match="at most 30"):
        segment(audio, 31.0)
    with pytest.raises(ValueError, match="search_s"):
        segment(audio, 1.0)


def test_active_region_trims_digital_silence_and_flags_silent_windows():
    audio = _noise_with_pauses(3.0, [(0.0, 1.0), (2.5, 3.0)])
    assert active_region(audio, 0, len(audio)) == (SR, int(2.5 * SR))
    assert active_region(audio, 0, SR) is None
    assert active_region(np.full(SR, 1e-4, np.float32), 0, SR) is None  # -80 dBFS hiss is silence
    assert active_region(audio, 5, 5) is None


# ------------------------------------------------------------------------------------------------ reading sources
def test_arrays_multichannel_and_resampled_input(tmp_path):
    stereo = np.stack([_noise_with_pauses(5.0, [], seed=1), _noise_with_pauses(5.0, [], seed=2)], axis=1)
    mono = read = long_audio.read_long_audio(stereo, SR)
    np.testing.assert_allclose(mono, stereo.mean(1), atol=1e-7)
    channels_first = long_audio.read_long_audio(stereo.T, SR)
    np.testing.assert_array_equal(channels_first, read)
    at_8k = long_audio.read_long_audio(stereo[::2], 8000)
    assert at_8k.shape == (5 * SR,) and at_8k.dtype == np.float32
    assert long_audio.read_long_audio(np.zeros((0, 2), np.float32), 44100).shape == (0,)
    with pytest.raises(ValueError, match="sampling_rate"):
        long_audio.read_long_audio(stereo, None)


@pytest.mark.parametrize("fmt, rate, tolerance", [("wav", 44100, 1e-6), ("flac", 22050, 1e-4), ("ogg", 16000, 0.1)])
def test_files_stream_like_load_audio_and_exceed_30_s(tmp_path, fmt, rate, tolerance):
    import soundfile

    seconds = 41.0
    t = np.arange(int(seconds * rate)) / rate
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)], axis=1)
    path = tmp_path / f"long.{fmt}"
    soundfile.write(path, stereo.astype(np.float32), rate)
    waveform = long_audio.read_long_audio(str(path))
    assert waveform.dtype == np.float32 and abs(waveform.shape[0] - seconds * SR) <= 1
    reference = load_audio(str(path), max_samples=None)  # whole-file decode + one-shot resample
    assert waveform.shape == reference.shape
    np.testing.assert_allclose(waveform, reference, atol=tolerance)


def test_blocks_give_the_same_samples_as_one_shot(tmp_path, monkeypatch):
    import soundfile

    audio = _noise_with_pauses(7.3, [(2.0, 3.0)], seed=4)
    soundfile.write(tmp_path / "a.wav", audio, 48000)
    whole = long_audio.read_long_audio(str(tmp_path / "a.wav"))
    monkeypatch.setattr(long_audio, "BLOCK_SECONDS", 0.37)
    np.testing.assert_array_equal(long_audio.read_long_audio(str(tmp_path / "a.wav")), whole)


def test_unreadable_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ValueError, match="bad.wav"):
        long_audio.read_long_audio(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        long_audio.read_long_audio(str(tmp_path / "missing.wav"))
    nan = np.zeros(SR, np.float32)
    nan[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        long_audio.read_long_audio(nan, SR)
    with pytest.raises(ValueError, match="allow_urls=True"):
        long_audio.read_long_audio("https://example.com/a.wav")


def test_bytes_and_datasets_dicts(tmp_path):
    import soundfile

    audio = _noise_with_pauses(31.0, [(3.0, 4.0)], seed=5, level=0.1)  # no clipping in 16-bit flac
    soundfile.write(tmp_path / "a.flac", audio, SR)
    encoded = (tmp_path / "a.flac").read_bytes()
    from_bytes = long_audio.read_long_audio(encoded)
    np.testing.assert_allclose(from_bytes, audio, atol=1e-4)
    np.testing.assert_array_equal(long_audio.read_long_audio({"bytes": encoded, "path": None}), from_bytes)
    np.testing.assert_array_equal(long_audio.read_long_audio({"path": str(tmp_path / "a.flac")}), from_bytes)
    np.testing.assert_array_equal(long_audio.read_long_audio({"array": audio, "sampling_rate": SR}), audio)


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
    waveform = long_audio.read_long_audio(str(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    output_bytes = 3600 * SR * 4
    assert waveform.shape[0] == 3600 * SR
    assert peak <= output_bytes + 32e6, f"peak {peak / 1e6:.1f} MB"
    windows = segment(waveform, 30.0)
    _assert_tiles(windows, len(waveform), 30.0)
