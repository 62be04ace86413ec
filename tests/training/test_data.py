"""Schema loading and validation: jsonl / datasets / lists, the length column, clear errors for bad rows."""

from __future__ import annotations

import os

import datasets
import numpy as np
import pytest

from qwen_audio_hf.processing import QwenAudioProcessor
from qwen_audio_hf.training import QwenAudioDataCollator, load_pretraining_data, load_sft_data
from qwen_audio_hf.core.audio_lengths import audio_span_length, mel_frames_for_samples
from qwen_audio_hf.training.data import pretraining_segments, sft_segments

from .conftest import ASR_TAGS, pretraining_rows, write_clip


def test_jsonl_resolves_paths_and_length_matches_collated_rows(processor, clips, pretraining_jsonl):
    root, names = clips
    dataset = load_pretraining_data(pretraining_jsonl, processor)
    assert isinstance(dataset, datasets.Dataset) and len(dataset) == 4
    assert dataset[0]["audio"]["path"] == os.path.join(root, names[0])
    collator = QwenAudioDataCollator(processor)
    for row in dataset:  # the precomputed length is the collated, unpadded length
        assert collator([row])["input_ids"].shape[1] == row["length"]
    assert len(set(dataset["length"])) > 1


def test_audio_span_length_matches_spec():
    def span(num_samples):
        return audio_span_length(mel_frames_for_samples(num_samples))

    assert span(3 * 16000) == 77  # 3 s clip -> span 77
    assert span(40 * 16000) == span(30 * 16000)


def test_pretraining_segments_supervise_target_and_end_token():
    segments, audios = pretraining_segments({"audio": "a.wav", "tags": ASR_TAGS, "prompt": "", "target": "hi"})
    assert audios == ["a.wav"]
    assert segments == [
        ("<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>", False),
        ("hi<|endoftext|>", True),
    ]


def test_rows_may_differ_in_optional_fields_and_take_task_prompts(processor, clips):
    from qwen_audio_hf.processing.tags import TaskPrompt

    root, names = clips
    rows = [
        {"audio": names[0], "tags": TaskPrompt.asr("en"), "target": "a"},
        {"audio": names[1], "tags": TaskPrompt.aqa("How many dogs?"), "prompt": "", "target": "two"},
        {"audio": names[2], "tags": ASR_TAGS, "prompt": " context", "target": "b"},
    ]
    dataset = load_pretraining_data(rows, processor, base_dir=root)
    assert dataset["prompt"] == [None, "", " context"]  # a key missing from the first row is kept
    segments, _ = pretraining_segments(dataset[1])
    assert segments[0][0] == "<audio></audio><|startofanalysis|><|en|><|question|>How many dogs?<|answer|>"
    assert pretraining_segments(dataset[2])[0][0][0].endswith("<|wo_itn|> context")


def test_datasets_audio_feature_is_read_without_decoding(processor, clips):
    root, names = clips
    rows = pretraining_rows([os.path.join(root, name) for name in names])
    table = datasets.Dataset.from_list(rows).cast_column("audio", datasets.Audio())  # decode=True by default
    dataset = load_pretraining_data(table, processor)
    assert dataset.features["audio"].decode is False
    batch = QwenAudioDataCollator(processor)([dataset[0], dataset[2]])
    assert batch["input_features"].shape == (2, 80, 3000)


def test_in_memory_arrays_and_resampling(processor):
    rows = [
        {"audio": {"array": np.zeros(16000, dtype=np.float32), "sampling_rate": 16000}, "tags": ASR_TAGS, "target": "a"},
        {"audio": {"array": np.zeros(8000, dtype=np.float32), "sampling_rate": 8000}, "tags": ASR_TAGS, "target": "b"},
    ]
    dataset = load_pretraining_data(rows, processor)
    assert dataset["length"][0] == dataset["length"][1]  # both are 1 s once resampled to 16 kHz
    batch = QwenAudioDataCollator(processor)(list(dataset))
    assert batch["feature_attention_mask"].sum(-1).tolist() == [100, 100]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"audio": "clips/missing.wav"}, "does not exist"),
        ({"audio": None}, "audio is missing"),
        ({"tags": {**ASR_TAGS, "task": "sing"}}, "unknown task 'sing'"),
        ({"tags": {**ASR_TAGS, "speaker": "bob"}}, r"unknown TaskPrompt field\(s\) \['speaker'\]"),
        ({"target": ""}, "'target' must be a non-empty string"),
        ({"audio": "long.wav"}, "at most 30 s"),
        ({"audio": np.zeros(16000, dtype=np.float32)}, "bare array without its sampling rate"),
        ({"audio": {"array": np.zeros(16000, dtype=np.float32)}}, "sampling_rate` is required"),
    ],
)
def test_bad_rows_raise_clear_errors(processor, clips, change, message):
    root, names = clips
    write_clip(os.path.join(root, "long.wav"), 31.0)
    rows = pretraining_rows(names)
    rows[1].update(change)
    with pytest.raises(ValueError, match="row 1: .*" + message):
        load_pretraining_data(rows, processor, base_dir=root)


def test_too_long_rows_are_reported_with_their_length(processor, pretraining_jsonl):
    with pytest.raises(ValueError, match=r"4 of 4 pretraining rows do not fit:\n  row 0: too long: \d+ tokens > max_length=10"):
        load_pretraining_data(pretraining_jsonl, processor, max_length=10)


def test_missing_columns_and_bad_sources(processor, tmp_path):
    with pytest.raises(ValueError, match="needs a 'target' column"):
        load_pretraining_data([{"audio": "x.wav", "text": "a"}], processor)
    with pytest.raises(ValueError, match="needs a 'messages' column"):
        load_sft_data([{"audio": "x.wav", "target": "a"}], processor)
    with pytest.raises(ValueError, match="does not exist"):
        load_pretraining_data(str(tmp_path / "nope.jsonl"), processor)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio": "a.wav"}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not valid JSON"):
        load_pretraining_data(str(bad), processor)


def test_sft_loading_and_segments(processor, clips, sft_jsonl):
    dataset = load_sft_data(sft_jsonl, processor)
    assert len(dataset) == 2 and all(length > 0 for length in dataset["length"])
    segments, audios = sft_segments(dataset[1]["messages"], processor)
    assert len(audios) == 2
    supervised = [text for text, is_target in segments if is_target]
    assert supervised == ["The second one is longer.<|im_end|>"]
    assert segments[0][0].endswith("<|im_start|>assistant\n") and "Audio 2:<audio></audio>" in segments[0][0]


def test_sft_rows_ignore_the_chat_history_window(processor):
    """A processor converted from Qwen-Audio-Chat has max_window_size; training rows must still keep every turn."""
    messages = [{"role": "user", "content": "first " * 40}, {"role": "assistant", "content": "one"},
                {"role": "user", "content": "second"}, {"role": "assistant", "content": "two"}]
    windowed = QwenAudioProcessor(processor.feature_extractor, processor.tokenizer, max_window_size=16)
    assert "first" not in windowed.apply_chat_template(messages)
    segments, _ = sft_segments(messages, windowed)
    assert [text for text, is_target in segments if is_target] == ["one<|im_end|>", "two<|im_end|>"]


@pytest.mark.parametrize(
    "messages, message",
    [
        ([{"role": "user", "content": "hi"}], "no assistant message"),
        ([{"role": "robot", "content": "hi"}], "role system/user/assistant"),
        ([{"role": "user", "content": [{"type": "audio"}]}, {"role": "assistant", "content": "x"}], "no 'path'"),
        ([{"role": "user", "content": [{"type": "video", "path": "v.mp4"}]}, {"role": "assistant", "content": "x"}],
         "unsupported content item"),
    ],
)
def test_bad_conversations_raise_clear_errors(processor, messages, message):
    with pytest.raises(ValueError, match="row 0: .*" + message):
        load_sft_data([{"messages": messages}], processor)
