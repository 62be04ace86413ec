"""Long-context path: dynamic NTK rope + log-n query scaling (eval only), otherwise identical to Qwen2."""

import math

import pytest
import torch
from transformers import Qwen2Config, Qwen2Model

from qwen_audio_hf.modeling import QwenAudioTextConfig, QwenAudioTextModel
from qwen_audio_hf.modeling.modeling_qwen_audio_text import dynamic_ntk_alpha, logn_query_scale

SEQ_LENGTH = 16
TINY = dict(
    vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=4, max_position_embeddings=512, pad_token_id=None, rms_norm_eps=1e-5,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
)


def _models(**overrides):
    torch.manual_seed(0)
    ours = QwenAudioTextModel(QwenAudioTextConfig(**TINY, seq_length=SEQ_LENGTH, **overrides)).eval()
    with torch.no_grad():
        for param in ours.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.1)
    stock = Qwen2Model(Qwen2Config(**TINY)).eval()
    stock.load_state_dict(ours.state_dict())
    return ours, stock


def _ids(length, seed=0):
    return torch.randint(0, 1000, (1, length), generator=torch.Generator().manual_seed(seed))


def _hidden(model, ids, **kwargs):
    with torch.no_grad():
        return model(input_ids=ids, **kwargs).last_hidden_state


@pytest.mark.parametrize("n, alpha", [(1, 1), (8, 1), (16, 1), (17, 3), (32, 3), (33, 7), (64, 7), (65, 15)])
def test_ntk_alpha_formula(n, alpha):
    assert dynamic_ntk_alpha(torch.tensor([n]), SEQ_LENGTH).item() == alpha


def test_logn_scale_values():
    scale = logn_query_scale(torch.arange(20)[None], SEQ_LENGTH)[0, 0, :, 0]
    assert torch.equal(scale[:SEQ_LENGTH], torch.ones(SEQ_LENGTH))
    expected = torch.tensor([math.log(p, SEQ_LENGTH) for p in range(SEQ_LENGTH + 1, 21)], dtype=torch.float32)
    torch.testing.assert_close(scale[SEQ_LENGTH:], expected)


def test_ntk_rope_uses_the_scaled_base():
    ours, _ = _models()
    dim, alpha, theta = 16, 3.0, 10000.0
    positions = torch.arange(40)[None]
    cos, sin = ours.rotary_emb(torch.zeros(1, dtype=torch.float32), positions, ntk_alpha=torch.tensor([alpha]))
    base = theta * alpha ** (dim / (dim - 2))
    inv_freq = 1.0 / base ** (torch.arange(0, dim, 2).float() / dim)
    angles = positions[0, :, None].float() * inv_freq[None]
    torch.testing.assert_close(cos[0], torch.cat([angles.cos(), angles.cos()], -1))
    torch.testing.assert_close(sin[0], torch.cat([angles.sin(), angles.sin()], -1))


def test_identical_to_qwen2_up_to_seq_length():
    ours, stock = _models()
    ids = _ids(SEQ_LENGTH)
    torch.testing.assert_close(_hidden(ours, ids), _hidden(stock, ids), rtol=0, atol=0)


def test_differs_from_qwen2_only_past_seq_length():
    ours, stock = _models()
    ids = _ids(3 * SEQ_LENGTH)
    assert not torch.allclose(_hidden(ours, ids), _hidden(stock, ids), atol=1e-3)


@pytest.mark.parametrize("switches", [dict(use_dynamic_ntk=False, use_logn_attn=False)])
def test_switched_off_is_qwen2(switches):
    ours, stock = _models(**switches)
    ids = _ids(3 * SEQ_LENGTH)
    torch.testing.assert_close(_hidden(ours, ids), _hidden(stock, ids), rtol=0, atol=0)


@pytest.mark.parametrize("switch", ["use_dynamic_ntk", "use_logn_attn"])
def test_each_trick_alone_changes_long_inputs(switch):
    other = {"use_dynamic_ntk": "use_logn_attn", "use_logn_attn": "use_dynamic_ntk"}[switch]
    ours, stock = _models(**{other: False})
    ids = _ids(3 * SEQ_LENGTH)
    assert not torch.allclose(_hidden(ours, ids), _hidden(stock, ids), atol=1e-3)


def test_training_mode_is_plain_qwen2():
    ours, stock = _models()
    ids = _ids(3 * SEQ_LENGTH)
    ours.train(), stock.train()
    torch.testing.assert_close(_hidden(ours, ids), _hidden(stock, ids), rtol=0, atol=0)


def test_prefill_alpha_is_kept_while_decoding():
    ours, _ = _models()
    plain_rope, _ = _models(use_dynamic_ntk=False)
    ids = _ids(SEQ_LENGTH + 1)
    with torch.no_grad():
        prefill = ours(input_ids=ids[:, :SEQ_LENGTH], use_cache=True)  # length 16 -> alpha 1
        assert prefill.ntk_alpha.tolist() == [1.0]
        step = ours(input_ids=ids[:, SEQ_LENGTH:], cache=prefill.cache, ntk_alpha=prefill.ntk_alpha, use_cache=True)
        step = step.last_hidden_state[:, -1]
    # Full recomputation at length 17 would pick alpha 3; the cached decode must keep alpha 1 (log-n still applies).
    full_new_alpha = _hidden(ours, ids)[:, -1]
    full_kept_alpha = _hidden(plain_rope, ids)[:, -1]
    torch.testing.assert_close(step, full_kept_alpha, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(step, full_new_alpha, atol=1e-4)


def test_cached_decoding_matches_recomputation_within_one_alpha_bucket():
    ours, _ = _models()
    ids = _ids(2 * SEQ_LENGTH + 1)  # prefill 20 (alpha 3), decode up to 33? stay at <= 32: alpha 3 throughout
    with torch.no_grad():
        out = ours(input_ids=ids[:, :20], use_cache=True)
        for position in range(20, 2 * SEQ_LENGTH):
            out = ours(input_ids=ids[:, position : position + 1], cache=out.cache, ntk_alpha=out.ntk_alpha, use_cache=True)
    full = _hidden(ours, ids[:, : 2 * SEQ_LENGTH])[:, -1]
    torch.testing.assert_close(out.last_hidden_state[:, -1], full, rtol=1e-5, atol=1e-5)


def test_alpha_and_logn_come_from_each_rows_real_length():
    ours, _ = _models()
    long_ids, short_ids = _ids(20, seed=1), _ids(12, seed=2)
    ids = torch.cat([long_ids, torch.cat([torch.zeros(1, 8, dtype=torch.long), short_ids], 1)])
    mask = torch.ones_like(ids)
    mask[1, :8] = 0
    batched = _hidden(ours, ids, attention_mask=mask)
    torch.testing.assert_close(batched[0], _hidden(ours, long_ids)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batched[1, 8:], _hidden(ours, short_ids)[0], rtol=1e-5, atol=1e-5)


def test_rotation_happens_in_float32_for_bf16_models():
    ours, _ = _models()
    cos, sin = ours.rotary_emb(torch.zeros(1, dtype=torch.bfloat16), torch.arange(8)[None])
    assert cos.dtype == sin.dtype == torch.float32
    bf16 = ours.to(torch.bfloat16)
    assert torch.isfinite(_hidden(bf16, _ids(3 * SEQ_LENGTH)).float()).all()


def test_eager_and_sdpa_agree_on_the_long_context_path():
    outputs = {}
    for implementation in ("eager", "sdpa"):
        torch.manual_seed(0)
        config = QwenAudioTextConfig(**TINY, seq_length=SEQ_LENGTH, attn_implementation=implementation)
        model = QwenAudioTextModel(config).eval()
        assert model.config._attn_implementation == implementation
        outputs[implementation] = _hidden(model, _ids(3 * SEQ_LENGTH))
    torch.testing.assert_close(outputs["sdpa"], outputs["eager"], rtol=1e-5, atol=1e-5)


def _reference_alpha(n: int, seq_length: int) -> int:
    """The original's rule, in Python floats: max(2 ** ceil(log2(n / seq_length) + 1) - 1, 1)."""
    return max(2 ** math.ceil(math.log2(n / seq_length) + 1) - 1, 1)


@pytest.mark.parametrize("seq_length", [16, 32, 2048])
def test_ntk_alpha_tensor_rule_equals_the_float_rule_for_every_length(seq_length):
    lengths = torch.arange(1, 40 * seq_length + 1)
    expected = torch.tensor([_reference_alpha(n, seq_length) for n in lengths.tolist()], dtype=torch.float64)
    assert torch.equal(dynamic_ntk_alpha(lengths, seq_length), expected)


@pytest.mark.parametrize("head_dim", [16, 128])
def test_per_row_ntk_rope_equals_one_row_at_a_time(head_dim):
    config = QwenAudioTextConfig(**{**TINY, "hidden_size": 4 * head_dim}, seq_length=SEQ_LENGTH)
    rotary = QwenAudioTextModel(config).rotary_emb
    alphas = torch.tensor([1.0, 3.0, 7.0, 2.0**20 - 1], dtype=torch.float64)
    positions = torch.arange(50)[None]
    cos, sin = rotary(torch.zeros(1), positions, ntk_alpha=alphas)
    theta = config.rope_parameters["rope_theta"]
    for row, alpha in enumerate(alphas.tolist()):
        base = theta * alpha ** (head_dim / (head_dim - 2))  # the original computes the base as a Python float
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
        angles = positions[0, :, None].float() * inv_freq[None]
        torch.testing.assert_close(cos[row], torch.cat([angles.cos(), angles.cos()], -1), rtol=0, atol=0)
        torch.testing.assert_close(sin[row], torch.cat([angles.sin(), angles.sin()], -1), rtol=0, atol=0)
    plain_cos, _ = rotary(torch.zeros(1), positions)  # alpha 1 == the unscaled Qwen2 rope, bit for bit
    torch.testing.assert_close(cos[0], plain_cos[0], rtol=0, atol=0)


def test_continuing_a_long_cache_without_its_alpha_is_refused():
    ours, _ = _models()
    ids = _ids(2 * SEQ_LENGTH)
    with torch.no_grad():
        prefill = ours(input_ids=ids[:, :-1], use_cache=True)
        with pytest.raises(ValueError, match="ntk_alpha"):
            ours(input_ids=ids[:, -1:], cache=prefill.cache, use_cache=True)
        short = ours(input_ids=ids[:, :4], use_cache=True)  # within seq_length the alpha can only be 1
        step = ours(input_ids=ids[:, 4:5], cache=short.cache, use_cache=True)
    assert step.ntk_alpha.tolist() == [1.0]


ROPE_SCALINGS = {
    "linear": {"rope_type": "linear", "factor": 4.0},
    "dynamic": {"rope_type": "dynamic", "factor": 4.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": SEQ_LENGTH},
}


@pytest.mark.parametrize("rope_type", sorted(ROPE_SCALINGS))
def test_rope_scaling_with_dynamic_ntk_is_refused(rope_type):
    rope = {**ROPE_SCALINGS[rope_type], "rope_theta": 10000.0}
    config = QwenAudioTextConfig(**{**TINY, "rope_parameters": rope}, seq_length=SEQ_LENGTH)
    with pytest.raises(ValueError, match=f"use_dynamic_ntk=True.*'{rope_type}'.*use_dynamic_ntk=False"):
        QwenAudioTextModel(config)


@pytest.mark.parametrize("rope_type", sorted(ROPE_SCALINGS))
def test_rope_scaling_without_dynamic_ntk_is_qwen2s_at_every_length(rope_type):
    rope = {**ROPE_SCALINGS[rope_type], "rope_theta": 10000.0}
    # max_position_embeddings = seq_length so that "dynamic" rope also rescales past seq_length.
    overrides = dict(rope_parameters=rope, max_position_embeddings=SEQ_LENGTH)
    torch.manual_seed(0)
    ours = QwenAudioTextModel(QwenAudioTextConfig(**{**TINY, **overrides}, seq_length=SEQ_LENGTH,
                                                  use_dynamic_ntk=False, use_logn_attn=False)).eval()
    stock = Qwen2Model(Qwen2Config(**{**TINY, **overrides})).eval()
    stock.load_state_dict(ours.state_dict())
    plain = Qwen2Model(Qwen2Config(**{**TINY, "max_position_embeddings": SEQ_LENGTH})).eval()
    plain.load_state_dict(ours.state_dict())
    ids = _ids(3 * SEQ_LENGTH)
    torch.testing.assert_close(_hidden(ours, ids), _hidden(stock, ids), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(_hidden(ours, ids), _hidden(plain, ids), atol=1e-3)  # the scaling is really applied
