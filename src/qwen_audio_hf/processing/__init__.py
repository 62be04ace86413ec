"""processing subpackage."""

from transformers import AutoFeatureExtractor, AutoProcessor

from ..modeling.configuration_qwen_audio import QwenAudioConfig
from .audio_io import load_audio
from .feature_extraction_qwen_audio import QwenAudioFeatureExtractor, audio_span_length
from .processing_qwen_audio import QwenAudioProcessor

AutoFeatureExtractor.register(QwenAudioConfig, QwenAudioFeatureExtractor, exist_ok=True)
AutoProcessor.register(QwenAudioConfig, QwenAudioProcessor, exist_ok=True)

__all__ = ["QwenAudioFeatureExtractor", "QwenAudioProcessor", "audio_span_length", "load_audio"]
