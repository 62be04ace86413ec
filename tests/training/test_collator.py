"""The collator builds exactly the processor's inputs and masks everything but the supervised text."""

from __future__ import annotations

import json
import re

import pytest
import torch

from qwen_audio_hf.training import IGNORE_INDEX, QwenAudioDataCollator, load_sft_data
from qwen_audio_hf.processing.audio_io import load_audio

from qwen_audio_hf.core.token_ids import AUDIO_END_ID, AUDIO_PAD_ID, AUDIO_START_ID
from qwen_audio_hf.core.token_ids import ENDOFTEXT_ID as ENDOFTEXT
from qwen_audio_hf.core.token_ids import IM_END_ID as IM_END
from qwen_audio_hf.core.token_ids import IM_START_ID as IM_START

AUDIO_IDS = (AUDIO_PAD_ID, AUDIO_START_ID, AUDIO_END_ID)


def _rows(dataset):
    return [dataset[index] for index in range(len(dataset))]


def test_pretraining_batch_matches_processor_and_supervises_target_only(processor, pretraining_data):
    rows = _rows(pretraining_data)
    batch = QwenAudioDataCollator(processor)(rows)
    waveforms = [load_audio(row["audio"]) for row in rows]
    # The same rows through the processor in one piece (tags and target rendered by hand here).
    prompts = {"transcribe": "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>",
               "caption": "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>"}
    texts = [f"<audio></audio>{prompts[json.loads(row['tags'])['task']]}{row['target']}<|endoftext|>" for row in rows]
    reference = processor(text=texts, audio=waveforms, sampling_rate=16000, padding=True, padding_side="right")
    assert torch.equal(batch["input_ids"], reference["input_ids"])
    assert torch.equal(batch["attention_mask"], reference["attention_mask"])
    assert torch.equal(batch["input_features"], reference["input_features"])
    assert torch.equal(batch["feature_attention_mask"], reference["feature_attention_mask"])

    labels = batch["labels"]
    for row_index, row in enumerate(rows):
        supervised = batch["input_ids"][row_index][labels[row_index] != IGNORE_INDEX]
        assert processor.tokenizer.decode(supervised) == row["target"] + "<|endoftext|>"
        kept = labels[row_index] != IGNORE_INDEX
        assert torch.equal(labels[row_index][kept], batch["input_ids"][row_index][kept])
        # supervision is one contiguous block ending at the row's last real token
        positions = kept.nonzero().flatten()
        assert positions[-1] == batch["attention_mask"][row_index].sum() - 1
        assert (positions.diff() == 1).all()
    assert not torch.isin(labels, torch.tensor(AUDIO_IDS)).any()
    assert (labels[batch["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_sft_batch_supervises_assistant_turns_and_im_end(processor, sft_data):
    rows = _rows(sft_data)
    batch = QwenAudioDataCollator(processor)(rows)
    decode = processor.tokenizer.decode
    assert decode(batch["input_ids"][0][batch["labels"][0] != IGNORE_INDEX]) == (
        "hello world<|im_end|>Hello, world!<|im_end|>"
    )
    assert decode(batch["input_ids"][1][batch["labels"][1] != IGNORE_INDEX]) == "The second one is longer.<|im_end|>"
    # the model inputs equal the processor's own encoding of the rendered chat
    for index, row in enumerate(rows):
        messages = [
            {"role": turn["role"], "content": [
                {"type": "audio", "audio": item["audio"]["path"]} if item["type"] == "audio" else
                {"type": "text", "text": item["text"]} for item in turn["content"]]}
            for turn in row["messages"]
        ]
        text = processor.apply_chat_template(messages, add_generation_prompt=False, tokenize=False)
        reference = processor(text=text, padding=False)
        length = int(batch["attention_mask"][index].sum())
        assert batch["input_ids"][index, :length].tolist() == reference["input_ids"][0].tolist()
        labels = batch["labels"][index, :length]
        ids = batch["input_ids"][index, :length]
        # every <|im_end|> closing an assistant turn is supervised, those of system/user turns are not
        ends = (ids == IM_END).nonzero().flatten().tolist()
        starts = (ids == IM_START).nonzero().flatten().tolist()
        for start, end in zip(starts, ends):
            role = decode(ids[start + 1 : start + 2])
            assert (labels[end] != IGNORE_INDEX) == (role == "assistant")
            assert (labels[start : start + 3] == IGNORE_INDEX).all()  # the "<|im_start|>assistant\n" header
    assert batch["input_features"].shape[0] == 3  # one clip in row 0, two in row 1, in span order


def test_text_only_conversation_has_no_audio_keys(processor):
    rows = load_sft_data(
        [{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}], processor
    )
    batch = QwenAudioDataCollator(processor, pad_to_multiple_of=8)(list(rows))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape[1] % 8 == 0
    assert processor.tokenizer.decode(batch["input_ids"][0][batch["labels"][0] != IGNORE_INDEX]) == "4<|im_end|>"


def test_collator_errors_name_the_row(processor, pretraining_data, tmp_path):
    rows = _rows(pretraining_data)
    with pytest.raises(ValueError, match=r"too long: \d+ tokens > max_length=20"):
        QwenAudioDataCollator(processor, max_length=20)(rows[:1])
    bad = dict(rows[0], tags='{"task": "transcribe", "audio_language": "xx", "text_language": "en"}')
    with pytest.raises(ValueError, match=re.escape(f"training row audio {rows[0]['audio']['path']!r}") +
                       ".*unknown audio_language 'xx'"):
        QwenAudioDataCollator(processor)([bad])
    missing = dict(rows[0], audio={"path": str(tmp_path / "gone.wav"), "bytes": None, "array": None,
                                   "sampling_rate": None})
    with pytest.raises(ValueError, match="gone.wav"):
        QwenAudioDataCollator(processor)([missing])
    with pytest.raises(ValueError, match="empty batch"):
        QwenAudioDataCollator(processor)([])


def test_loss_equals_cross_entropy_over_supervised_tokens(processor, pretraining_data, tiny_model):
    batch = QwenAudioDataCollator(processor)(_rows(pretraining_data)[:2])
    with torch.no_grad():
        output = tiny_model(**batch)
    logits = output.logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                 ignore_index=IGNORE_INDEX)
    assert torch.allclose(output.loss, expected, atol=1e-5)


def test_collator_takes_datasets_audio_values_as_they_come(processor, clips):
    """Rows straight from a datasets table with a decoded Audio column: a torchcodec AudioDecoder (datasets >= 4)
    or an {"array", "sampling_rate", "path"} dict (older datasets) collate like the file itself."""
    import os

    import soundfile

    from ..processing.test_datasets_audio import FakeAudioDecoder
    from .conftest import sft_rows

    root, names = clips
    path = os.path.join(root, names[2])  # 8 kHz stereo
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    tags = {"task": "transcribe", "audio_language": "en", "text_language": "en", "output_instruction": "wo_itn"}
    values = [path, FakeAudioDecoder(data.T, rate), {"array": data.mean(axis=1), "sampling_rate": rate, "path": path}]
    batches = [QwenAudioDataCollator(processor)([{"audio": value, "tags": tags, "target": "hi"}]) for value in values]
    for batch in batches[1:]:
        assert torch.equal(batch["input_ids"], batches[0]["input_ids"])
        assert torch.equal(batch["labels"], batches[0]["labels"])
        assert torch.allclose(batch["input_features"], batches[0]["input_features"], atol=1e-5)

    conversation = sft_rows([path, path, path])[0]
    conversation["messages"][0]["content"][0] = {"type": "audio", "audio": values[1]}
    decoded = QwenAudioDataCollator(processor)([conversation])
    by_path = QwenAudioDataCollator(processor)([sft_rows([path, path, path])[0]])
    assert torch.equal(decoded["input_ids"], by_path["input_ids"])
    assert torch.allclose(decoded["input_features"], by_path["input_features"], atol=1e-5)
