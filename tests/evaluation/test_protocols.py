"""Protocols: the original prompts and decoding lengths, per-source scoring, lookups and data readers."""

import json

import pytest

from qwen_audio_hf.evaluation.data import load_predictions, load_records
from qwen_audio_hf.evaluation.protocols import PAPER_RESULTS, PROTOCOLS, get_protocol, translation_languages
from qwen_audio_hf.evaluation.runner import score_predictions

# (prompt after the audio span, max_new_tokens) of each original eval_audio/evaluate_*.py
ORIGINAL_SETTINGS = {
    "librispeech": ("<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>", 256),
    "aishell1": ("<|startoftranscript|><|zh|><|transcribe|><|zh|><|notimestamps|><|wo_itn|>", 256),
    "aishell2": ("<|startoftranscript|><|zh|><|transcribe|><|zh|><|notimestamps|><|wo_itn|>", 256),
    "covost2": ("<|startoftranscript|><|en|><|translate|><|de|><|notimestamps|><|itn|>", 256),
    "clotho": ("<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>", 30),
    "srwt": ("<|startoftranscript|><|zh|><|transcribe|><|zh|><|timestamps|><|0.00|>", 256),
    "cochlscene": ("<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>", 10),
    "tut2017": ("<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>", 10),
    "meld": ("<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|emotion_recognition|>", 4),
    "vocalsound": ("<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|vocal_classification|>", 4),
    "nsynth": ("<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|note_analysis|>", 30),
    "clothoaqa": ("<|startofanalysis|><|en|><|question|>Is it raining?<|answer|>", 4),
}


@pytest.mark.parametrize("name", sorted(ORIGINAL_SETTINGS))
def test_prompt_and_decoding_length_match_the_original(name):
    protocol = PROTOCOLS[name]
    record = {"audio": "clip.wav", "gt": "x", "source": "covost2_en_de_test", "question": "Is it raining?"}
    prompt, max_new_tokens = ORIGINAL_SETTINGS[name]
    assert protocol.prompt_text(record, audio="clip.wav") == f"<audio>clip.wav</audio>{prompt}"
    assert protocol.max_new_tokens == max_new_tokens
    assert protocol.paper == PAPER_RESULTS[name]


def test_every_family_of_the_paper_has_a_protocol():
    assert {p.family for p in PROTOCOLS.values()} == {"asr", "s2tt", "aac", "srwt", "asc", "ser", "vsc", "mna", "aqa"}


def test_lookup_by_family_language_and_errors():
    assert get_protocol("asr").name == "librispeech"
    assert get_protocol("industrial_srwt").name == "srwt"
    zh = get_protocol("asr", language="zh")
    assert "<|zh|><|transcribe|><|zh|>" in zh.prompt_text({})
    assert zh.score([{"gt": "你好", "response": "你好吗", "source": "s"}])["s"]["wer"] == pytest.approx(0.5)
    assert "<|en|><|transcribe|><|en|><|timestamps|>" in get_protocol("srwt", language="en").prompt_text({})
    with pytest.raises(ValueError, match="unknown task 'asrr'"):
        get_protocol("asrr")
    with pytest.raises(ValueError, match="asr and srwt protocols only"):
        get_protocol("meld", language="en")
    with pytest.raises(ValueError, match="klingon"):
        get_protocol("asr", language="klingon")


def test_translation_language_pair_from_source_or_fields():
    assert translation_languages({"source": "covost2_zh_en_test"}) == ("zh", "en")
    assert translation_languages({"source": "x", "audio_language": "fr", "text_language": "en"}) == ("fr", "en")
    with pytest.raises(ValueError, match="covost2_en_de_test"):
        translation_languages({"source": "covost"})


def test_scores_are_per_source():
    rows = [
        {"gt": "bus", "response": "bus", "source": "tut2017"},
        {"gt": "park", "response": "home", "source": "tut2017"},
        {"gt": "home", "response": "home", "source": "cochlscene"},
    ]
    scores = score_predictions("tut2017", rows)
    assert scores == {"cochlscene": {"count": 1, "accuracy": 1.0}, "tut2017": {"count": 2, "accuracy": 0.5}}
    bleu = score_predictions("covost2", [{"gt": "a b c d e", "response": "a b c d e", "source": "c_de_en_t"},
                                         {"gt": "你好世界朋友", "response": "你好世界", "source": "c_en_zh_t"}])
    assert bleu["c_de_en_t"]["bleu"] == pytest.approx(100.0) and 0 < bleu["c_en_zh_t"]["bleu"] < 100
    aqa = score_predictions("clothoaqa", [{"gt": "yes", "response": "yes", "source": "clotho"},
                                          {"gt": "dog", "response": "cat", "source": "clotho"}])
    assert aqa["clotho"] == {"count": 2, "accuracy": 0.5, "binary_accuracy": 1.0}


def test_srwt_scores_include_milliseconds_and_text_error_rate():
    rows = [{"gt": "<|0.00|>面<|0.50|>条<|1.00|>", "response": "面<|0.40|>条<|1.10|>", "source": "s"}]
    score = score_predictions("srwt", rows)["s"]
    assert score["aas"] == pytest.approx(0.2) and score["aas_ms"] == pytest.approx(200.0)
    assert score["wer"] == 0.0 and score["matched_words"] == 1


def test_jsonl_reader_resolves_audio_next_to_the_data_file(tmp_path, monkeypatch):
    (tmp_path / "a.wav").write_bytes(b"")
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"audio": "a.wav", "gt": "x", "source": "s"}) + "\n\n")
    monkeypatch.chdir("/")
    assert load_records(data)[0]["audio"] == str(tmp_path / "a.wav")
    data.write_text("{not json\n")
    with pytest.raises(ValueError, match="eval.jsonl:1: not valid JSON"):
        load_records(data)


def test_predictions_reader_accepts_the_original_results_list(tmp_path):
    path = tmp_path / "meld_231201.json"
    path.write_text(json.dumps([{"gt": "joy", "response": "joy", "source": "meld", "audio_path": "a.wav"}]))
    assert load_predictions(path)[0]["response"] == "joy"
    path.write_text(json.dumps([{"gt": "joy", "source": "meld"}]))
    with pytest.raises(ValueError, match="lacks field"):
        load_predictions(path)


def test_dataset_dict_needs_a_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = {"audio": ["a.wav"], "gt": ["x"], "source": ["s"]}
    dataset_dict = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)})
    with pytest.raises(ValueError, match=r"pass split= one of \['test'\]"):
        load_records(dataset_dict)
    dataset_dict.save_to_disk(tmp_path / "saved")
    assert load_records(tmp_path / "saved", split="test") == [{"audio": "a.wav", "gt": "x", "source": "s"}]
