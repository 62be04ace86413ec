"""Qwen-Audio model classes (configuration <- encoder / text model <- composite model <- checkpoint tools).

Importing this package plugs in the package-only tools the model classes do not import themselves (so Hub exports
ship without them): reading ORIGINAL hub checkpoints (`original_checkpoint`), `from_components` and the int8 CPU quantizer (`int8`,
registered with transformers' quantizers); the
Auto-class registration lives in the top-level `qwen_audio_hf/__init__.py`.
"""

from ..core.audio_lengths import audio_token_counts
from . import components, int8, original_checkpoint
from .configuration_qwen_audio import QwenAudioConfig, QwenAudioEncoderConfig, QwenAudioTextConfig
from .modeling_qwen_audio import (
    QwenAudioCausalLMOutputWithPast,
    QwenAudioForConditionalGeneration,
    QwenAudioModel,
    QwenAudioModelOutputWithPast,
    QwenAudioMultiModalProjector,
    QwenAudioPreTrainedModel,
)
from .modeling_qwen_audio_encoder import QwenAudioEncoder
from .modeling_qwen_audio_text import QwenAudioTextModel
from .int8 import QwenAudioInt8Config

original_checkpoint.register(QwenAudioConfig, QwenAudioPreTrainedModel)
components.register(QwenAudioForConditionalGeneration)

__all__ = [
    "QwenAudioCausalLMOutputWithPast",
    "QwenAudioConfig",
    "QwenAudioEncoder",
    "QwenAudioEncoderConfig",
    "QwenAudioForConditionalGeneration",
    "QwenAudioInt8Config",
    "QwenAudioModel",
    "QwenAudioModelOutputWithPast",
    "QwenAudioMultiModalProjector",
    "QwenAudioPreTrainedModel",
    "QwenAudioTextConfig",
    "QwenAudioTextModel",
    "audio_token_counts",
]
