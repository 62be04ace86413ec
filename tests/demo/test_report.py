"""The demo's report: word alignment of truth and transcript, the two pictures and report.md, from real runs."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from qwen_audio_hf import demo
from qwen_audio_hf.demo import long_form as stage
from qwen_audio_hf.demo import report, speech, synthetic
from qwen_audio_hf.evaluation.metrics import error_rate_counts, word_error_rate
from qwen_audio_hf.long_form import LongFormDecoder
from qwen_audio_hf.long_form.decoding import build_task
from qwen_audio_hf.long_form.planning import plan_windows
from qwen_audio_hf.modeling.generation import set_generation_defaults

PNG = b"\x89PNG\r\n\x1a\n"
TRUTH = [{"start_s": 1.0, "end_s": 2.5, "text": "one two three"}, {"start_s": 4.0, "end_s": 5.0, "text": "Stop go"},
         {"start_s": 7.0, "end_s": 8.0, "text": "left"}]


# ------------------------------------------------------------------------------------------- alignment
def test_alignment_marks_wrong_missing_and_extra_words_at_their_times():
    words = [("one", 1.1), ("too", 1.6), ("three", 2.0), ("stop", 4.4), ("cat", 4.6), ("go", 4.8)]
    transcript = {"windows": [{"start_s": 0.0, "end_s": 6.0, "text": "one too three stop cat go"},
                              {"start_s": 6.0, "end_s": 9.0, "text": ""}],
                  "words": [{"text": w, "start_s": t, "end_s": t + 0.2} for w, t in words]}
    aligned = report.align_transcript(TRUTH, transcript)
    first, second, third = aligned["utterances"]
    assert [w["status"] for w in first["words"]] == ["equal", "substitute", "equal"]
    assert [w["status"] for w in second["words"]] == ["equal", "equal"]  # case is not an error (as in the WER)
    assert [w["status"] for w in third["words"]] == ["delete"]
    assert [w["status"] for w in aligned["words"]] == ["equal", "substitute", "equal", "equal", "insert", "equal"]
    # starts: the transcript word the first transcribed word aligns to; none for a missed utterance
    assert (first["hypothesis_start_s"], second["hypothesis_start_s"], third["hypothesis_start_s"]) == (1.1, 4.4, None)
    assert [w["time_s"] for w in first["words"]] == [1.25, 1.75, 2.25]  # laid evenly over the utterance
    timed_truth = [dict(TRUTH[0], starts=[1.0, 1.2, 2.0]), *TRUTH[1:]]  # true word starts: drawn in each word's middle
    assert [w["time_s"] for w in report.align_transcript(timed_truth, transcript)["utterances"][0]["words"]] == [
        1.1, 1.6, 2.25]
    # the marks are the WER's errors: 1 substitution + 1 deletion + 1 insertion over 6 reference words
    marked = sum(w["status"] != "equal" for u in aligned["utterances"] for w in u["words"])
    marked += sum(w["status"] == "insert" for w in aligned["words"])
    reference, hypothesis = " ".join(u["text"] for u in TRUTH), " ".join(w for w, _ in words)
    assert marked == error_rate_counts([reference], [hypothesis])[0] == 3


def test_alignment_without_word_timestamps_lays_window_words_over_their_window():
    transcript = {"windows": [{"start_s": 0.0, "end_s": 3.0, "text": "one two three"},
                              {"start_s": 3.0, "end_s": 6.0, "text": "stop"}, {"start_s": 6.0, "end_s": 9.0, "text": ""}]}
    aligned = report.align_transcript(TRUTH, transcript)
    assert [(w["text"], w["status"]) for w in aligned["words"]] == [
        ("one", "equal"), ("two", "equal"), ("three", "equal"), ("stop", "equal")]
    assert [w["time_s"] for w in aligned["words"]] == [0.5, 1.5, 2.5, 4.5]
    assert all(u["hypothesis_start_s"] is None for u in aligned["utterances"])  # no times to compare
    assert [w["status"] for w in aligned["utterances"][1]["words"]] == ["equal", "delete"]


def test_task_rows_and_loss_points_read_the_metrics_schema():
    rows = report.task_rows({"beep_counting": {"accuracy": 0.9, "audio_zeroed_accuracy": 0.2, "chance": 0.2},
                             "srwt": {"wer": 0.1, "audio_zeroed_wer": 0.9, "median_start_error_s": 0.05}})
    assert [(r["task"], r["unit"], r["value"], r["audio_zeroed"], r["chance"]) for r in rows] == [
        ("beep_counting", "accuracy", 0.9, 0.2, 0.2), ("srwt", "wer", 0.1, 0.9, None), ("srwt", "seconds", 0.05, None, None)]
    speech = {"tasks": {}, "speech": {"asr_wer": 0.08, "asr_audio_zeroed_wer": 0.97, "srwt_median_word_start_error_s": 0.04},
              "speech_long_form": {"wer": 0.12, "median_start_error_s": 0.2}}
    assert [(r["task"], r["unit"], r["value"], r["audio_zeroed"]) for r in report.metric_rows(speech)] == [
        ("asr (tagged prompt)", "wer", 0.08, 0.97), ("srwt (tagged prompt)", "seconds", 0.04, None),
        ("long recording", "wer", 0.12, None), ("long recording", "seconds", 0.2, None)]
    assert report.extra_curves({"asr_wer_curve": {"clips": 8, "points": [{"step": 10, "asr_wer": 0.9}]}}) == {
        "pretraining: ASR WER on 8 held-out clips": ("word error rate", [(10, 0.9)])}
    assert report.extra_curves({}) == {}
    history = [{"loss": 2.0, "step": 5}, {"loss": 1.0, "step": 10}, {"train_runtime": 3.0, "step": 10}]
    assert report.loss_points(history) == [[5, 2.0], [10, 1.0]]


def test_report_module_does_not_import_matplotlib_until_it_draws(tmp_path):
    code = ("import sys, qwen_audio_hf.demo, qwen_audio_hf.demo.report; "
            "assert 'matplotlib' not in sys.modules, 'imported early'; "
            "qwen_audio_hf.demo.report.write_report(sys.argv[1], {'tasks': {}}); "
            "assert 'matplotlib.backends.backend_agg' in sys.modules and 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)


# ------------------------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def real_run(processor, tmp_path_factory):
    """A few steps of the demo's two training stages on a small model, then its held-out evaluation and a
    long-form run of the package's decoder (word-timestamp prompt) over a recording of the demo's clips."""
    out = tmp_path_factory.mktemp("demo_report")
    settings = demo.DemoSettings(text_hidden_size=32, audio_d_model=32, pretrain_steps=4, sft_steps=3, batch_size=4)
    model = demo.build_tiny_model(settings)
    set_generation_defaults(model, processor.tokenizer)
    pre = demo.pretrain_stage(model, processor, synthetic.make_examples(2, seed=0), str(out / "pretrain"), settings)
    sft = demo.sft_stage(pre.model, processor, synthetic.make_examples(1, seed=1), str(out / "sft"), settings)
    model = sft.model.eval()
    held_out = synthetic.make_examples(1, seed=2)
    chat = demo.evaluate(model, processor, held_out, "chat")
    audio, placed = stage.build_recording(synthetic.make_examples(12, seed=3), seed=0, min_seconds=65.0)
    truth = [{"start_s": s / stage.SAMPLE_RATE, "end_s": (s + len(e["audio"])) / stage.SAMPLE_RATE,
              "text": e["task"].replace("_", " ")} for e, s in placed]
    decoder = LongFormDecoder(model, processor, chunk_length_s=stage.CHUNK_LENGTH_S, batch_size=16, max_new_tokens=3)
    result = decoder(audio, build_task("asr", timestamps=True), sampling_rate=stage.SAMPLE_RATE)
    metrics = {
        "tasks": {task: {"accuracy": chat["accuracy"][task], "audio_zeroed_accuracy": chat["audio_zeroed_accuracy"][task],
                         "chance": synthetic.chance_level(task)} for task in synthetic.TASKS},
        "loss_history": {"pretrain": pre.log_history, "sft": sft.log_history},
        "long_form": {"wer": word_error_rate([" ".join(t["text"] for t in truth)], [result.text]),
                      "windows": len(result.windows), "recording_s": round(len(audio) / stage.SAMPLE_RATE, 2)},
        "settings": {"seed": settings.seed, "pretrain_steps": settings.pretrain_steps},
        "parameters": sum(p.numel() for p in model.parameters()), "seconds": 12.5,
    }
    recording = {"waveform": audio, "sample_rate": stage.SAMPLE_RATE, "truth": truth,
                 "transcript": result.to_dict(timestamps=True), "name": "recording.wav",
                 "forced": [w.forced for w in plan_windows(audio, stage.CHUNK_LENGTH_S)]}
    return out, metrics, recording, report.write_report(str(out), metrics, recording)


@pytest.fixture(scope="module")
def speech_run(real_run, processor):
    """The demo's speech long-form stage (eSpeak recording of held-out voices, transcribed with word timestamps)
    on the small model, and the report written with it in metrics.json."""
    out, metrics, _, _ = real_run
    model = demo.build_tiny_model(demo.DemoSettings(text_hidden_size=32, audio_d_model=32)).eval()
    set_generation_defaults(model, processor.tokenizer)
    folder = out / "speech"
    folder.mkdir()
    long_run = stage.run_speech_long_form(model, processor, speech.make_utterances(12, 5, "held_out"), seed=0,
                                          output_dir=str(folder), min_seconds=25.0, min_utterances=8, max_new_tokens=4)
    metrics = dict(metrics, speech_long_form=long_run)
    return folder, metrics, report.write_report(str(folder), metrics)


def _image(path):
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG
    image = Image.open(path)
    image.load()
    return image


def test_pictures_are_drawn_from_the_real_runs(real_run):
    out, metrics, recording, paths = real_run
    assert set(paths) == {"training_curves", "timeline", "report"}
    assert all(os.path.isfile(path) and os.path.dirname(path) == str(out) for path in paths.values())
    curves, timeline = _image(paths["training_curves"]), _image(paths["timeline"])
    assert curves.width >= 1000 and curves.height >= 700
    # the 67 s recording in strips of <= 30 s: three strips, each about 2.6 inches high
    assert timeline.width >= 1800 and timeline.height >= 3 * 2.6 * 100
    for image in (curves, timeline):  # a drawn picture, not a blank canvas
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert len(colours) > 50 and max(count for count, _ in colours) < 0.95 * image.width * image.height
    assert [len(report.loss_points(h)) for h in metrics["loss_history"].values()] == [4, 3]  # every step logged


def test_a_longer_recording_gets_more_strips(real_run, tmp_path):
    _, metrics, recording, paths = real_run
    doubled = dict(recording, waveform=np.concatenate([recording["waveform"]] * 2))
    taller = _image(report.write_report(str(tmp_path), metrics, doubled)["timeline"])
    assert taller.height > _image(paths["timeline"]).height * 1.5


def test_report_embeds_the_pictures_and_the_metrics(real_run):
    out, metrics, _, paths = real_run
    text = open(paths["report"], encoding="utf-8").read()
    assert f"![training curves]({report.TRAINING_CURVES})" in text
    assert f"![long-form timeline]({report.TIMELINE})" in text
    for name in (report.TRAINING_CURVES, report.TIMELINE):
        assert os.path.isfile(out / name)
    for task, row in metrics["tasks"].items():
        assert f"| {task} | accuracy | {row['accuracy']:.3f} | {row['audio_zeroed_accuracy']:.3f} | {row['chance']:.3f} |" in text
    assert f"| wer | {metrics['long_form']['wer']:.3f} |" in text
    assert f"| windows | {metrics['long_form']['windows']} |" in text
    assert "**12.5 s**" in text and f"{metrics['parameters']:,} parameters" in text


def test_report_without_a_recording_has_no_timeline(real_run, tmp_path):
    _, metrics, _, _ = real_run
    paths = report.write_report(str(tmp_path), metrics)
    assert set(paths) == {"training_curves", "report"} and not os.path.exists(tmp_path / report.TIMELINE)
    assert report.TIMELINE not in open(paths["report"], encoding="utf-8").read()


def test_report_of_the_speech_recording(speech_run):
    folder, metrics, paths = speech_run
    long_run = metrics["speech_long_form"]
    assert set(paths) == {"training_curves", "timeline", "report"}
    timeline = _image(paths["timeline"])  # 25+ s of speech: one strip of <= 30 s or two
    assert timeline.width >= 1800 and 2.6 * 100 <= timeline.height <= (2 * 2.6 + 1.6) * 110 + 1
    text = open(paths["report"], encoding="utf-8").read()
    assert "## The long recording" in text and f"![long-form timeline]({report.TIMELINE})" in text
    assert f"| WER | {long_run['wer']:.3f} |" in text and f"| utterances | {long_run['utterances']} |" in text
    assert long_run["command"] in text and f"| long recording | wer | {long_run['wer']:.3f} |" in text
    assert long_run["utterances"] >= 8 and os.path.isfile(long_run["audio"])
