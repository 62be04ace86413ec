"""Audio tower: output lengths, longest-clip cut, batch invariance, exact GELU, input validation."""

import numpy as np
import pytest
import torch
from torch import nn

from qwen_audio_hf.modeling import QwenAudioEncoder, QwenAudioEncoderConfig, audio_token_counts
from qwen_audio_hf.processing import QwenAudioFeatureExtractor
from qwen_audio_hf.modeling.modeling_qwen_audio_encoder import sinusoid_positions

from ..tiny_models import audio_features, tiny_encoder


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(0)


def test_token_counts_follow_the_conv_and_pooling_arithmetic():
    frames = torch.tensor([300, 301, 1, 2, 3, 3000])
    conv = (frames - 1) // 2 + 1
    assert audio_token_counts(frames).tolist() == ((conv - 2) // 2 + 1).tolist()
    assert audio_token_counts(300) + 2 == 77  # a 3 s clip gives a span of 77 (ints work as well as tensors)


def test_sinusoids_are_whisper_tables():
    table = sinusoid_positions(1500, 32)
    assert table.shape == (1500, 32)
    assert torch.allclose(table[0], torch.cat([torch.zeros(16), torch.ones(16)]))
    assert torch.allclose(table[7, 0], torch.sin(torch.tensor(7.0)))


def test_batch_is_encoded_up_to_its_longest_clip_only(encoder):
    (a, a_mask), (b, b_mask) = audio_features(300, seed=1), audio_features(120, seed=2)
    out = encoder(torch.stack([a, b]), torch.stack([a_mask, b_mask]))
    assert out.last_hidden_state.shape == (2, 75, 32)  # 300 mel frames -> 150 conv frames -> 75 pooled
    assert out.output_lengths.tolist() == [75, 30]


def clips(*seconds: float) -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    return [generator.normal(0.0, 0.1, int(16000 * s)).astype(np.float32) for s in seconds]


@pytest.mark.parametrize("batch_invariant", [True, False])
def test_each_clip_is_encoded_as_if_alone(encoder, batch_invariant):
    """Feature-extractor output of mixed lengths (odd and even frame counts, 10 ms .. 4 s): every clip's valid
    outputs equal its solo encoding. batch_invariant=False (the original's batching) makes shorter clips differ."""
    features = QwenAudioFeatureExtractor()(clips(4.0, 1.31, 0.515, 0.03, 0.01), sampling_rate=16000, return_tensors="pt")
    frames, mask = features["input_features"], features["feature_attention_mask"]
    encoder.config.batch_invariant = batch_invariant
    try:
        batched = encoder(frames, mask)
        alone = [encoder(frames[i : i + 1], mask[i : i + 1]) for i in range(len(frames))]
    finally:
        encoder.config.batch_invariant = True
    counts = batched.output_lengths.tolist()
    assert counts == [100, 33, 13, 1, 0]  # 400, 131, 51, 3, 1 mel frames
    for i, count in enumerate(counts[:-1]):
        solo = alone[i].last_hidden_state[0, :count]
        same = torch.allclose(batched.last_hidden_state[i, :count], solo, rtol=0, atol=1e-5)
        assert same == (batch_invariant or i == 0), f"clip {i}"


def test_frames_past_a_clips_conv_stem_input_change_nothing(encoder):
    """A clip of 121 mel frames reads 2 * T = 122 of them (alone, the conv padding is zero past that)."""
    short, short_mask = audio_features(121, seed=3)
    long, long_mask = audio_features(600, seed=4)
    batched = encoder(torch.stack([short, long]), torch.stack([short_mask, long_mask])).last_hidden_state[0, :30]
    noisy = short.clone()
    noisy[:, 122:] = torch.randn(80, 3000 - 122) * 3
    perturbed = encoder(torch.stack([noisy, long]), torch.stack([short_mask, long_mask])).last_hidden_state[0, :30]
    torch.testing.assert_close(perturbed, batched, rtol=0, atol=0)
    noisy[:, 121] += 1.0  # frame 121 lies within the conv stem's input of the last conv frame: it counts
    moved = encoder(torch.stack([noisy, long]), torch.stack([short_mask, long_mask])).last_hidden_state[0, :30]
    assert not torch.allclose(moved, batched, atol=1e-4)


def test_mask_is_what_limits_attention(encoder):
    """Without the key mask the padded frames would leak in: check the mask really matters."""
    short, short_mask = audio_features(120, seed=5)
    long, long_mask = audio_features(600, seed=6)
    features = torch.stack([short, long])
    masked = encoder(features, torch.stack([short_mask, long_mask])).last_hidden_state[0, :30]
    unmasked = encoder(features, torch.stack([long_mask, long_mask])).last_hidden_state[0, :30]
    assert not torch.allclose(masked, unmasked, atol=1e-4)


def test_gelu_is_the_exact_erf_one(encoder):
    x = torch.linspace(-4, 4, 101)
    torch.testing.assert_close(encoder.layers[0].activation_fn(x), nn.functional.gelu(x, approximate="none"))


def test_eager_and_sdpa_agree():
    config = QwenAudioEncoderConfig(d_model=32, encoder_layers=2, encoder_attention_heads=4)
    torch.manual_seed(1)
    eager = QwenAudioEncoder(QwenAudioEncoderConfig(**config.to_dict(), attn_implementation="eager")).eval()
    sdpa = QwenAudioEncoder(QwenAudioEncoderConfig(**config.to_dict(), attn_implementation="sdpa")).eval()
    sdpa.load_state_dict(eager.state_dict())
    (a, am), (b, bm) = audio_features(300, seed=7), audio_features(50, seed=8)
    features, mask = torch.stack([a, b]), torch.stack([am, bm])
    torch.testing.assert_close(sdpa(features, mask).last_hidden_state, eager(features, mask).last_hidden_state,
                               rtol=1e-5, atol=1e-5)


def test_bad_inputs_raise_clear_errors(encoder):
    features, mask = audio_features(100)
    with pytest.raises(ValueError, match="input_features must have shape"):
        encoder(features[:40][None], mask[None])
    with pytest.raises(ValueError, match="feature_attention_mask must have shape"):
        encoder(features[None], mask[None, :100])
    with pytest.raises(ValueError, match="audio too long"):
        encoder(torch.zeros(1, 80, 3004))
