"""Qwen-Audio as a native vLLM model: our audio tower + projector in front of vLLM's own Qwen2 decoder.

The decoder is vLLM's `Qwen2ForCausalLM` (paged attention, continuous batching, tensor parallelism). Within
`seq_length` it computes what our transformers text model computes; beyond it the original's dynamic NTK and
log-n scaling are not reproduced, so `max_model_len` is capped at `seq_length` (see `check_max_model_len`).
"""

from collections.abc import Iterable

import torch
from torch import nn
from vllm.config import VllmConfig
from vllm.model_executor.models.interfaces import MultiModalEmbeddings, SupportsMultiModal, SupportsPP
from vllm.model_executor.models.utils import AutoWeightsLoader, init_vllm_registered_model, maybe_prefix
from vllm.multimodal import MULTIMODAL_REGISTRY
from vllm.sequence import IntermediateTensors

from .audio_encoder import QwenAudioProjector, QwenAudioTower
from .configuration import check_max_model_len
from .multimodal_processing import (
    PLACEHOLDER,
    QwenAudioDummyInputsBuilder,
    QwenAudioMultiModalProcessor,
    QwenAudioProcessingInfo,
)
from .weights import vllm_weights


@MULTIMODAL_REGISTRY.register_processor(
    QwenAudioMultiModalProcessor, info=QwenAudioProcessingInfo, dummy_inputs=QwenAudioDummyInputsBuilder
)
class QwenAudioForConditionalGeneration(nn.Module, SupportsMultiModal, SupportsPP):
    """vLLM model for checkpoints written by `qwen-audio-hf convert` (and original `transformer.*` weights)."""

    @classmethod
    def get_placeholder_str(cls, modality: str, i: int) -> str | None:
        if modality.startswith("audio"):
            return f"Audio {i}:{PLACEHOLDER}\n"
        raise ValueError(f"Qwen-Audio takes audio only, not {modality!r}.")

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = ""):
        super().__init__()
        config = vllm_config.model_config.hf_config
        check_max_model_len(vllm_config.model_config.max_model_len, config.text_config)
        self.config = config
        with self._mark_tower_model(vllm_config, "audio"):
            self.audio_tower = QwenAudioTower(config.audio_config)
            self.multi_modal_projector = QwenAudioProjector(
                config.audio_config.d_model, config.text_config.hidden_size
            )
        with self._mark_language_model(vllm_config):
            self.language_model = init_vllm_registered_model(
                vllm_config=vllm_config,
                hf_config=config.text_config,
                prefix=maybe_prefix(prefix, "language_model"),
                architectures=["Qwen2ForCausalLM"],
            )
        self.make_empty_intermediate_tensors = self.language_model.make_empty_intermediate_tensors

    def embed_multimodal(self, **kwargs: object) -> MultiModalEmbeddings:
        """One (audio tokens + 2, hidden) span embedding per audio: [bos, frames..., eos]."""
        input_features = kwargs.pop("input_features", None)
        feature_attention_mask = kwargs.pop("feature_attention_mask", None)
        if input_features is None:
            return []
        spans = []
        for features, mask in zip(input_features, feature_attention_mask):
            frames = self.audio_tower(features, int(mask.sum()))
            spans.append(self.multi_modal_projector(frames))
        return spans

    def forward(
        self,
        input_ids: torch.Tensor | None,
        positions: torch.Tensor,
        intermediate_tensors: IntermediateTensors | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor | IntermediateTensors:
        if intermediate_tensors is not None:
            inputs_embeds = None
        return self.language_model.model(input_ids, positions, intermediate_tensors, inputs_embeds=inputs_embeds)

    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        return self.language_model.compute_logits(hidden_states)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        return AutoWeightsLoader(self).load_weights(vllm_weights(weights))


__all__ = ["QwenAudioForConditionalGeneration"]
