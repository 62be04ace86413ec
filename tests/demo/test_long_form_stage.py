"""The demo's long-form stage: the recording, where the segmenter cuts it, and the metrics it reports."""

import numpy as np

from qwen_audio_hf.demo import long_form as stage
from qwen_audio_hf.long_form.windows import active_region, segment
from qwen_audio_hf import demo
from qwen_audio_hf.demo import synthetic
from qwen_audio_hf.modeling.generation import set_generation_defaults


def test_recording_is_two_minutes_of_clips_and_random_silences():
    examples = synthetic.make_examples(20, seed=2)
    audio, placed = stage.build_recording(examples, seed=0)
    assert len(audio) >= 120 * stage.SAMPLE_RATE and audio.dtype == np.float32
    starts = [start for _, start in placed]
    gaps = np.diff([0] + starts) - np.array([0] + [len(e["audio"]) for e, _ in placed[:-1]])
    assert gaps.min() >= 1.0 * stage.SAMPLE_RATE and gaps.max() <= 2.0 * stage.SAMPLE_RATE and len(set(gaps)) > 10
    for example, start in placed:
        np.testing.assert_array_equal(audio[start : start + len(example["audio"])], example["audio"])


def test_segmenter_cuts_only_in_the_silences_and_trims_to_each_clip():
    audio, placed = stage.build_recording(synthetic.make_examples(20, seed=2), seed=0)
    windows = segment(audio, stage.CHUNK_LENGTH_S)
    clips = [(start, start + len(example["audio"])) for example, start in placed]
    assert not any(w.forced for w in windows)
    assert not any(a < w.end < b for w in windows for a, b in clips)  # no cut inside a clip
    regions = [active_region(audio, w.start, w.end) for w in windows]
    assert sorted(r for r in regions if r is not None) == clips  # each clip is exactly one window's sound


def test_stage_reports_the_metrics_keys(processor):
    settings = demo.DemoSettings(text_hidden_size=32, audio_d_model=32)
    model = demo.build_tiny_model(settings).eval()
    set_generation_defaults(model, processor.tokenizer)
    examples = synthetic.make_examples(2, seed=2)
    metrics = stage.run_long_form_stage(
        model, processor, examples, seed=0, min_seconds=10.0, max_new_tokens=2,
        prompt_for=lambda e: demo.prompt_text(e, "tagged", processor), is_correct=demo.is_correct)
    assert {"clips", "recovered_fraction", "mean_abs_onset_error_s"} <= set(metrics)
    assert metrics["clips"] >= 4 and 0.0 <= metrics["recovered_fraction"] <= 1.0
    assert metrics["cuts_in_silence_fraction"] == 1.0 and metrics["forced_cuts"] == 0
    # the report's timeline data: the recording, one truth entry per clip at its place, the decoder's windows
    timeline = metrics["timeline"]
    audio, placed = stage.build_recording(examples, seed=0, min_seconds=10.0)
    np.testing.assert_array_equal(timeline["waveform"], audio)
    assert [(t["start_s"], t["text"]) for t in timeline["truth"]] == [(s / stage.SAMPLE_RATE, e["label"]) for e, s in placed]
    windows = timeline["transcript"]["windows"]
    assert len(windows) == len(timeline["forced"]) == metrics["windows"] and windows[-1]["end_s"] == len(audio) / 16000
