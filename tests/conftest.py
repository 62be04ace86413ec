"""The fixture every test folder shares: the real Qwen-Audio processor (log-mel features + the Qwen tokenizer)."""

import pytest


@pytest.fixture(scope="session")
def processor():
    from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor
    from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer

    return QwenAudioProcessor(QwenAudioFeatureExtractor(), QwenAudioTokenizer())
