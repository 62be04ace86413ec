"""Long-context path: dynamic NTK rope + log-n query scaling (eval only), otherwise identical to Qwen2."""

import math

import pytest
import torch
from transformers import Qwen2Config, Qwen2Model

from qwen_audio_hf.modeling import QwenAudioTextConfig, QwenAudioTextModel
from qwen_audio_hf.modeling.modeling_qwen_audio_text import (
    NTK_ALPHA_CACHE_ATTRIBUTE,
    dynamic_ntk_alpha,
    logn_query_scale,
)

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
        assert getattr(prefill.cache, NTK_ALPHA_CACHE_ATTRIBUTE).tolist() == [1.0]
        step = ours(input_ids=ids[:, SEQ_LENGTH:], cache=prefill.cache, use_cache=True).last_hidden_state[:, -1]
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
            out = ours(input_ids=ids[:, position : position + 1], cache=out.cache, use_cache=True)
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
