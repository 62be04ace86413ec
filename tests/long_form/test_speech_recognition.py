"""pipeline("automatic-speech-recognition", model=DIR): the ASR pipeline's conventions on the long-form decoder,
the same text as `qwen-audio-hf transcribe`, and other models still get transformers' own pipeline."""

import io
import json

import numpy as np
import pytest
import soundfile
import transformers
from transformers.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline

import qwen_audio_hf  # noqa: F401  (registers the task routing)
from qwen_audio_hf.cli import main
from qwen_audio_hf.long_form import LongFormDecoder, LongFormTask
from qwen_audio_hf.long_form.speech_recognition import QwenAudioSpeechRecognitionPipeline, transcription_task
from qwen_audio_hf.processing.tags import TaskPrompt

from ..tiny_models import ForceResponse
from .signals import SR, recording

SPANS = [(0.5, 3.0), (4.2, 6.8), (8.6, 12.3)]


@pytest.fixture(scope="module")
def asr(model_dir):
    return transformers.pipeline("automatic-speech-recognition", model=model_dir, chunk_length_s=5.0, batch_size=3,
                                 max_new_tokens=4, device="cpu")


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    path = tmp_path_factory.mktemp("asr_audio") / "talk.flac"
    soundfile.write(path, recording(SPANS, 13.0), SR)
    return path


def test_routes_qwen_audio_to_the_long_form_pipeline_and_others_to_transformers(asr):
    assert isinstance(asr, QwenAudioSpeechRecognitionPipeline)
    config = transformers.Wav2Vec2Config(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=16, conv_dim=(8,), conv_stride=(5,), conv_kernel=(10,),
                                         num_feat_extract_layers=1)
    other = transformers.pipeline("automatic-speech-recognition", model=transformers.Wav2Vec2ForCTC(config),
                                  tokenizer=transformers.Wav2Vec2CTCTokenizer.from_pretrained(
                                      _vocab_dir(config)), feature_extractor=transformers.Wav2Vec2FeatureExtractor())
    assert type(other) is AutomaticSpeechRecognitionPipeline
    assert isinstance(other(np.zeros(SR, np.float32))["text"], str)


def _vocab_dir(config, _cache={}):
    import tempfile

    if "dir" not in _cache:
        directory = tempfile.mkdtemp()
        vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: 5 + i for i, c in enumerate("abcdefg")}}
        with open(f"{directory}/vocab.json", "w") as handle:
            json.dump(vocab, handle)
        _cache["dir"] = directory
    return _cache["dir"]


def test_same_text_as_the_transcribe_cli(asr, model_dir, talk, tmp_path):
    assert main(["transcribe", str(talk), "--model", model_dir, "--chunk-length-s", "5", "--max-new-tokens", "4",
                 "--output-dir", str(tmp_path), "--no-progress"]) == 0
    cli = json.loads((tmp_path / "talk.json").read_text())
    out = asr(str(talk), return_timestamps=True)
    assert out["text"] == cli["text"] and out["text"]
    assert out["chunks"] == [{"text": w["text"], "timestamp": (w["start_s"], w["end_s"])}
                             for w in cli["windows"] if w["text"]]
    assert set(asr(str(talk))) == {"text"}  # no timestamps asked: the text alone, as the ASR pipeline returns


def test_every_input_form_gives_the_same_text(asr, talk):
    expected = asr(str(talk))["text"]
    audio, _ = soundfile.read(talk, dtype="float32")
    encoded = talk.read_bytes()
    at_8k = audio[::2]
    assert asr(encoded)["text"] == expected
    assert asr(audio)["text"] == expected  # a bare array is 16 kHz, as in the ASR pipeline
    assert asr({"array": audio, "sampling_rate": SR})["text"] == expected
    assert asr({"raw": audio, "sampling_rate": SR})["text"] == expected
    resampled = asr({"raw": at_8k, "sampling_rate": SR // 2}, return_timestamps=True)
    assert resampled["chunks"][0]["timestamp"][0] == 0.0 and 12.3 <= resampled["chunks"][-1]["timestamp"][1] <= 13.0


def test_lists_batch_windows_across_recordings_and_a_bad_file_does_not_sink_the_rest(asr, talk, tmp_path):
    other = recording([(0.3, 2.0), (5.5, 9.0)], 10.0, seed=3)
    single = [asr(str(talk))["text"], asr(other)["text"]]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEfmt garbage")
    for batch_size in (1, 4):
        out = asr([str(talk), str(broken), other], batch_size=batch_size)
        assert [out[0]["text"], out[2]["text"]] == single
        assert out[1]["text"] == "" and "broken.wav" in out[1]["error"]
    with pytest.raises(Exception, match="broken.wav"):
        asr(str(broken))


def test_word_timestamps_as_chunks(asr, processor):
    audio = recording([(0.5, 3.0), (4.2, 6.8)], 7.0, seed=1)
    ids = processor.tokenizer("hi<|0.50|><|endoftext|>", add_special_tokens=False)["input_ids"]
    words = asr(audio, return_timestamps="word", generate_kwargs={"logits_processor": [ForceResponse(ids)]})
    assert words["text"] == "hi hi"
    assert [c["text"] for c in words["chunks"]] == ["hi", "hi"]
    assert [c["timestamp"] for c in words["chunks"]] == [pytest.approx((0.5, 1.0)), pytest.approx((4.2, 4.7))]


def test_generate_kwargs_language_and_task_pick_the_prompt(asr, model, processor):
    audio = recording([(0.5, 3.0)], 4.0, seed=2)
    decoder = LongFormDecoder(model, processor, chunk_length_s=5.0, max_new_tokens=4)
    german = decoder(audio, LongFormTask.from_prompt(TaskPrompt.asr("de")), sampling_rate=SR).text
    to_english = decoder(audio, LongFormTask.from_prompt(TaskPrompt.translation("de", "en")), sampling_rate=SR).text
    assert asr(audio, generate_kwargs={"language": "de"})["text"] == german
    assert asr(audio, generate_kwargs={"language": "<|de|>", "task": "translate"})["text"] == to_english
    assert german != to_english
    with pytest.raises(ValueError, match="language"):
        asr(audio, generate_kwargs={"language": "klingon"})
    with pytest.raises(ValueError, match="task"):
        asr(audio, generate_kwargs={"task": "caption"})
    with pytest.raises(ValueError, match="return_timestamps"):
        asr(audio, return_timestamps="char")
    with pytest.raises(TypeError, match="unexpected"):
        asr(audio, chunk_length=3)


def test_chat_prompt_format(processor):
    task = transcription_task("en", prompt_format="chat", processor=processor)
    assert task.join and task.prompt_text.count("<audio></audio>") == 1
    assert task.prompt_text.endswith("<|im_start|>assistant\n")
    assert "<|startoftranscript|>" not in task.prompt_text
    with pytest.raises(ValueError, match="prompt_format"):
        transcription_task(prompt_format="json")


def test_silent_recording_gives_empty_text(asr):
    assert asr(np.zeros(3 * SR, np.float32), return_timestamps=True) == {"text": "", "chunks": []}
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(SR, np.float32), SR, format="WAV")
    assert asr(buffer.getvalue())["text"] == ""
