"""Int8 CPU path (modeling/int8.py): quantized while loading, saved and reloaded as int8, close to fp32."""

import json

import pytest
import torch

from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration, QwenAudioInt8Config
from qwen_audio_hf.core.audio_lengths import audio_token_counts
from qwen_audio_hf.modeling import int8
from qwen_audio_hf.modeling.int8 import Int8Linear, load_for_inference, quantize_rows

from ..original_fixtures import materialize_checkpoint
from ..tiny_models import audio_features


def _inputs(model):
    features, mask = audio_features(300, seed=1)
    start, pad, end = model.config.audio_start_token_id, model.config.audio_token_id, model.config.audio_end_token_id
    tokens = audio_token_counts(300)
    ids = torch.tensor([[start] + [pad] * tokens + [end] + list(range(100, 140))])
    return dict(input_ids=ids, input_features=features[None], feature_attention_mask=mask[None])


@pytest.fixture(scope="module")
def original_dir(tmp_path_factory):
    return materialize_checkpoint("tiny", tmp_path_factory.mktemp("int8"))


@pytest.fixture(scope="module")
def fp32_and_int8(original_dir):
    fp32 = QwenAudioForConditionalGeneration.from_pretrained(original_dir, dtype=torch.float32).eval()
    quantized = QwenAudioForConditionalGeneration.from_pretrained(
        original_dir, dtype=torch.float32, quantization_config=QwenAudioInt8Config()).eval()
    return fp32, quantized


def test_every_linear_layer_becomes_int8(fp32_and_int8):
    fp32, quantized = fp32_and_int8
    linear = {name for name, m in fp32.named_modules() if isinstance(m, torch.nn.Linear)}
    assert any(n.startswith("model.audio_tower.") for n in linear) and "lm_head" in linear
    assert linear == {name for name, m in quantized.named_modules() if isinstance(m, Int8Linear)}
    assert not any(type(m) is torch.nn.Linear for m in quantized.modules())


def test_each_linear_weight_is_quantized_as_the_loader_reads_it(original_dir, monkeypatch):
    """The loader's quantize op (not a pass after loading) gets every linear weight, in the load dtype."""
    seen = []
    submit = int8.QwenAudioInt8Quantizer.submit
    monkeypatch.setattr(int8.QwenAudioInt8Quantizer, "submit",
                        lambda self, module, weight: seen.append(weight.dtype) or submit(self, module, weight))
    model = QwenAudioForConditionalGeneration.from_pretrained(
        original_dir, dtype=torch.bfloat16, quantization_config=QwenAudioInt8Config())
    layers = [m for m in model.modules() if isinstance(m, Int8Linear)]
    assert len(seen) == len(layers) and set(seen) == {torch.bfloat16}
    assert all(m._packed is not None and m.weight.numel() == 0 for m in layers)
    # Biases load before their weights, so the engine adds them inside the int8 GEMM (no extra pass).
    assert any(m.bias is not None for m in layers) and all(m._bias_packed for m in layers if m.bias is not None)


def test_int8_loads_under_inference_mode_as_outside_it(original_dir, fp32_and_int8):
    """The workers quantize in the caller's mode: a load inside torch.inference_mode() gives the same model."""
    _, quantized = fp32_and_int8
    with torch.inference_mode():
        model = QwenAudioForConditionalGeneration.from_pretrained(
            original_dir, dtype=torch.float32, quantization_config=QwenAudioInt8Config()).eval()
        inputs = _inputs(model)
        torch.testing.assert_close(model(**inputs).logits, quantized(**inputs).logits, rtol=0, atol=0)


def test_int8_linear_matches_its_dequantized_weight():
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 96)
    weight, scale = quantize_rows(linear.weight)
    assert (weight.float() * scale[:, None] - linear.weight).abs().max() <= scale.max() / 2 + 1e-7
    x = torch.randn(5, 7, 256)
    dequantized = weight.float() * scale[:, None]
    reference = x @ dequantized.T + linear.bias
    out = Int8Linear.from_linear(linear)(x)
    assert out.shape == (5, 7, 96)
    # Only the activations' dynamic quantization (7-bit, per call) is left: each input moves by at most half a step.
    half_step = (x.max() - min(x.min(), 0)) / 127 / 2
    assert (out - reference).abs().max() <= half_step * dequantized.abs().sum(1).max() * 1.01
    assert (out - reference).abs().max() > 0  # it is the int8 kernel, not a float matmul


def test_int8_logits_approximate_fp32_on_the_original_fixture(fp32_and_int8):
    fp32, quantized = fp32_and_int8
    inputs = _inputs(fp32)
    with torch.no_grad():
        reference, approx = fp32(**inputs).logits, quantized(**inputs).logits
    diff = (reference - approx).abs()
    agreement = (reference.argmax(-1) == approx.argmax(-1)).float().mean().item()
    print(json.dumps({"top1_agreement": agreement, "max_abs_diff": diff.max().item(),
                      "mean_abs_diff": diff.mean().item(), "logit_std": reference.std().item()}))
    # Measured here: agreement 0.86, max 0.91, mean 0.082 against a logit std of 1.45 (a random tiny model, whose
    # top logits lie close together, so argmax flips more often than in a trained one).
    assert agreement >= 0.8
    assert diff.mean() < 0.1 * reference.std()


def test_saved_int8_folder_reloads_without_requantizing(fp32_and_int8, tmp_path, monkeypatch):
    _, quantized = fp32_and_int8
    quantized.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == int8.QUANT_METHOD
    monkeypatch.setattr(int8, "quantize_rows", lambda *args, **kwargs: pytest.fail("re-quantized"))
    reloaded = QwenAudioForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded.lm_head, Int8Linear) and reloaded.lm_head.weight_scale.dtype == torch.float32
    inputs = _inputs(reloaded)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, quantized(**inputs).logits, rtol=0, atol=0)


def test_bf16_on_a_cpu_without_native_bf16_warns_with_the_faster_options(monkeypatch):
    monkeypatch.setattr(int8, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="--quantization int8"):
        assert int8.warn_if_slow_bf16(torch.bfloat16, "cpu")
    assert not int8.warn_if_slow_bf16(torch.float32, "cpu")
    monkeypatch.setattr(int8, "cpu_has_native_bf16", lambda: True)
    assert not int8.warn_if_slow_bf16(torch.bfloat16, "cpu")


def test_int8_refuses_a_gpu_device(original_dir):
    with pytest.raises(ValueError, match="runs on the CPU"):
        load_for_inference(str(original_dir), quantization="int8", device="cuda")
