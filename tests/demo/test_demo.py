"""The built-in demo: synthetic tasks, the windowed-logits collator, and a shortened end-to-end run that must learn."""

import json
import os

import numpy as np
import pytest
import torch

from qwen_audio_hf import demo
from qwen_audio_hf.cli import build_parser
from qwen_audio_hf.demo import synthetic
from qwen_audio_hf.training.collator import QwenAudioDataCollator


# ------------------------------------------------------------------------------------------- synthetic set
def _envelope(audio, frame=160):
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    return np.sqrt((frames**2).mean(1))


def test_examples_are_reproducible_and_interleaved():
    first = synthetic.make_examples(3, seed=5)
    again = synthetic.make_examples(3, seed=5)
    other = synthetic.make_examples(3, seed=6)
    assert [e["task"] for e in first] == list(synthetic.TASKS) * 3
    assert all(np.array_equal(a["audio"], b["audio"]) for a, b in zip(first, again))
    assert not np.array_equal(first[0]["audio"], other[0]["audio"])
    for example in first:
        assert example["audio"].dtype == np.float32 and example["audio"].shape == (synthetic.SAMPLE_RATE,)
        assert np.abs(example["audio"]).max() <= 1.0


def test_labels_match_the_audio():
    examples = synthetic.make_examples(12, seed=1)
    for example in examples:
        audio = example["audio"]
        if example["task"] == "note_analysis":
            spectrum = np.abs(np.fft.rfft(audio))
            peak_hz = np.argmax(spectrum) * synthetic.SAMPLE_RATE / len(audio)
            fundamental = 440.0 * 2 ** ((example["pitch"] - 69) / 12)
            assert min(abs(peak_hz - k * fundamental) for k in (1, 2, 3, 4)) < 3.0
        elif example["task"] == "beep_counting":
            loud = _envelope(audio) > 0.1
            onsets = np.sum(loud[1:] & ~loud[:-1]) + int(loud[0])
            assert onsets == example["count"] == int(example["label"])
        elif example["task"] == "event_timestamps":
            loud = np.nonzero(_envelope(audio) > 0.05)[0]
            assert abs(loud[0] / 100 - example["onset"]) <= 0.02 and abs((loud[-1] + 1) / 100 - example["offset"]) <= 0.02
            assert example["label"] == f"{example['onset']:.2f}-{example['offset']:.2f}"
        else:
            spectrum = np.abs(np.fft.rfft(audio)) ** 2
            freqs = np.fft.rfftfreq(len(audio), 1 / synthetic.SAMPLE_RATE)
            low, high = spectrum[(freqs > 100) & (freqs < 1000)].mean(), spectrum[(freqs > 4000) & (freqs < 7000)].mean()
            # mean power ratio of the two bands for power ~ f**-exponent
            expected = {"brown": 280.0, "pink": 13.7, "white": 1.0, "blue": 0.1}[example["colour"]]
            ratio = low / high
            assert 0.3 * expected < ratio < 3 * expected, (example["colour"], ratio)


def test_chance_levels_and_bad_arguments():
    assert synthetic.chance_level("note_analysis") == 1 / len(synthetic.NOTE_PITCHES)
    assert synthetic.chance_level("event_timestamps") == 1 / 6
    with pytest.raises(ValueError, match="Unknown task"):
        synthetic.chance_level("speech")
    with pytest.raises(ValueError, match="num_per_task"):
        synthetic.make_examples(0, seed=0)


# ------------------------------------------------------------------------------------------- prompts/scoring
def test_prompts_targets_and_scoring(processor):
    examples = synthetic.make_examples(1, seed=3)
    rows = demo.pretraining_rows(examples)
    note, beeps, event, noise = examples
    assert rows[0]["target"] == f"<|pitch|><|midi_pitch_{note['pitch']}|>"
    assert rows[2]["target"] == f"<|{event['onset']:.2f}|><|{event['offset']:.2f}|>"
    assert demo.prompt_text(beeps, "tagged", processor).startswith("<audio></audio><|startofanalysis|>")
    chat = demo.prompt_text(noise, "chat", processor)
    assert "Audio 1:<audio></audio>" in chat and chat.endswith("<|im_start|>assistant\n")
    assert demo.is_correct(note, rows[0]["target"] + "<|endoftext|>")
    assert demo.is_correct(event, rows[2]["target"]) and demo.is_correct(event, event["label"])
    assert demo.is_correct(beeps, beeps["label"] + "<|im_end|>")
    assert not demo.is_correct(noise, "purple")


def test_window_collator_keeps_the_loss(processor):
    torch.manual_seed(0)
    settings = demo.DemoSettings(text_hidden_size=32, audio_d_model=32)
    model = demo.build_tiny_model(settings).eval()
    rows = demo.pretraining_rows(synthetic.make_examples(2, seed=0)) + demo.sft_rows(synthetic.make_examples(1, seed=1))
    full = QwenAudioDataCollator(processor)(rows)
    window = demo.SupervisedWindowCollator(QwenAudioDataCollator(processor))(rows)
    assert window["logits_to_keep"] < full["input_ids"].shape[1]
    assert (window["labels"] != -100).sum() == (full["labels"] != -100).sum()
    with torch.no_grad():
        full_loss = model(**full).loss
        window_out = model(**window)
    assert window_out.logits.shape[1] == window["logits_to_keep"]
    torch.testing.assert_close(window_out.loss, full_loss, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------- end to end
def test_cli_arguments_fill_the_demo_settings(monkeypatch):
    seen = {}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # run_cli sets it for the demo
    monkeypatch.setattr(demo.run, "run_demo", lambda output_dir, settings: seen.update(dir=output_dir, settings=settings))
    args = build_parser().parse_args(["demo", "--output-dir", "x", "--pretrain-steps", "7"])
    assert args._run(args) == 0
    assert seen["dir"] == "x" and seen["settings"] == demo.DemoSettings(pretrain_steps=7)


def test_shortened_demo_learns_from_the_audio_and_writes_a_reloadable_model(processor, tmp_path, capsys):
    """The demo pipeline on a shortened schedule (120 pretraining + 60 LoRA steps, few spoken clips) must learn: on
    held-out clips a sound task is answered well above chance and above the same model with its audio features
    zeroed, and the sound tasks on average; the speech stages (eval JSONL, long recording, tagged scores before and
    after SFT, loss histories) report."""
    settings = demo.DemoSettings(train_per_task=100, sft_per_task=25, eval_per_task=12, pretrain_steps=120,
                                 sft_steps=60, num_samples_printed=2, long_form_seconds=5.0, audio_d_model=64,
                                 audio_layers=2, speech_train=40, speech_sft=8, speech_eval=12, long_form_utterances=12,
                                 speech_long_form_seconds=20.0, speech_long_form_utterances=6, sft_tagged_rows=40,
                                 curve_points=2, curve_clips=8)
    metrics = demo.run_demo(str(tmp_path), settings, processor=processor)
    saved = json.load(open(tmp_path / "metrics.json"))
    assert saved["tasks"].keys() == set(synthetic.TASKS) | set(demo.CHAT_SPEECH_TASKS)
    assert metrics["tasks"] == saved["tasks"]
    learned = [
        task for task, row in saved["tasks"].items() if task in synthetic.TASKS
        if row["chance"] == synthetic.chance_level(task)
        and row["accuracy"] >= row["chance"] + 0.4 and row["accuracy"] >= row["audio_zeroed_accuracy"] + 0.4
    ]
    # with the speech chat questions in the same short SFT, one sound task reliably passes this bar (noise colour
    # 1.00 vs 0.00 zeroed on 2 shared cores; the full schedule is what the >= 0.95 goal is about)
    assert len(learned) >= 1, saved["tasks"]
    assert saved["mean_accuracy"] >= saved["mean_audio_zeroed_accuracy"] + 0.25, saved["tasks"]
    assert saved["vocab_size"] == 155947
    assert {"clips", "recovered_fraction", "mean_abs_onset_error_s"} <= set(saved["long_form"])
    speech_run = saved["speech_long_form"]
    assert speech_run["utterances"] >= 6 and speech_run["recording_s"] >= 20.0 and len(speech_run["truth"]) >= 6
    assert {"wer", "median_start_error_s", "windows", "cut_points_s", "words", "truth"} <= set(speech_run)
    assert os.path.exists(speech_run["audio"]) and os.path.exists(saved["speech"]["eval_jsonl"])
    assert {"pretrain", "sft"} == set(saved["loss_history"]) and all(saved["loss_history"].values())
    for stage in ("tagged_after_pretraining", "tagged_after_sft"):
        assert 0.0 <= saved[stage]["asr"]["wer"] and 0.0 <= saved[stage]["accuracy"] <= 1.0
    model_dir = tmp_path / "model"
    assert {"config.json", "model.safetensors", "modeling_qwen_audio.py", "README.md"} <= set(os.listdir(model_dir))
    out = capsys.readouterr().out
    assert "Sample generations" in out and "Held-out accuracy per task" in out
    # the training curves come from the Trainer's log: a loss every max_steps // LOSS_POINTS steps, to the last step
    for stage, steps in (("pretrain", 120), ("sft", 60)):
        logged = [step for step, _ in demo.report.loss_points(saved["loss_history"][stage])]
        assert logged == list(range(steps // demo.training.LOSS_POINTS, steps + 1, steps // demo.training.LOSS_POINTS))
    report = open(tmp_path / "report.md", encoding="utf-8").read()
    assert "![training curves](training_curves.png)" in report and os.path.getsize(tmp_path / "training_curves.png") > 20000
    assert "![long-form timeline](long_form_timeline.png)" in report
    assert os.path.getsize(tmp_path / "long_form_timeline.png") > 20000 and "timeline" not in saved["long_form"]
    for task, row in saved["tasks"].items():
        assert f"| {task} | accuracy | {row['accuracy']:.3f} |" in report


def test_pretraining_moves_only_the_target_rows_of_the_token_table(processor, tmp_path):
    settings = demo.DemoSettings(text_hidden_size=32, audio_d_model=32, audio_layers=1, pretrain_steps=2, batch_size=4)
    model = demo.build_tiny_model(settings)
    table = model.get_input_embeddings().weight
    before = table.detach().clone()
    examples = synthetic.make_examples(1, seed=0) + demo.speech_tasks(demo.speech.make_utterances(2, seed=0), "srwt")
    targets = demo.training.target_token_ids(processor, demo.pretraining_rows(examples))
    demo.pretrain_stage(model, processor, examples, str(tmp_path), settings)
    after = table.detach()
    others = torch.ones(len(after), dtype=torch.bool)
    others[targets] = False
    # rows without a gradient only shrink by AdamW's decoupled weight decay (one common factor just under 1)
    factor = float(after[others][0, 0] / before[others][0, 0])
    assert 0.99 < factor < 1.0
    torch.testing.assert_close(after[others], before[others] * factor)
    moved = (after[targets] - before[targets] * factor).abs().amax(1) > 1e-4
    assert moved.sum() >= len(targets) // 2
    assert table.requires_grad and not table._backward_hooks  # the mask hook is removed after the stage


def test_timestamp_rows_are_similar_for_near_times():
    vectors = demo.training.timestamp_vectors(64)
    assert vectors.shape == (3001, 64)
    torch.testing.assert_close(vectors.norm(dim=1), torch.full((3001,), demo.training.EMBEDDING_SCALE))
    scores = vectors[150] @ vectors.T  # <|1.50|> against every time
    assert scores.argmax() == 150 and scores[149] > scores[160] > scores[300]
