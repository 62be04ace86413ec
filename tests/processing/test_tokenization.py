"""QwenAudioTokenizer: ids, special strings, decoding, padding, save/load and original-layout loading."""

import base64
import json
import pickle
import random
import shutil
import unicodedata
from pathlib import Path

import pytest
from transformers import AutoTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

import qwen_audio_hf  # noqa: F401  (registers QwenAudioTokenizer with AutoTokenizer)
from qwen_audio_hf.core import token_ids as st
from qwen_audio_hf.processing.tokenization_qwen_audio import (
    QWEN_TIKTOKEN_MD5,
    QwenAudioTokenizer,
    file_md5,
    packaged_vocab_file,
)


FIXTURE_CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "original" / "tokenizer_corpus.json"

MIXED_TEXTS = [
    "Hello world",
    "  leading spaces and trailing   ",
    "line1\nline2\r\nline3\rline4\n\n\n",
    "tabs\tand\t\tspaces    mixed \t \n end",
    "你好，世界！我们今天去公园散步吧。",
    "日本語のテキスト、한국어 문장, Привет, مرحبا, नमस्ते",
    "emoji 😀😃 👍🏽 👨\u200d👩\u200d👧\u200d👦 🇨🇳",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n",
    "I'M SURE YOU'LL SEE THEY'VE DONE IT, don't",
    "1234567890 3.14159 1,000,000 ١٢٣",
    " " * 37 + "\n" * 5 + "\u3000\xa0x",
    "e\u0301 A\u030a \uac00",  # decomposed forms: NFC-normalised before encoding
]


@pytest.fixture(scope="module")
def tokenizer():
    return QwenAudioTokenizer()


@pytest.fixture(scope="module")
def bpe_ranks():
    ranks = {}
    for line in Path(packaged_vocab_file()).read_bytes().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def byte_token_id(tokenizer, byte_value):
    return tokenizer.convert_tokens_to_ids(bytes_to_unicode()[byte_value])


def test_packaged_vocabulary_is_the_release_file():
    assert file_md5(packaged_vocab_file()) == QWEN_TIKTOKEN_MD5


def test_sizes_and_named_tokens(tokenizer):
    assert len(tokenizer) == st.VOCAB_SIZE == 155165
    assert tokenizer.vocab_size == st.NUM_BPE_RANKS
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == tokenizer.eod_id == 151643
    assert tokenizer.bos_token is None
    assert (tokenizer.audio_token, tokenizer.audio_token_id) == ("[[[AUDIO:modality]]]", 151851)
    assert (tokenizer.audio_start_token, tokenizer.audio_start_token_id) == ("<audio>", 155163)
    assert (tokenizer.audio_end_token, tokenizer.audio_end_token_id) == ("</audio>", 155164)
    assert (tokenizer.im_start_id, tokenizer.im_end_id) == (151644, 151645)
    assert tokenizer.padding_side == "left"
    assert tokenizer.model_max_length == 8192


def test_every_special_token_is_one_token_with_its_id(tokenizer):
    expected = [st.SPECIAL_TOKEN_IDS[token] for token in st.SPECIAL_TOKENS]
    assert tokenizer.convert_tokens_to_ids(list(st.SPECIAL_TOKENS)) == expected
    assert tokenizer.encode("".join(st.SPECIAL_TOKENS)) == expected
    assert set(tokenizer.all_special_ids) <= set(expected)
    added = tokenizer.added_tokens_decoder
    assert all(added[i].special for i in expected)


@pytest.mark.parametrize(
    "tag,expected",
    [
        ("<|startoftranscript|>", 151852),
        ("<|startofanalysis|>", 151853),
        ("<|transcribe|>", 151855),
        ("<|unknown|>", 151858),
        ("<|en|>", 151859),
        ("<|zh_tr|>", 151867),
        ("<|notimestamps|>", 151868),
        ("<|sil|>", 151869),
        ("<|timestamps|>", 151870),
        ("<|0.00|>", 151871),
        ("<|0.52|>", 151923),
        ("<|29.99|>", 154870),
        ("<|30.00|>", 154871),
        ("<|note_analysis|>", 154889),
        ("<|pitch|>", 154890),
        ("<|midi_pitch_60|>", 154951),
        ("<|velocity|>", 155019),
        ("<|speech_edit|>", 155162),
        ("<audio>", 155163),
    ],
)
def test_measured_tag_ids(tokenizer, tag, expected):
    assert tokenizer.encode(tag) == [expected]


def test_original_prompt_ids(tokenizer):
    prompt = "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"
    assert tokenizer.encode(prompt) == [151852, 151859, 151855, 151859, 151868, st.special_token_id("<|wo_itn|>")]


def test_special_strings_glued_to_text(tokenizer):
    left, right = "word", "日本 text"
    for tag in ("<|en|>", "<|0.52|>", "<audio>", "[[[AUDIO:modality]]]", "<|im_start|>", "<|extra_7|>"):
        ids = tokenizer.encode(left + tag + right)
        assert ids == tokenizer.encode(left) + [st.special_token_id(tag)] + tokenizer.encode(right)
    # look-alikes are ordinary text
    for almost in ("<|en|", "<|EN|>", "<|extra_205|>", "<|30.01|>", "<audio", "[[AUDIO:modality]]"):
        assert not set(tokenizer.encode(almost)) & set(st.SPECIAL_TOKEN_IDS.values())


def test_audio_span_text_encodes_token_per_pad(tokenizer):
    span = "<audio>" + "[[[AUDIO:modality]]]" * 75 + "</audio>"
    assert tokenizer.encode(span) == [155163] + [151851] * 75 + [155164]


def test_nfc_normalisation(tokenizer):
    assert tokenizer.encode("caf" + "e\u0301") == tokenizer.encode("café")
    assert tokenizer.encode("\u1100\u1161") == tokenizer.encode("\uac00")
    # a special string followed by a combining mark that composes with its '>' stops being special (as in the
    # original, which normalises the whole text before matching special strings)
    assert 151859 not in tokenizer.encode("<|en|>\u0338")


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_round_trip(tokenizer, text):
    ids = tokenizer.encode(text)
    assert all(0 <= i < st.NUM_BPE_RANKS for i in ids)
    assert tokenizer.decode(ids) == unicodedata.normalize("NFC", text)


def test_known_text_ids_from_fixture(tokenizer):
    corpus = json.loads(FIXTURE_CORPUS.read_text(encoding="utf-8"))["corpus"]
    for entry in corpus[:60]:
        assert tokenizer.encode(entry["text"]) == entry["ids"], entry["text"]


def test_decode_special_tokens_and_skipping(tokenizer):
    text = "<|startoftranscript|><|en|>hello world<|endoftext|>"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special_tokens=True) == "hello world"
    assert tokenizer.batch_decode([ids, ids[:3]], skip_special_tokens=True) == ["hello world", "hello"]


def test_decode_joins_bytes_across_tokens_and_replaces_invalid_utf8(tokenizer):
    character = "世"
    byte_ids = [byte_token_id(tokenizer, b) for b in character.encode("utf-8")]
    assert tokenizer.decode(byte_ids) == character
    assert tokenizer.decode(byte_ids[:2]) == "\ufffd"
    assert tokenizer.decode(byte_ids[:2] + byte_ids) == "\ufffd" + character
    assert tokenizer.decode(byte_ids[:2], errors="ignore") == ""
    with pytest.raises(UnicodeDecodeError):
        tokenizer.decode(byte_ids[:2], errors="strict")
    assert tokenizer.decode([byte_token_id(tokenizer, 0xFF), 151859], errors="ignore") == "<|en|>"


def test_matches_tiktoken_reference(tokenizer, bpe_ranks):
    """Compare with tiktoken set up the way the original tokenizer sets it up (independent BPE implementation)."""
    tiktoken = pytest.importorskip("tiktoken")
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX  # same split rule, other source

    reference = tiktoken.Encoding(
        "qwen-reference",
        pat_str=PRETOKENIZE_REGEX,
        mergeable_ranks=bpe_ranks,
        special_tokens=dict(st.SPECIAL_TOKEN_IDS),
    )
    rng = random.Random(0)
    alphabet = (
        [chr(c) for c in range(32, 127)]
        + list(" \t\n\r\u3000\xa0")
        + [chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(50)]
        + [chr(rng.randint(0x1F300, 0x1F6FF)) for _ in range(30)]
        + [chr(rng.randint(0xA0, 0x2FFF)) for _ in range(100)]
        + ["\u0301", "\u0338", "\u200d"]
    )
    specials = list(st.SPECIAL_TOKENS)
    texts = list(MIXED_TEXTS)
    for _ in range(400):
        pieces = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.15:
                pieces.append(rng.choice(specials))
            else:
                pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))))
        texts.append("".join(pieces))
    ours = tokenizer(texts)["input_ids"]
    for text, ids in zip(texts, ours):
        expected = reference.encode(unicodedata.normalize("NFC", text), allowed_special="all")
        assert ids == expected, text
        assert tokenizer.decode(ids) == reference.decode(expected, errors="replace")
    random_ids = [[rng.randrange(0, st.VOCAB_SIZE) for _ in range(rng.randint(1, 8))] for _ in range(300)]
    for ids in random_ids:
        assert tokenizer.decode(ids) == reference.decode(ids, errors="replace")


def test_batched_left_padding(tokenizer):
    texts = ["short", "<|startoftranscript|><|en|> a longer sentence here"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert set(batch) == {"input_ids", "attention_mask"}
    lengths = [len(tokenizer.encode(text)) for text in texts]
    width = max(lengths)
    assert tuple(batch["input_ids"].shape) == (2, width)
    for row, (text, length) in enumerate(zip(texts, lengths)):
        pad = width - length
        assert batch["input_ids"][row, :pad].tolist() == [tokenizer.pad_token_id] * pad
        assert batch["input_ids"][row, pad:].tolist() == tokenizer.encode(text)
        assert batch["attention_mask"][row].tolist() == [0] * pad + [1] * length
    right = tokenizer(texts, padding=True, padding_side="right")
    assert right["input_ids"][0][: lengths[0]] == tokenizer.encode(texts[0])


def test_no_bos_or_eos_added(tokenizer):
    assert tokenizer("hello")["input_ids"] == tokenizer("hello", add_special_tokens=False)["input_ids"]


def test_save_and_reload_with_auto_tokenizer(tokenizer, tmp_path):
    saved = tokenizer.save_pretrained(tmp_path)
    assert {Path(p).name for p in saved} >= {"tokenizer.json", "tokenizer_config.json"}
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "QwenAudioTokenizer"
    assert config["audio_token"] == "[[[AUDIO:modality]]]"
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(reloaded) is QwenAudioTokenizer
    assert len(reloaded) == len(tokenizer)
    assert reloaded.padding_side == "left"
    assert reloaded.audio_start_token_id == 155163
    texts = MIXED_TEXTS + ["x<|en|>\u0338y", "".join(st.SPECIAL_TOKENS[::97]) + " tail"]
    assert reloaded(texts)["input_ids"] == tokenizer(texts)["input_ids"]
    assert reloaded.decode(tokenizer.encode(texts[4])) == texts[4]


def write_original_checkpoint_tokenizer(directory: Path) -> Path:
    """Lay out a directory like the released Qwen-Audio checkpoint's tokenizer files."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(packaged_vocab_file(), directory / "qwen.tiktoken")
    config = {
        "model_max_length": 8192,
        "tokenizer_class": "QWenTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]},
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return directory


def test_load_from_original_checkpoint_layout(tokenizer, tmp_path):
    original = write_original_checkpoint_tokenizer(tmp_path / "original")
    loaded = QwenAudioTokenizer.from_pretrained(original)
    assert len(loaded) == 155165
    assert loaded.model_max_length == 8192
    assert loaded(MIXED_TEXTS)["input_ids"] == tokenizer(MIXED_TEXTS)["input_ids"]
    loaded.save_pretrained(tmp_path / "converted")
    config = json.loads((tmp_path / "converted" / "tokenizer_config.json").read_text())
    assert "auto_map" not in config and config["tokenizer_class"] == "QwenAudioTokenizer"
    assert AutoTokenizer.from_pretrained(tmp_path / "converted").encode("<|en|>hi") == [151859, 6023]


def test_vocab_file_argument(tmp_path, tokenizer):
    vocab = tmp_path / "my.tiktoken"
    shutil.copyfile(packaged_vocab_file(), vocab)
    assert QwenAudioTokenizer(vocab_file=str(vocab)).encode(MIXED_TEXTS[5]) == tokenizer.encode(MIXED_TEXTS[5])


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        QwenAudioTokenizer(vocab_file=str(tmp_path / "missing.tiktoken"))
    truncated = tmp_path / "truncated.tiktoken"
    truncated.write_bytes(b"\n".join(Path(packaged_vocab_file()).read_bytes().splitlines()[:1000]))
    with pytest.raises(ValueError, match="151642"):
        QwenAudioTokenizer(vocab_file=str(truncated))
    with pytest.raises(ValueError, match="errors"):
        QwenAudioTokenizer(errors="surrogateescape")
    with pytest.raises(ValueError, match="not a Qwen-Audio special token"):
        QwenAudioTokenizer(audio_token="<image>")


def test_pickle_round_trip(tokenizer):
    clone = pickle.loads(pickle.dumps(tokenizer))
    assert clone.encode(MIXED_TEXTS[6]) == tokenizer.encode(MIXED_TEXTS[6])
    assert clone.audio_token_id == 151851
