"""A tiny random Qwen-Audio saved as a model directory, and synthetic recordings, for the long-form tests."""

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor

from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor
from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer

from ..tiny_models import tiny_decoding_model

SR = 16000


def recording(spans, seconds, seed=0, level=0.3):
    """Silence with white-noise "sounds" at the given (start_s, end_s) spans."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(seconds * SR), np.float32)
    for begin, end in spans:
        audio[int(begin * SR) : int(end * SR)] = level * rng.standard_normal(int(end * SR) - int(begin * SR))
    return audio


class ForceResponse(LogitsProcessor):
    """Make generate() emit ``token_ids`` (distinct ids) after any prompt: the next token follows the last one."""

    def __init__(self, token_ids):
        self.token_ids = list(token_ids)
        self.next = {a: b for a, b in zip(self.token_ids, self.token_ids[1:])}

    def __call__(self, input_ids, scores):
        forced = torch.tensor([self.next.get(int(last), self.token_ids[0]) for last in input_ids[:, -1]])
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0]), forced] = 0.0
        return out


@pytest.fixture(scope="session")
def processor():
    return QwenAudioProcessor(QwenAudioFeatureExtractor(), QwenAudioTokenizer())


@pytest.fixture(scope="session")
def model():
    return tiny_decoding_model()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, model, processor):
    directory = tmp_path_factory.mktemp("tiny_long_form_model")
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return str(directory)
