"""Checkpoint keys of both layouts land on the same vLLM parameters (runs in the main environment)."""

import torch

from qwen_audio_hf.serving.weights import vllm_weights

from ..modeling.original_layout import to_original_state_dict
from ..modeling.tiny_models import tiny_model


def test_original_and_native_layouts_give_the_same_vllm_weights():
    model = tiny_model()
    native = dict(vllm_weights(model.state_dict().items()))
    original = dict(vllm_weights(to_original_state_dict(model).items()))
    assert sorted(original) == sorted(native)
    for name, tensor in native.items():
        torch.testing.assert_close(original[name], tensor, rtol=0, atol=0, msg=name)
    assert "language_model.model.layers.0.self_attn.q_proj.weight" in native
    assert "language_model.lm_head.weight" in native
    assert "audio_tower.layers.1.self_attn.k_proj.weight" in native
    assert "multi_modal_projector.audio_bos_eos_embedding.weight" in native
    assert not any(name.startswith(("model.", "transformer.")) for name in native)
