"""Fixtures shared by the demo tests."""

import pytest

from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor
from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer


@pytest.fixture(scope="module")
def processor():
    return QwenAudioProcessor(QwenAudioFeatureExtractor(), QwenAudioTokenizer())
