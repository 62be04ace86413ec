"""LongFormDecoder: windows tile the recording, timestamps come out absolute, batching changes nothing."""

import numpy as np
import pytest

from qwen_audio_hf.long_form import LongFormDecoder, LongFormError, LongFormTask, build_task
from qwen_audio_hf.long_form.windows import active_region, segment
from qwen_audio_hf.processing.tags import TaskPrompt

from ..tiny_models import ForceResponse
from .signals import SR, recording

SOUNDS = [(0.5, 3.0), (4.2, 6.8), (7.5, 7.9), (8.6, 12.3), (13.0, 17.5)]


def _forced(processor, text):
    ids = processor.tokenizer(text + "<|endoftext|>", add_special_tokens=False)["input_ids"]
    assert len(set(ids)) == len(ids)
    return ForceResponse(ids)


def test_timestamped_asr_gives_absolute_monotonic_words_inside_the_recording(model, processor):
    audio = recording(SOUNDS, 19.0)
    response = "hello<|0.40|> world<|1.10|><|sil|><|1.50|>"
    decoder = LongFormDecoder(model, processor, chunk_length_s=5.0, batch_size=3, max_new_tokens=8,
                              generate_kwargs={"logits_processor": [_forced(processor, response)]})
    result = decoder(audio, build_task("asr", timestamps=True), sampling_rate=SR)
    windows = segment(audio, 5.0)
    assert [(w.start_s, w.end_s) for w in result.windows] == [(w.start_s, w.end_s) for w in windows]
    assert result.windows[0].start_s == 0.0 and result.windows[-1].end_s == pytest.approx(19.0)
    starts = []
    for window, out in zip(windows, result.windows):
        region = active_region(audio, window.start, window.end)
        if region is None:  # the last window (17.57-19 s) holds only silence: not decoded
            assert out.text == "" and not out.decoded
            continue
        assert out.offset_s == region[0] / SR and out.text == "hello world"
        starts.append(region[0] / SR)
    assert len(starts) == len(windows) - 1
    expected = [(s + a, s + b) for s in starts for a, b in ((0.0, 0.4), (0.4, 1.1))]
    assert [t for w in result.words for t in (w.start, w.end)] == pytest.approx([t for p in expected for t in p])
    times = [t for w in result.words for t in (w.start, w.end)]
    assert times == sorted(times) and 0.0 <= times[0] and times[-1] <= 19.0
    assert [t for s in result.silences for t in (s.start, s.end)] == pytest.approx([t for s in starts for t in (s + 1.1, s + 1.5)])
    assert result.text == " ".join(["hello world"] * len(starts))


def test_batched_windows_equal_windows_decoded_alone(model, processor):
    audio = recording(SOUNDS, 19.0, seed=1)
    task = build_task("asr")
    decoder = LongFormDecoder(model, processor, chunk_length_s=5.0, batch_size=4, max_new_tokens=6)
    clips = [audio[int(a * SR) : int(b * SR)] for a, b in SOUNDS[:3]]  # 2.5 s, 2.6 s, 0.4 s
    assert decoder.decode_clips(clips, task) == [decoder.decode_clips([clip], task)[0] for clip in clips]
    beams = LongFormDecoder(model, processor, batch_size=2, max_new_tokens=6, generate_kwargs={"num_beams": 2})
    assert beams.decode_clips(clips[1:], task) == [beams.decode_clips([c], task)[0] for c in clips[1:]]
    one_by_one = LongFormDecoder(model, processor, chunk_length_s=5.0, batch_size=1, max_new_tokens=6)
    assert decoder(audio[: 9 * SR], task, sampling_rate=SR) == one_by_one(audio[: 9 * SR], task, sampling_rate=SR)


def test_silence_and_empty_audio_give_empty_results(model, processor):
    decoder = LongFormDecoder(model, processor, chunk_length_s=5.0, max_new_tokens=4)
    silent = decoder(np.zeros(12 * SR, np.float32), build_task("asr"), sampling_rate=SR)
    assert silent.text == "" and len(silent.windows) == 3 and all(w.text == "" for w in silent.windows)
    assert silent.windows[-1].end_s == 12.0
    empty = decoder(np.zeros(0, np.float32), build_task("asr"), sampling_rate=SR)
    assert empty.text == "" and empty.windows == [] and empty.duration_s == 0.0
    tiny = decoder(recording([(0.0, 0.01)], 0.01), build_task("asr"), sampling_rate=SR)  # 10 ms: padded to 30 ms
    assert len(tiny.windows) == 1 and tiny.windows[0].decoded


def test_many_recordings_share_batches_and_a_bad_one_does_not_stop_the_rest(model, processor, tmp_path):
    import soundfile

    first, second = recording(SOUNDS, 19.0, seed=2), recording([(1.0, 2.0)], 3.0, seed=3)
    soundfile.write(tmp_path / "second.flac", second, 22050)  # read as 22.05 kHz: 48000 / 22050 s
    (tmp_path / "broken.wav").write_bytes(b"RIFF....garbage")
    decoder = LongFormDecoder(model, processor, chunk_length_s=5.0, batch_size=4, max_new_tokens=4)
    sources = [first, str(tmp_path / "broken.wav"), str(tmp_path / "second.flac")]
    results = list(decoder.run(sources, build_task("asr"), sampling_rate=[SR, None, None]))
    assert isinstance(results[1], LongFormError) and "broken.wav" in str(results[1])
    assert results[0] == decoder(first, build_task("asr"), sampling_rate=SR)
    assert results[2].audio.endswith("second.flac") and results[2].duration_s == pytest.approx(48000 / 22050, abs=1e-4)


def test_tasks_and_prompts():
    assert build_task("asr").prompt_text.endswith("<|notimestamps|><|wo_itn|>") and build_task("asr").join
    srwt = build_task("asr", "zh", timestamps=True)
    assert srwt.timestamp_start == 0.0 and srwt.language == "zh"
    s2tt = build_task("s2tt", "en", "zh")
    assert s2tt.join and s2tt.language == "zh" and "<|translate|>" in s2tt.prompt_text
    caption = build_task("caption")
    assert not caption.join and "<|caption|>" in caption.prompt_text
    with pytest.raises(ValueError, match="target"):
        build_task("s2tt")
    with pytest.raises(ValueError, match="--timestamps"):
        build_task("caption", timestamps=True)
    custom = LongFormTask.from_prompt(TaskPrompt.scene())
    assert custom.prompt_text.startswith("<audio></audio><|startofanalysis|>") and not custom.join
    assert LongFormTask.from_prompt("<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>").join
    with pytest.raises(ValueError, match="exactly one"):
        LongFormTask.from_prompt("<audio></audio><audio></audio>hi")


def test_overlap_decodes_across_seams_within_the_cap_and_keeps_each_word_once(model, processor):
    audio = recording([(0.0, 19.0)], 19.0, seed=4)  # sound everywhere: forced cuts, as when nobody pauses
    response = "a<|0.40|> b<|5.00|>"  # "b" ends past any window: only midpoints decide which window keeps it
    decoder = LongFormDecoder(model, processor, chunk_length_s=5.0, overlap_s=0.5, batch_size=4, max_new_tokens=6,
                              generate_kwargs={"logits_processor": [_forced(processor, response)]})
    result = decoder(audio, build_task("asr", timestamps=True), sampling_rate=SR)
    assert [(w.start_s, w.end_s) for w in result.windows] == [(w.start_s, w.end_s) for w in segment(audio, 4.0)]
    for index, window in enumerate(result.windows):
        assert window.offset_s == max(0.0, window.start_s - 0.5)  # decoded audio starts 0.5 s before the window
        assert min(result.duration_s, window.end_s + 0.5) - window.offset_s <= 5.0  # still within the cap
    mids = [(w.start + w.end) / 2 for w in result.words]
    assert mids == sorted(mids) and len(set(mids)) == len(mids)
    for word in result.words:  # each kept word lies in the window that holds its midpoint
        assert any(w.start_s <= (word.start + word.end) / 2 < w.end_s for w in result.windows)
