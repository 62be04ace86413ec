"""processing subpackage."""

from transformers import AutoFeatureExtractor

from ..modeling.configuration_qwen_audio import QwenAudioConfig
from .audio_io import load_audio
from .feature_extraction_qwen_audio import QwenAudioFeatureExtractor, audio_span_length

AutoFeatureExtractor.register(QwenAudioConfig, QwenAudioFeatureExtractor, exist_ok=True)

__all__ = ["QwenAudioFeatureExtractor", "audio_span_length", "load_audio"]
