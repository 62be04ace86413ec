"""Long-form window planning: cuts in pauses, exact tiling, the tail rule, forced cuts, silent windows."""

import numpy as np
import pytest

from qwen_audio_hf.long_form.windows import Window, active_region, segment

from .signals import SR, assert_tiles, noise_with_pauses


def test_cuts_fall_in_the_middle_of_planted_pauses():
    pauses = [(26.0, 26.6), (53.1, 53.5), (79.0, 80.0)]
    audio = noise_with_pauses(100.0, pauses)
    windows = segment(audio, 30.0)
    assert_tiles(windows, len(audio), 30.0)
    cuts = [w.end / SR for w in windows[:-1]]
    assert len(cuts) == len(pauses)
    for cut, (begin, end) in zip(cuts, pauses):
        assert begin + 0.04 <= cut <= end - 0.04  # inside the pause, never at the sound next to it
        assert abs(cut - (begin + end) / 2) <= 0.06  # in its middle
    assert not any(w.forced for w in windows)


def test_quiet_but_not_silent_pause_is_found_over_louder_noise():
    audio = noise_with_pauses(40.0, [])
    audio[int(27.0 * SR) : int(27.4 * SR)] *= 0.05  # -26 dB dip, not digital silence
    windows = segment(audio, 30.0)
    assert 27.0 < windows[0].end / SR < 27.4 and not windows[0].forced


def test_forced_cut_without_a_pause_stays_within_the_limit():
    audio = noise_with_pauses(70.0, [])
    windows = segment(audio, 30.0)
    assert_tiles(windows, len(audio), 30.0)
    assert windows[0].forced and windows[1].forced and not windows[-1].forced
    assert all(w.num_samples >= 25 * SR for w in windows[:-1])  # cut within the 5 s search region


@pytest.mark.parametrize("extra_s", [0.01, 0.2, 0.49])
def test_short_tail_is_absorbed_and_the_cap_still_holds(extra_s):
    audio = noise_with_pauses(30.0 + extra_s, [(28.0, 28.3)])
    windows = segment(audio, 30.0)
    assert_tiles(windows, len(audio), 30.0)
    assert len(windows) == 2 and windows[-1].num_samples >= 0.5 * SR
    assert 28.0 <= windows[0].end_s <= 28.3  # the pause, not a cut 0.5 s before the end


def test_every_window_but_the_whole_recording_is_at_least_min_window():
    rng = np.random.default_rng(3)
    for trial in range(20):
        seconds = float(rng.uniform(0.1, 95.0))
        pauses = [(s, s + rng.uniform(0.1, 1.0)) for s in rng.uniform(0, seconds, size=4)]
        audio = noise_with_pauses(seconds, pauses, seed=trial)
        chunk = float(rng.choice([2.0, 7.5, 30.0]))
        windows = segment(audio, chunk)
        assert_tiles(windows, len(audio), chunk)
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
    audio = noise_with_pauses(3.0, [(0.0, 1.0), (2.5, 3.0)])
    assert active_region(audio, 0, len(audio)) == (SR, int(2.5 * SR))
    assert active_region(audio, 0, SR) is None
    assert active_region(np.full(SR, 1e-4, np.float32), 0, SR) is None  # -80 dBFS hiss is silence
    assert active_region(audio, 5, 5) is None
