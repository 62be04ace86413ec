"""QwenAudioProcessor.apply_transcription_request and decode(return_format=...)."""

import io

import numpy as np
import pytest
import soundfile
import torch

from qwen_audio_hf.processing.tags import TaskPrompt

SR = 16000


def _clip(seconds, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_batched_inputs_equal_the_processor_on_the_tag_prompts(processor):
    clips = [_clip(3.0), _clip(1.5, seed=1)]
    request = processor.apply_transcription_request(clips, language=["en", "zh"])
    prompts = [TaskPrompt.asr("en").to_text(audio=""), TaskPrompt.asr("zh").to_text(audio="")]
    expected = processor(text=prompts, audio=clips, sampling_rate=SR)
    assert set(request) == set(expected)
    for key in expected:
        assert torch.equal(request[key], expected[key]), key
    assert request["attention_mask"][1, 0] == 0  # left padded: the shorter clip's row starts with padding


def test_prompt_choices_timestamps_translation_and_chat(processor):
    decode = processor.tokenizer.decode
    clip = _clip(2.0)
    words = processor.apply_transcription_request(clip, timestamps=True)["input_ids"][0]
    assert decode(words).endswith(TaskPrompt.timestamped_asr("en").to_text())
    translation = processor.apply_transcription_request(clip, language="fr", task="translate")["input_ids"][0]
    assert decode(translation).endswith(TaskPrompt.translation("fr", "en").to_text())
    to_chinese = processor.apply_transcription_request(clip, language="en", task="translate", target_language="zh")
    assert decode(to_chinese["input_ids"][0]).endswith(TaskPrompt.translation("en", "zh").to_text())
    chat = decode(processor.apply_transcription_request(clip, format="chat")["input_ids"][0])
    assert chat.endswith("<|im_start|>assistant\n") and "<|startoftranscript|>" not in chat


def test_audio_sources(processor, tmp_path):
    clip = _clip(2.0)
    path = tmp_path / "clip.wav"
    soundfile.write(path, clip, SR, subtype="FLOAT")
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, SR, format="WAV", subtype="FLOAT")
    reference = processor.apply_transcription_request(clip)["input_features"]
    for source in (str(path), buffer.getvalue(), {"array": clip, "sampling_rate": SR}, {"raw": clip, "sampling_rate": SR}):
        assert torch.allclose(processor.apply_transcription_request(source)["input_features"], reference, atol=1e-5)


def test_bad_requests_name_the_problem(processor):
    clip = _clip(1.0)
    with pytest.raises(ValueError, match="language 'klingon'"):
        processor.apply_transcription_request(clip, language="klingon")
    with pytest.raises(ValueError, match="2 entries for 1"):
        processor.apply_transcription_request(clip, language=["en", "zh"])
    with pytest.raises(ValueError, match="task"):
        processor.apply_transcription_request(clip, task="summarize")
    with pytest.raises(ValueError, match="format"):
        processor.apply_transcription_request(clip, format="srt")
    with pytest.raises(ValueError, match="30 s.*automatic-speech-recognition"):
        processor.apply_transcription_request(_clip(31.0))
    with pytest.raises(ValueError, match="timestamps"):
        processor.apply_transcription_request(clip, task="translate", language="de", timestamps=True)


def test_decode_formats(processor):
    tokenizer = processor.tokenizer
    timed = tokenizer("hello<|0.50|>world<|1.20|><|endoftext|>junk", add_special_tokens=False)["input_ids"]
    plain = tokenizer("<|en|> Good  morning.<|endoftext|>", add_special_tokens=False)["input_ids"]
    assert processor.decode(timed) == tokenizer.decode(timed)  # raw: the tokenizer's decode
    assert processor.decode(timed, return_format="parsed") == {
        "text": "hello world",
        "words": [{"text": "hello", "start": 0.0, "end": 0.5}, {"text": "world", "start": 0.5, "end": 1.2}],
    }
    assert processor.batch_decode([timed, plain], return_format="transcription_only") == ["hello world", "Good morning."]
    assert processor.decode(plain, return_format="parsed") == {"text": "Good morning.", "words": []}
    with pytest.raises(ValueError, match="return_format"):
        processor.decode(plain, return_format="srt")
