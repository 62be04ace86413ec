"""A prompt's outputs do not depend on the other prompts of its batch (processor output, mixed clip lengths)."""

import numpy as np
import pytest
import torch

from qwen_audio_hf.core.token_ids import ENDOFTEXT_ID

from ..tiny_models import tiny_model

# Clip lengths in seconds: odd and even mel-frame counts, a clip under 30 ms (no audio token) and two clips in
# one prompt (whose encoder batch is the prompt's own clips).
PROMPTS = [
    ("<audio></audio>one", [4.0]),
    ("<audio></audio>two <audio></audio>", [1.31, 0.515]),
    ("<audio></audio>three", [0.02]),
    ("<audio></audio>four four", [2.2]),
]


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=3)


def clip(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.1, int(16000 * seconds)).astype(np.float32)


def encode(processor, prompts):
    texts = [text for text, _ in prompts]
    audio = [clip(s, seed=int(s * 1000)) for _, lengths in prompts for s in lengths]
    return processor(text=texts, audio=audio, sampling_rate=16000, padding=True, padding_side="left")


def test_logits_and_audio_embeddings_of_a_batch_equal_each_prompt_alone(model, processor):
    batch = encode(processor, PROMPTS)
    with torch.no_grad():
        batched = model(**batch).logits
        spans = model.get_audio_features(batch["input_features"], batch["feature_attention_mask"]).pooler_output
        clip_index = 0
        for row, prompt in enumerate(PROMPTS):
            single = encode(processor, [prompt])
            alone = model(**single).logits[0]
            width = alone.shape[0]
            torch.testing.assert_close(batched[row, -width:], alone, rtol=0, atol=1e-5)
            for span in model.get_audio_features(single["input_features"], single["feature_attention_mask"]).pooler_output:
                torch.testing.assert_close(spans[clip_index], span, rtol=0, atol=1e-5)
                clip_index += 1
    assert clip_index == len(spans) == 5


def test_a_clip_under_30_ms_generates_like_an_empty_audio_span(model, processor):
    """Like the original: a 5 ms clip has no audio token, its span is just the learned <audio></audio> pair."""
    inputs = processor(text="<audio></audio>hello", audio=[clip(0.005, 1)], sampling_rate=16000)
    assert inputs["input_ids"].shape[1] == 2 + len(processor.tokenizer("hello")["input_ids"])
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False, pad_token_id=ENDOFTEXT_ID, eos_token_id=None)
        other = processor(text="<audio></audio>hello", audio=[clip(0.009, 2)], sampling_rate=16000)
        logits, other_logits = model(**inputs).logits, model(**other).logits
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3
    torch.testing.assert_close(logits, other_logits, rtol=0, atol=0)  # no audio token: the content cannot matter
