"""transformers.pipeline("qwen-audio-long-form", model=DIR) after `import qwen_audio_hf`."""

import numpy as np
import pytest
import transformers

import qwen_audio_hf  # noqa: F401  (registers the pipeline task)
from qwen_audio_hf.long_form import LongFormDecoder, build_task
from qwen_audio_hf.long_form.pipeline import TASK_NAME, QwenAudioLongFormPipeline

from ..tiny_models import ForceResponse
from .signals import SR, recording


@pytest.fixture(scope="module")
def pipe(model_dir):
    return transformers.pipeline(TASK_NAME, model=model_dir, chunk_length_s=5.0, batch_size=3, max_new_tokens=4,
                                 device="cpu")


def test_pipeline_is_registered_and_matches_the_decoder(pipe, model, processor):
    assert isinstance(pipe, QwenAudioLongFormPipeline) and TASK_NAME in transformers.pipelines.SUPPORTED_TASKS
    audio = recording([(0.5, 3.0), (4.2, 6.8), (8.6, 12.3)], 13.0)
    out = pipe(audio)
    expected = LongFormDecoder(model, processor, chunk_length_s=5.0, max_new_tokens=4)(audio, build_task("asr"),
                                                                                         sampling_rate=SR)
    assert out["text"] == expected.text and out["text"]
    assert [c["timestamp"] for c in out["chunks"]] == [(w.start_s, w.end_s) for w in expected.windows]
    assert out["chunks"][0]["timestamp"][0] == 0.0 and out["chunks"][-1]["timestamp"][1] == 13.0
    assert [c["text"] for c in out["chunks"]] == [w.text for w in expected.windows]


def test_pipeline_inputs_rates_lists_and_word_timestamps(pipe, processor, tmp_path):
    import soundfile

    audio = recording([(0.5, 3.0), (4.2, 6.8)], 7.0, seed=1)
    path = tmp_path / "clip.wav"
    soundfile.write(path, audio, SR)
    from_file, from_dict = pipe(str(path)), pipe({"raw": audio[::2], "sampling_rate": SR // 2})
    assert from_file["chunks"][-1]["timestamp"][1] == pytest.approx(7.0)
    assert from_dict["chunks"][-1]["timestamp"][1] == pytest.approx(7.0)
    both = pipe([str(path), audio], batch_size=1)
    assert both[0] == from_file and both[1]["text"] == from_file["text"]
    ids = processor.tokenizer("hi<|0.50|><|endoftext|>", add_special_tokens=False)["input_ids"]
    words = pipe(audio, return_timestamps="word", generate_kwargs={"logits_processor": [ForceResponse(ids)]})
    assert [c["text"] for c in words["chunks"]] == ["hi", "hi"]
    assert [c["timestamp"] for c in words["chunks"]] == [pytest.approx((0.5, 1.0)), pytest.approx((4.2, 4.7))]
    with pytest.raises(ValueError, match="return_timestamps"):
        pipe(audio, return_timestamps="char")
    with pytest.raises(TypeError, match="unexpected"):
        pipe(audio, chunk_length=3)
