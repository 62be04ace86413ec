"""processing subpackage."""

from transformers import AutoFeatureExtractor, AutoProcessor, AutoTokenizer

from ..modeling.configuration_qwen_audio import QwenAudioConfig
from .audio_io import load_audio
from .feature_extraction_qwen_audio import QwenAudioFeatureExtractor, audio_span_length
from . import tags
from .processing_qwen_audio import QwenAudioProcessor
from .tags import TaskPrompt
from .tokenization_qwen_audio import QwenAudioTokenizer

AutoFeatureExtractor.register(QwenAudioConfig, QwenAudioFeatureExtractor, exist_ok=True)
AutoProcessor.register(QwenAudioConfig, QwenAudioProcessor, exist_ok=True)
AutoTokenizer.register(QwenAudioConfig, tokenizer_class=QwenAudioTokenizer, exist_ok=True)

__all__ = [
    "QwenAudioFeatureExtractor",
    "QwenAudioProcessor",
    "QwenAudioTokenizer",
    "TaskPrompt",
    "audio_span_length",
    "load_audio",
    "tags",
]
