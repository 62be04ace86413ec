"""QwenAudioProcessor: span expansion, feature order, padding, truncation guard, errors, save/load."""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from qwen_audio_hf.processing.feature_extraction_qwen_audio import QwenAudioFeatureExtractor
from qwen_audio_hf.processing.processing_qwen_audio import QwenAudioProcessor
from qwen_audio_hf.core.token_ids import AUDIO_END_ID, AUDIO_PAD_ID, AUDIO_START_ID, ENDOFTEXT_ID
from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer, packaged_vocab_file

from .signals import tone

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original"
ASR_TAGS = "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("clips")
    for name, seconds, freq in [("one", 1.0, 300), ("three", 3.0, 500), ("seven", 7.45, 700), ("thirty", 30.0, 900)]:
        soundfile.write(directory / f"{name}.wav", tone(seconds, freq), 16000, subtype="PCM_16")
    return directory


def spans_of(ids):
    """(start, end) index pairs of every <audio>..</audio> span in a list of ids."""
    starts = [i for i, token in enumerate(ids) if token == AUDIO_START_ID]
    ends = [i for i, token in enumerate(ids) if token == AUDIO_END_ID]
    assert len(starts) == len(ends)
    return list(zip(starts, ends))


@pytest.mark.parametrize("name, span", [("one", 27), ("three", 77), ("seven", 188), ("thirty", 752)])
def test_path_span_is_expanded_to_clip_length(processor, clip_dir, name, span):
    out = processor(text=f"<audio>{clip_dir / name}.wav</audio>{ASR_TAGS}", return_tensors=None)
    ids = out["input_ids"][0]
    (start, end), = spans_of(ids)
    assert end - start + 1 == span
    assert ids[start + 1 : end] == [AUDIO_PAD_ID] * (span - 2)
    assert ids[end + 1 :] == processor.tokenizer(ASR_TAGS, add_special_tokens=False)["input_ids"]
    assert processor.feature_extractor.span_lengths(out["feature_attention_mask"]) == [span]


def test_over_30_seconds_warns_and_caps_span(processor):
    with pytest.warns(UserWarning, match=r"33\.00 s long.*first 30 s"):
        out = processor(text="<audio></audio>hi", audio=tone(33.0), sampling_rate=16000)
    (start, end), = spans_of(out["input_ids"][0].tolist())
    assert end - start + 1 == 752 and int(out["feature_attention_mask"].sum()) == 3000


def test_outputs_keys_shapes_dtypes(processor):
    out = processor(text=["a <audio></audio> b", "<audio></audio><audio></audio>"],
                    audio=[tone(1.0), tone(2.0), tone(0.5)], sampling_rate=16000)
    assert list(out.keys()) == ["input_ids", "attention_mask", "input_features", "feature_attention_mask"]
    assert out["input_ids"].dtype == torch.long and out["attention_mask"].dtype == torch.long
    assert out["input_features"].shape == (3, 80, 3000) and out["input_features"].dtype == torch.float32
    assert out["feature_attention_mask"].shape == (3, 3000) and out["feature_attention_mask"].dtype == torch.long


def test_no_audio_means_no_audio_keys(processor):
    out = processor(text=["plain text", "more"])
    assert set(out.keys()) == {"input_ids", "attention_mask"}


def test_features_follow_span_order_across_paths_and_placeholders(processor, clip_dir):
    in_memory = [tone(2.0, 1500), tone(1.5, 2500, sampling_rate=8000)]
    texts = [f"<audio></audio> then <audio>{clip_dir / 'three.wav'}</audio>", "<audio></audio> last"]
    out = processor(text=texts, audio=in_memory, sampling_rate=[16000, 8000], return_tensors="np")
    expected = processor.feature_extractor(
        [in_memory[0], str(clip_dir / "three.wav"), processor.feature_extractor.load_clips(in_memory[1], 8000)[0]],
        sampling_rate=16000,
    )
    np.testing.assert_array_equal(out["input_features"], expected["input_features"])
    np.testing.assert_array_equal(out["feature_attention_mask"], expected["feature_attention_mask"])
    spans = [len(spans_of(row.tolist())) for row in out["input_ids"]]
    assert spans == [2, 1]


def test_placeholder_ids_equal_path_ids(processor, clip_dir):
    path = clip_dir / "seven.wav"
    from_path = processor(text=f"x<audio>{path}</audio>y", return_tensors=None)
    from_array = processor(text="x<audio></audio>y", audio=soundfile.read(path)[0], sampling_rate=16000,
                           return_tensors=None)
    assert from_path["input_ids"] == from_array["input_ids"]


def test_already_expanded_span_is_a_placeholder(processor):
    first = processor(text="<audio></audio>q", audio=tone(3.0), sampling_rate=16000, return_tensors=None)
    decoded = processor.decode(first["input_ids"][0])
    again = processor(text=decoded, audio=tone(3.0), sampling_rate=16000, return_tensors=None)
    assert again["input_ids"] == first["input_ids"]


@pytest.mark.parametrize("side", ["left", "right"])
def test_batch_padding(processor, side):
    texts = ["<audio></audio>short", "a much longer second sample <audio></audio> with more words in it"]
    out = processor(text=texts, audio=[tone(1.0), tone(3.0)], sampling_rate=16000, padding_side=side)
    singles = [
        processor(text=texts[i], audio=[tone(1.0), tone(3.0)][i], sampling_rate=16000)["input_ids"][0]
        for i in range(2)
    ]
    width = max(len(s) for s in singles)
    assert out["input_ids"].shape == (2, width)
    for row, single in enumerate(singles):
        fill = width - len(single)
        mask = out["attention_mask"][row]
        ids = out["input_ids"][row]
        real = slice(fill, None) if side == "left" else slice(0, len(single))
        pad = slice(0, fill) if side == "left" else slice(len(single), None)
        assert torch.equal(ids[real], single) and bool(mask[real].all())
        assert bool((ids[pad] == ENDOFTEXT_ID).all()) and int(mask[pad].sum()) == 0


def test_padding_max_length_and_multiple_of(processor):
    out = processor(text=["a", "a b c"], padding="max_length", max_length=16)
    assert out["input_ids"].shape == (2, 16)
    out = processor(text=["a", "a b c"], pad_to_multiple_of=8)
    assert out["input_ids"].shape == (2, 8)


def test_no_padding_returns_ragged_lists(processor):
    out = processor(text=["a", "a b c"], padding=False, return_tensors=None)
    assert [len(row) for row in out["input_ids"]] == [1, 3]
    with pytest.raises(ValueError, match="padding=True"):
        processor(text=["a", "a b c"], padding=False)


def test_truncation_keeps_text_only_cuts(processor):
    text = "<audio></audio>" + " word" * 40
    full = processor(text=text, audio=tone(1.0), sampling_rate=16000, return_tensors=None)["input_ids"][0]
    cut = processor(text=text, audio=tone(1.0), sampling_rate=16000, truncation=True, max_length=30,
                    return_tensors=None)["input_ids"][0]
    assert cut == full[:30]


def test_truncation_never_cuts_an_audio_span(processor):
    text = "intro words " * 5 + "<audio></audio>" + " tail"
    ids = processor(text=text, audio=tone(3.0), sampling_rate=16000, return_tensors=None)["input_ids"][0]
    needed = ids.index(AUDIO_END_ID) + 1
    with pytest.raises(ValueError, match=rf"sample 1 .*cut its audio span.*max_length >= {needed} "):
        processor(text=["short", text], audio=tone(3.0), sampling_rate=16000, truncation=True, max_length=40)
    ok = processor(text=text, audio=tone(3.0), sampling_rate=16000, truncation=True, max_length=needed,
                   return_tensors=None)["input_ids"][0]
    assert ok == ids[:needed]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(text="<audio></audio>"), ValueError, r"1 empty <audio></audio> placeholder\(s\) but 0 audio"),
        (dict(text="no span", audio=tone(1.0), sampling_rate=16000), ValueError, "0 empty .* but 1 audio"),
        (dict(text="<audio></audio><audio></audio>", audio=[tone(1.0)], sampling_rate=16000), ValueError,
         "2 empty"),
        (dict(text="<audio></audio>", audio=tone(1.0)), ValueError, "`sampling_rate` is required"),
        (dict(text="<audio></audio>", audio=np.full(16000, np.nan), sampling_rate=16000), ValueError,
         r"audio #0 \(sample 0, span 0\) contains NaN"),
        (dict(text="<audio></audio>", audio=np.zeros(0), sampling_rate=16000), ValueError, "empty"),
        (dict(text="<audio>/no/such/clip.wav</audio>"), FileNotFoundError, "clip.wav.*does not exist"),
        (dict(text="<audio>https://example.com/a.wav</audio>"), ValueError, "allow_urls=True"),
        (dict(text="<audio>a.wav"), ValueError, "malformed audio tags"),
        (dict(text="</audio>x<audio>"), ValueError, "malformed audio tags"),
        (dict(text="x", padding_side="middle"), ValueError, "padding_side"),
        (dict(text="x", padding="max_length"), ValueError, "needs max_length"),
        (dict(text="x", images=[1]), TypeError, "unexpected keyword"),
        (dict(text=3), TypeError, "`text` must be"),
        (dict(text="<audio></audio>", audio=[tone(1.0)], sampling_rate=[16000, 8000]), ValueError,
         "2 sampling rates for 1 audio"),
        (dict(text="<|startoftranscription|><|en|>"), ValueError,
         r"unknown tag '<\|startoftranscription\|>'.*Did you mean '<\|startoftranscript\|>'"),
        (dict(text=["<|en|>", "a <|xx_tag|> b"]), ValueError, r"unknown tag '<\|xx_tag\|>'"),
    ],
)
def test_bad_inputs_raise_clear_errors(processor, kwargs, error, message):
    with pytest.raises(error, match=message):
        processor(**kwargs)


def test_unknown_tags_encode_as_text_only_when_asked(processor):
    ids = processor(text="<|xx_tag|>", validate_tags=False, return_tensors=None)["input_ids"][0]
    assert ids == processor.tokenizer("<|xx_tag|>")["input_ids"] and len(ids) > 1
    extended = copy.deepcopy(processor)  # a token the user added to the tokenizer counts as a known tag
    extended.tokenizer.add_tokens(["<|my_task|>"], special_tokens=True)
    assert extended(text="<|my_task|>", return_tensors=None)["input_ids"][0] == [len(extended.tokenizer) - 1]


def test_unreadable_file(processor, tmp_path):
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not really flac" * 20)
    with pytest.raises(ValueError, match="Could not decode"):
        processor(text=f"<audio>{broken}</audio>")


def test_audio_only_call_returns_features(processor):
    out = processor(audio=[tone(1.0), tone(2.0)], sampling_rate=16000)
    assert set(out.keys()) == {"input_features", "feature_attention_mask"}
    assert out["feature_attention_mask"].sum(-1).tolist() == [100, 200]


def test_decode_passes_through(processor):
    ids = processor(text=["hello world", "你好"], return_tensors=None, padding=False)["input_ids"]
    assert processor.batch_decode(ids) == ["hello world", "你好"]
    assert processor.decode(ids[0]) == "hello world"


def test_save_and_reload_with_auto_processor(processor, tmp_path):
    from transformers import AutoProcessor

    import qwen_audio_hf  # noqa: F401  (registers the Auto classes)

    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(reloaded) is QwenAudioProcessor
    assert type(reloaded.tokenizer) is QwenAudioTokenizer
    assert type(reloaded.feature_extractor) is QwenAudioFeatureExtractor
    assert reloaded.chat_template == processor.chat_template
    kwargs = dict(text=["<audio></audio>hi", "x"], audio=tone(2.0), sampling_rate=16000)
    a, b = processor(**kwargs), reloaded(**kwargs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loads_original_checkpoint_directory(tmp_path):
    """An original hub layout: config.json (model_type qwen), qwen.tiktoken, remote-code tokenizer_config.json."""
    shutil.copy(packaged_vocab_file(), tmp_path / "qwen.tiktoken")
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "qwen", "architectures": ["QWenLMHeadModel"],
        "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig"},
        "audio": {"n_mels": 80, "n_ctx": 1500, "n_state": 1280, "n_head": 20, "n_layer": 32, "output_dim": 4096,
                  "audio_start_id": 155163},
    }))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 8192, "tokenizer_class": "QWenTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]},
    }))
    loaded = QwenAudioProcessor.from_pretrained(tmp_path)
    assert type(loaded.tokenizer) is QwenAudioTokenizer and len(loaded.tokenizer) == 155165
    assert loaded.feature_extractor.feature_size == 80
    out = loaded(text="<audio></audio>hi", audio=tone(3.0), sampling_rate=16000, return_tensors=None)
    (start, end), = spans_of(out["input_ids"][0])
    assert end - start + 1 == 77


@pytest.mark.skipif(not (FIXTURES / "tokenizer_corpus.json").is_file(), reason="original fixtures not present")
@pytest.mark.filterwarnings("ignore:.*only the first 30 s are used")
def test_eval_prompts_match_original_ids(processor, monkeypatch):
    """Prompts of the original eval scripts, with their clips, give the original's ids (computed by its code)."""
    monkeypatch.chdir(FIXTURES)
    prompts = json.loads((FIXTURES / "tokenizer_corpus.json").read_text())["eval_prompts"]
    for entry in prompts:
        out = processor(text=entry["prompt"], return_tensors=None)
        assert out["input_ids"][0] == entry["input_ids"], entry["task"]
        assert processor.feature_extractor.span_lengths(out["feature_attention_mask"]) == entry["audio_span_tokens"]


def test_left_truncation_guard(processor):
    processor.tokenizer.truncation_side = "left"
    try:
        text = "<audio></audio>" + " word" * 30
        ids = processor(text=text, audio=tone(1.0), sampling_rate=16000, return_tensors=None)["input_ids"][0]
        with pytest.raises(ValueError, match=rf"left side.*max_length >= {len(ids)} "):
            processor(text=text, audio=tone(1.0), sampling_rate=16000, truncation=True, max_length=len(ids) - 1)
        text = "word " * 30 + "<audio></audio>"
        ids = processor(text=text, audio=tone(1.0), sampling_rate=16000, return_tensors=None)["input_ids"][0]
        cut = processor(text=text, audio=tone(1.0), sampling_rate=16000, truncation=True, max_length=40,
                        return_tensors=None)["input_ids"][0]
        assert cut == ids[-40:]
    finally:
        processor.tokenizer.truncation_side = "right"


def test_named_audio_token_ids(processor):
    assert (processor.audio_start_token_id, processor.audio_end_token_id, processor.audio_token_id) == (
        AUDIO_START_ID, AUDIO_END_ID, AUDIO_PAD_ID)
    assert processor.model_input_names == ["input_ids", "attention_mask", "input_features", "feature_attention_mask"]


@pytest.mark.parametrize(("samples", "mel_frames", "span"), [(1, 0, 2), (159, 0, 2), (160, 1, 2), (479, 2, 2),
                                                               (480, 3, 3), (800, 5, 3), (1120, 7, 4)])
def test_clips_under_30_ms_are_accepted_with_the_originals_span_arithmetic(processor, samples, mel_frames, span):
    """Original: frames = L // 160, T = (frames - 1) // 2 + 1, tokens = (T - 2) // 2 + 1 (0 under 30 ms)."""
    conv = (mel_frames - 1) // 2 + 1
    assert span == (conv - 2) // 2 + 1 + 2
    out = processor(text="<audio></audio>hi", audio=[np.full(samples, 0.1, dtype=np.float32)], sampling_rate=16000)
    assert int(out["feature_attention_mask"].sum()) == mel_frames
    ids = out["input_ids"][0].tolist()
    assert ids[0] == AUDIO_START_ID and ids[span - 1] == AUDIO_END_ID
    assert ids[1 : span - 1] == [AUDIO_PAD_ID] * (span - 2)
