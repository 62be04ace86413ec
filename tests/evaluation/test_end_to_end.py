"""Every protocol end to end on synthetic clips with a tiny random model (outputs are garbage on purpose):
the pipeline runs, predictions and scores are written, and the scores are those of the saved predictions."""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from qwen_audio_hf.cli import main as cli_main
from qwen_audio_hf.evaluation import PROTOCOLS, evaluate, generate_responses, score_predictions
from qwen_audio_hf.evaluation.data import load_predictions
from qwen_audio_hf.evaluation.runner import _shard
from qwen_audio_hf.modeling.generation import greedy_generation_config

from ..tiny_models import tiny_decoding_model

MAX_NEW_TOKENS = 6  # short decoding keeps the random model fast; the protocols' own lengths are tested below


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: tiny matmuls on a shared 2-core machine are many times faster without contention."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model():
    return tiny_decoding_model(seed=0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three clips of different lengths (tones, noise, chirp) in a temporary folder."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    waves = [0.2 * np.sin(2 * np.pi * 440 * t[:16000]), 0.05 * rng.standard_normal(8000 * 3),
             0.2 * np.sin(2 * np.pi * (200 + 300 * t) * t)]
    for index, wave in enumerate(waves):
        sf.write(folder / f"clip{index}.wav", wave.astype(np.float32), 16000)
    return folder


def records_for(name):
    """Three records in the original's converted format, over two sources."""
    gt = {
        "clotho": [["a bird sings", "birds are chirping outside", "a bird chirps", "birdsong", "a bird sings loudly"]] * 3,
        "srwt": ["<|0.00|>面<|0.50|>条<|1.00|>"] * 3,
        "nsynth": ["<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>keyboard<|sonic|>bright"] * 3,
        "covost2": ["Hallo Welt", "你好世界", "Guten Morgen"],
        "aishell1": ["你好世界"] * 3,
        "aishell2": ["你好世界"] * 3,
    }.get(name, ["hello world", "yes", "park"])
    sources = ["covost2_en_de_test", "covost2_en_zh_test", "covost2_en_de_test"] if name == "covost2" else \
        ["first", "second", "first"]
    rows = [{"audio": f"clip{i}.wav", "gt": gt[i], "source": sources[i]} for i in range(3)]
    if name == "clothoaqa":
        for row in rows:
            row["question"] = "Is a bird singing?"
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_protocol_runs_and_scores_what_was_generated(name, model, processor, clips, tmp_path):
    if name == "clotho" and shutil.which("java") is None:
        pytest.skip("caption scoring needs Java for the PTB tokenizer")
    data = write_jsonl(clips / f"{name}.jsonl", records_for(name))
    result = evaluate(model, processor, data, name, batch_size=2, output_dir=tmp_path,
                      max_new_tokens=MAX_NEW_TOKENS, progress=False)

    assert [row["index"] for row in result.predictions] == [0, 1, 2]
    assert all(isinstance(row["response"], str) for row in result.predictions)
    assert set(result.scores) == {row["source"] for row in records_for(name)}
    saved = load_predictions(result.files["predictions"])
    assert [row["response"] for row in saved] == [row["response"] for row in result.predictions]
    assert saved[0]["prompt"] == PROTOCOLS[name].prompt_text(records_for(name)[0], audio=str(clips / "clip0.wav"))
    rescored = score_predictions(name, saved)
    assert rescored == result.scores
    written = json.loads(open(result.files["scores"]).read())
    assert written["scores"] == json.loads(json.dumps(rescored)) and written["num_examples"] == 3
    assert written["paper"] == PROTOCOLS[name].paper


def test_batched_generation_matches_one_by_one(model, processor, clips):
    rows = [{**row, "audio": str(clips / row["audio"])} for row in records_for("meld")]
    protocol = PROTOCOLS["librispeech"]
    batched = generate_responses(model, processor, rows, protocol, batch_size=3, max_new_tokens=5, progress=False)
    single = generate_responses(model, processor, rows, protocol, batch_size=1, max_new_tokens=5, progress=False)
    assert batched == single


def test_a_clip_under_30_ms_does_not_abort_the_run(model, processor, clips, tmp_path):
    """Like the original, a 5 ms clip gets no audio token (span <audio></audio>) and is decoded with the rest."""
    sf.write(tmp_path / "blip.wav", np.full(80, 0.1, dtype=np.float32), 16000)
    rows = [{**row, "audio": str(clips / row["audio"])} for row in records_for("meld")]
    rows.insert(1, {**rows[0], "audio": str(tmp_path / "blip.wav")})
    protocol = PROTOCOLS["librispeech"]
    batched = generate_responses(model, processor, rows, protocol, batch_size=4, max_new_tokens=3, progress=False)
    single = generate_responses(model, processor, rows, protocol, batch_size=1, max_new_tokens=3, progress=False)
    assert len(batched) == 4 and batched == single


def test_protocol_decoding_length_is_used(model, processor, clips):
    rows = [{**row, "audio": str(clips / row["audio"])} for row in records_for("meld")][:1]
    [response] = generate_responses(model, processor, rows, PROTOCOLS["meld"], progress=False)
    ids = processor.tokenizer(response, add_special_tokens=False)["input_ids"]
    assert 1 <= len(ids) <= PROTOCOLS["meld"].max_new_tokens + 1  # re-tokenising may split a token
    config = greedy_generation_config(processor.tokenizer, 30)
    assert (config.do_sample, config.num_beams, config.min_new_tokens, config.eos_token_id) == (False, 1, 1, 151643)


def test_datasets_dataset_with_audio_feature(model, processor, clips):
    datasets = pytest.importorskip("datasets")
    rows = records_for("meld")
    dataset = datasets.Dataset.from_dict({
        "audio": [str(clips / row["audio"]) for row in rows],
        "gt": [row["gt"] for row in rows],
        "source": [row["source"] for row in rows],
    }).cast_column("audio", datasets.Audio(sampling_rate=16000))
    result = evaluate(model, processor, dataset, "meld", batch_size=3, max_new_tokens=3, progress=False)
    assert result.predictions[0]["audio"] == str(clips / "clip0.wav") and result.files == {}
    assert result.scores == score_predictions("meld", result.predictions)


def test_shards_cover_the_data_in_order():
    shards = [_shard(10, SimpleNamespace(num_processes=3, process_index=rank)) for rank in range(3)]
    assert [list(s) for s in shards] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_cli_generates_then_rescores(model, processor, clips, tmp_path, capsys):
    model_dir = tmp_path / "tiny"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    data = write_jsonl(clips / "cli_meld.jsonl", records_for("meld"))
    out = tmp_path / "out"
    code = cli_main(["eval", "--task", "ser", "--data", str(data), "--model", str(model_dir), "--output-dir", str(out),
                     "--batch-size", "2", "--max-new-tokens", "3", "--device", "cpu", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "== meld" in printed and "source 'first'" in printed and "paper (Qwen-Audio)" in printed
    scores = json.loads((out / "meld_scores.json").read_text())["scores"]
    assert scores == score_predictions("meld", load_predictions(out / "meld_predictions.jsonl"))

    code = cli_main(["eval", "--task", "meld", "--predictions", str(out / "meld_predictions.jsonl"),
                     "--output-dir", str(tmp_path / "rescored")])
    assert code == 0
    assert json.loads((tmp_path / "rescored" / "meld_scores.json").read_text())["scores"] == scores

    assert cli_main(["eval", "--task", "meld", "--data", str(data)]) == 2
    assert "pass --data and --model" in capsys.readouterr().err


@pytest.mark.parametrize("task, gt, response, printed", [
    ("librispeech", "the cat sat down", "the cat sat up", '"WER %": 25.0'),
    ("aishell1", "今天天气", "今天天汽", '"CER %": 25.0'),
])
def test_cli_prints_error_rates_in_percent_and_stores_fractions(task, gt, response, printed, tmp_path, capsys):
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps([{"audio": "a.wav", "gt": gt, "response": response, "source": "test"}]))
    assert cli_main(["eval", "--task", task, "--predictions", str(predictions), "--output-dir", str(tmp_path)]) == 0
    assert printed in capsys.readouterr().out
    assert json.loads((tmp_path / f"{task}_scores.json").read_text())["scores"]["test"]["wer"] == 0.25
