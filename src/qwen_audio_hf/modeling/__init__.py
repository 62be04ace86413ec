"""Qwen-Audio model classes; importing this module registers them with the transformers Auto classes."""

import transformers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_qwen_audio import QwenAudioConfig, QwenAudioEncoderConfig, QwenAudioTextConfig
from .modeling_qwen_audio import (
    QwenAudioCausalLMOutputWithPast,
    QwenAudioForConditionalGeneration,
    QwenAudioModel,
    QwenAudioModelOutputWithPast,
    QwenAudioMultiModalProjector,
    QwenAudioPreTrainedModel,
)
from .modeling_qwen_audio_encoder import QwenAudioEncoder, audio_token_counts
from .modeling_qwen_audio_text import QwenAudioTextModel


def _register() -> None:
    for config_class in (QwenAudioConfig, QwenAudioEncoderConfig, QwenAudioTextConfig):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(QwenAudioConfig, QwenAudioModel, exist_ok=True)
    AutoModel.register(QwenAudioEncoderConfig, QwenAudioEncoder, exist_ok=True)
    AutoModel.register(QwenAudioTextConfig, QwenAudioTextModel, exist_ok=True)
    AutoModelForCausalLM.register(QwenAudioConfig, QwenAudioForConditionalGeneration, exist_ok=True)
    multimodal_auto = getattr(transformers, "AutoModelForMultimodalLM", None)
    if multimodal_auto is not None:
        multimodal_auto.register(QwenAudioConfig, QwenAudioForConditionalGeneration, exist_ok=True)


_register()

__all__ = [
    "QwenAudioCausalLMOutputWithPast",
    "QwenAudioConfig",
    "QwenAudioEncoder",
    "QwenAudioEncoderConfig",
    "QwenAudioForConditionalGeneration",
    "QwenAudioModel",
    "QwenAudioModelOutputWithPast",
    "QwenAudioMultiModalProjector",
    "QwenAudioPreTrainedModel",
    "QwenAudioTextConfig",
    "QwenAudioTextModel",
    "audio_token_counts",
]
