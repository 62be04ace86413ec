"""The demo's held-out speech JSONL: `qwen-audio-hf eval` on it prints the WER the demo computes."""

import json
import re

from qwen_audio_hf import demo
from qwen_audio_hf.cli import main
from qwen_audio_hf.demo import speech, speech_eval
from qwen_audio_hf.export import save_for_hub
from qwen_audio_hf.modeling.generation import set_generation_defaults


def test_eval_cli_prints_the_demo_wer(processor, tmp_path, capsys):
    settings = demo.DemoSettings(text_hidden_size=32, audio_d_model=32, seed=3)
    model = demo.build_tiny_model(settings).eval()
    set_generation_defaults(model, processor.tokenizer)
    model_dir = str(tmp_path / "model")
    save_for_hub(model, processor, model_dir, description="test")
    utterances = speech.make_utterances(5, seed=1, split="held_out")
    jsonl = speech_eval.write_eval_jsonl(utterances, str(tmp_path / "speech_eval"))
    records = [json.loads(line) for line in open(jsonl)]
    assert [r["gt"] for r in records] == [u["label"] for u in utterances]
    assert {r["voice"] for r in records} <= set(speech.voices("held_out"))
    scores = speech_eval.asr_scores(model, processor, jsonl, utterances)
    assert scores["utterances"] == 5 and scores["reference_words"] == sum(len(u["words"]) for u in utterances)
    capsys.readouterr()
    assert main(speech_eval.eval_command(jsonl, model_dir).split()[1:]) == 0
    printed = re.search(r'"WER %": ([0-9.]+)', capsys.readouterr().out)
    assert printed and float(printed[1]) == round(100 * scores["wer"], 2)
