"""`pipeline("any-to-any", model=DIR)` with in-memory audio, as a new user writes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

import qwen_audio_hf  # noqa: F401  (registers the Auto classes)
from qwen_audio_hf.processing import QwenAudioProcessor, QwenAudioTokenizer

from .processing.test_datasets_audio import FakeAudioDecoder
from .tiny_models import tiny_training_model

PROMPT = "<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pipeline_model"))
    tiny_training_model(seed=0).save_pretrained(path)
    QwenAudioProcessor(tokenizer=QwenAudioTokenizer()).save_pretrained(path)
    return path


def _expected(model_dir, text, array, rate, new_tokens=3):
    from transformers import AutoModelForCausalLM, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    inputs = processor(text=text, audio=array, sampling_rate=rate)
    with torch.no_grad():
        ids = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
    text = processor.tokenizer.decode(ids[0, inputs["input_ids"].shape[1]:])
    assert text  # something was generated to compare
    return text


def test_any_to_any_pipeline_with_in_memory_audio(model_dir):
    pipe = pipeline("any-to-any", model=model_dir)
    rng = np.random.default_rng(0)
    array = (0.1 * rng.standard_normal(24000)).astype(np.float32)  # 1 s at 24 kHz
    generate = dict(max_new_tokens=3, generate_kwargs={"do_sample": False}, return_full_text=False)

    expected = _expected(model_dir, PROMPT, array, 24000)
    assert pipe(text=PROMPT, audio=array, sampling_rate=24000, **generate)[0]["generated_text"] == expected

    question = {"type": "text", "text": "What is said?"}
    chat_prompt = pipe.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "audio", "path": ""}, question]}], add_generation_prompt=True)
    expected = _expected(model_dir, chat_prompt, array, 24000)
    for item, kwargs in (({"type": "audio", "audio": array, "sampling_rate": 24000}, {}),
                         ({"type": "audio", "audio": FakeAudioDecoder(array, 24000)}, {}),
                         ({"type": "audio", "audio": {"array": array, "sampling_rate": 24000}}, {}),
                         ({"type": "audio", "audio": array}, {"sampling_rate": 24000}),
                         ({"type": "audio", "audio": array}, {"processor_kwargs": {"sampling_rate": 24000}})):
        out = pipe(text=[{"role": "user", "content": [item, question]}], **kwargs, **generate)
        assert out[0]["generated_text"] == expected, (item, kwargs)

    with pytest.raises(ValueError, match="sampling_rate"):  # a bare array: its rate is unknown, never guessed
        pipe(text=[{"role": "user", "content": [{"type": "audio", "audio": array}, question]}], **generate)
