"""QwenAudioFeatureExtractor: log-mel layout, masks, span lengths, resampling, save/load."""

import json

import numpy as np
import pytest
import soundfile

from qwen_audio_hf.processing.feature_extraction_qwen_audio import QwenAudioFeatureExtractor

from .signals import tone


def reference_log_mel(waveform, extractor):
    """Independent numpy log-mel (Whisper recipe) over the clip zero-padded to 30 s."""
    padded = np.zeros(480000, dtype=np.float64)
    padded[: len(waveform)] = waveform[:480000]
    reflected = np.pad(padded, 200, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(reflected, 400)[::160][:3000]
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = np.log10(np.maximum(power @ extractor.mel_filters, 1e-10)).T
    mel = np.maximum(mel, mel.max() - 8.0)
    return (mel + 4.0) / 4.0


@pytest.fixture(scope="module")
def extractor():
    return QwenAudioFeatureExtractor()


def test_outputs_shapes_masks_and_values(extractor):
    clips = [tone(1.0, 440, 16000), tone(3.0, 220, 16000), tone(7.45, 1000, 16000)]
    out = extractor(clips, sampling_rate=16000, return_tensors="np")
    assert set(out.keys()) == {"input_features", "feature_attention_mask"}
    assert out["input_features"].shape == (3, 80, 3000) and out["input_features"].dtype == np.float32
    assert out["feature_attention_mask"].shape == (3, 3000)
    for row, clip in enumerate(clips):
        mask = out["feature_attention_mask"][row]
        assert mask.sum() == len(clip) // 160 and mask[: len(clip) // 160].all()
        np.testing.assert_allclose(out["input_features"][row], reference_log_mel(clip, extractor), atol=2e-4)
    assert extractor.span_lengths(out["feature_attention_mask"]) == [27, 77, 188]


def test_mask_uses_floor_of_samples_over_hop(extractor):
    out = extractor(np.random.default_rng(0).uniform(-0.1, 0.1, 16159), sampling_rate=16000)
    assert out["feature_attention_mask"].sum() == 100  # not ceil(16159 / 160) = 101


def test_batch_composition_does_not_change_features(extractor):
    quiet, loud = tone(2.0, 300, 16000, 0.01), tone(5.0, 300, 16000, 0.9)
    alone = extractor(quiet, sampling_rate=16000)["input_features"][0]
    together = extractor([loud, quiet], sampling_rate=16000)["input_features"][1]
    np.testing.assert_array_equal(alone, together)


def test_over_30_seconds_warns_and_uses_first_30(extractor):
    long_clip = np.random.default_rng(1).uniform(-0.2, 0.2, 33 * 16000).astype(np.float32)
    with pytest.warns(UserWarning, match="only the first 30 s"):
        out = extractor(long_clip, sampling_rate=16000, return_tensors="pt")
    assert int(out["feature_attention_mask"].sum()) == 3000
    first_30 = extractor(long_clip[:480000], sampling_rate=16000)["input_features"][0]
    np.testing.assert_array_equal(out["input_features"][0].numpy(), first_30)


def test_resampled_44k1_matches_native_16k_loosely(extractor):
    native = extractor(tone(2.0, 660, 16000), sampling_rate=16000)["input_features"][0][:, :200]
    resampled = extractor(tone(2.0, 660, 44100), sampling_rate=44100)["input_features"][0][:, :200]
    peak_bin = native[:, 20:180].mean(axis=1).argmax()
    assert resampled[:, 20:180].mean(axis=1).argmax() == peak_bin
    assert np.abs(native - resampled)[:, 20:180].mean() < 0.05


def test_paths_and_arrays_mix(extractor, tmp_path):
    clip = tone(1.5, 500, 16000)
    path = tmp_path / "clip.wav"
    soundfile.write(path, clip, 16000, subtype="FLOAT")
    out = extractor([str(path), clip], sampling_rate=16000)
    np.testing.assert_array_equal(out["input_features"][0], out["input_features"][1])


def test_array_without_sampling_rate_fails(extractor):
    with pytest.raises(ValueError, match="sampling_rate"):
        extractor(tone(1.0, 500, 16000))


def test_empty_batch_fails(extractor):
    with pytest.raises(ValueError, match="No audio"):
        extractor([], sampling_rate=16000)


def test_error_names_the_bad_clip(extractor):
    with pytest.raises(ValueError, match="audio #1 contains NaN"):
        extractor([tone(1.0, 500, 16000), np.full(16000, np.nan)], sampling_rate=16000)


def test_save_and_load_round_trip(extractor, tmp_path):
    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "QwenAudioFeatureExtractor" and saved["feature_size"] == 80
    reloaded = QwenAudioFeatureExtractor.from_pretrained(tmp_path)
    clip = tone(1.0, 800, 16000)
    np.testing.assert_array_equal(
        reloaded(clip, sampling_rate=16000)["input_features"], extractor(clip, sampling_rate=16000)["input_features"]
    )


def test_auto_feature_extractor_loads_saved_config(extractor, tmp_path):
    from transformers import AutoFeatureExtractor

    import qwen_audio_hf.processing  # noqa: F401  (registers the Auto classes)

    extractor.save_pretrained(tmp_path)
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path)) is QwenAudioFeatureExtractor


def test_original_checkpoint_directory_gives_defaults(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen", "audio": {"n_mels": 80}}))
    loaded = QwenAudioFeatureExtractor.from_pretrained(tmp_path)
    assert (loaded.feature_size, loaded.sampling_rate, loaded.n_fft, loaded.hop_length) == (80, 16000, 400, 160)
    assert loaded.nb_max_frames == 3000


def test_unrelated_directory_without_config_fails(tmp_path):
    with pytest.raises(OSError):
        QwenAudioFeatureExtractor.from_pretrained(tmp_path)
