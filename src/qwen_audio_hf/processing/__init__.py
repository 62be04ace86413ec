"""Processing: special-token validation, tokenizer, audio I/O, feature extractor, processor (+ chat) and tags.

Independent of the model: nothing here imports `qwen_audio_hf.modeling` (or torch at import time). The Auto-class
registration lives in the top-level `qwen_audio_hf/__init__.py`.
"""

from ..core.audio_lengths import audio_span_length
from . import tags
from .audio_io import load_audio
from .feature_extraction_qwen_audio import QwenAudioFeatureExtractor
from .processing_qwen_audio import QwenAudioProcessor
from .tags import TaskPrompt
from .tokenization_qwen_audio import QwenAudioTokenizer

__all__ = [
    "QwenAudioFeatureExtractor",
    "QwenAudioProcessor",
    "QwenAudioTokenizer",
    "TaskPrompt",
    "audio_span_length",
    "load_audio",
    "tags",
]
