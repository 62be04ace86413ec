"""Shared fixtures for the training tests: the real processor, tiny models and small audio files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile

from qwen_audio_hf.training import load_pretraining_data, load_sft_data

from ..tiny_models import tiny_training_model

ASR_TAGS = {"task": "transcribe", "audio_language": "en", "text_language": "en", "output_instruction": "wo_itn"}
CAPTION_TAGS = {"task": "caption", "text_language": "en", "output_instruction": "caption_clotho"}


@pytest.fixture(scope="session")
def processor_dir(processor, tmp_path_factory):
    path = tmp_path_factory.mktemp("processor")
    processor.save_pretrained(str(path))
    return str(path)


def write_clip(path, seconds: float, sampling_rate: int = 16000, channels: int = 1, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    samples = (0.1 * rng.standard_normal((int(seconds * sampling_rate), channels))).astype(np.float32)
    soundfile.write(str(path), samples if channels > 1 else samples[:, 0], sampling_rate)
    return str(path)


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Four wav files under clips/ (0.5-2 s; one at 8 kHz stereo) and their folder."""
    root = tmp_path_factory.mktemp("audio")
    os.makedirs(root / "clips")
    specs = [(1.0, 16000, 1), (0.5, 16000, 1), (2.0, 8000, 2), (1.5, 16000, 1)]
    names = []
    for index, (seconds, rate, channels) in enumerate(specs):
        name = f"clips/c{index}.wav"
        write_clip(root / name, seconds, rate, channels, seed=index)
        names.append(name)
    return str(root), names


def pretraining_rows(names):
    targets = ["hello world", "a dog barks twice in the distance", "good morning everyone, how are you", "yes"]
    return [
        {"audio": name, "tags": dict(ASR_TAGS if index % 2 == 0 else CAPTION_TAGS), "target": target}
        for index, (name, target) in enumerate(zip(names, targets))
    ]


def sft_rows(names):
    return [
        {"messages": [
            {"role": "user", "content": [{"type": "audio", "path": names[0]}, {"type": "text", "text": "What is said?"}]},
            {"role": "assistant", "content": "hello world"},
            {"role": "user", "content": "Say it again."},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello, world!"}]},
        ]},
        {"messages": [
            {"role": "system", "content": "You are a sound expert."},
            {"role": "user", "content": [{"type": "audio", "path": names[1]}, {"type": "audio", "path": names[2]},
                                         {"type": "text", "text": "Compare the clips."}]},
            {"role": "assistant", "content": "The second one is longer."},
        ]},
    ]


def write_jsonl(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return str(path)


@pytest.fixture(scope="session")
def pretraining_jsonl(clips):
    root, names = clips
    return write_jsonl(os.path.join(root, "pretrain.jsonl"), pretraining_rows(names))


@pytest.fixture(scope="session")
def sft_jsonl(clips):
    root, names = clips
    return write_jsonl(os.path.join(root, "sft.jsonl"), sft_rows(names))


@pytest.fixture(scope="module")
def pretraining_data(processor, pretraining_jsonl):
    return load_pretraining_data(pretraining_jsonl, processor)


@pytest.fixture(scope="module")
def sft_data(processor, sft_jsonl):
    return load_sft_data(sft_jsonl, processor)


@pytest.fixture
def tiny_model():
    return tiny_training_model(seed=0)
