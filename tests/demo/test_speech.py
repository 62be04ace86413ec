"""The demo's spoken words: eSpeak NG synthesis (deterministic, voices held out), word times, speech tasks."""

import numpy as np
import pytest

from qwen_audio_hf.demo import long_form as stage
from qwen_audio_hf.demo import speech, tasks


def _rms(audio, start, stop):
    piece = audio[int(start * speech.SAMPLE_RATE) : int(stop * speech.SAMPLE_RATE)]
    return float(np.sqrt(np.mean(piece**2)))


def test_synthesis_is_deterministic_for_a_seed_and_varies_with_it():
    first = speech.make_utterances(6, seed=3)
    again = speech.make_utterances(6, seed=3)
    other = speech.make_utterances(6, seed=4)
    assert all(np.array_equal(a["audio"], b["audio"]) and a["starts"] == b["starts"] for a, b in zip(first, again))
    assert [u["label"] for u in first] != [u["label"] for u in other]
    for utterance in first:
        assert utterance["audio"].dtype == np.float32 and np.abs(utterance["audio"]).max() < 1.0
        assert 1 <= len(utterance["words"]) <= speech.MAX_WORDS and set(utterance["words"]) <= set(speech.VOCABULARY)
        assert utterance["label"] == " ".join(utterance["words"])


def test_engine_state_does_not_leak_between_batches():
    """eSpeak NG carries state from one synthesis to the next; each batch starts from the same state."""
    request = [("three seven", "en-us+m3", 170, 50, 50)]
    speaker = speech.Speaker.get()
    (a, words_a), = speaker.say(request)
    speaker.say([("music door", "en+f2", 190, 40, 60)] * 3)
    (b, words_b), = speaker.say(request)
    assert np.array_equal(a, b) and words_a == words_b and len(words_a) == 2


def test_held_out_voices_are_disjoint_from_training_voices():
    train, held_out = set(speech.voices("train")), set(speech.voices("held_out"))
    assert train and held_out and not train & held_out
    assert {u["voice"] for u in speech.make_utterances(20, seed=0, split="held_out")} <= held_out
    assert {u["voice"] for u in speech.make_utterances(20, seed=0, split="train")} <= train
    with pytest.raises(ValueError, match="split"):
        speech.voices("dev")
    with pytest.raises(ValueError, match="VOCABULARY"):
        speech.make_utterances(2, seed=0, vocabulary=["hello"])


def test_word_times_come_from_the_engine_and_match_the_audio():
    for utterance in speech.make_utterances(10, seed=1):
        starts, ends, audio = utterance["starts"], utterance["ends"], utterance["audio"]
        assert starts == sorted(starts) and ends[:-1] == starts[1:] and ends[-1] > starts[-1]
        assert speech.LEAD_IN_S[0] - 0.01 <= starts[0] <= speech.LEAD_IN_S[1] + 0.01
        # before the first word only the added noise (>= 15 dB under the speech); speech right after it
        assert _rms(audio, 0, starts[0] - 0.02) < 0.3 * _rms(audio, starts[0], ends[-1])
        assert len(audio) / speech.SAMPLE_RATE == pytest.approx(ends[-1] + speech.TAIL_S, abs=0.01)


def test_speech_targets_in_the_tag_grammar_and_their_scoring():
    utterance = speech.make_utterances(1, seed=2)[0]
    asr, srwt = tasks.speech_tasks([utterance], "asr")[0], tasks.speech_tasks([utterance], "srwt")[0]
    assert tasks.tagged_target(asr) == "".join(f" {w}" for w in utterance["words"])
    assert tasks.prompt_text(srwt, "tagged", None).endswith("<|timestamps|><|0.00|>")
    target = tasks.tagged_target(srwt)
    assert target.startswith(f"<|sil|><|{utterance['starts'][0]:.2f}|>")
    assert tasks.word_start_errors(srwt, target + "<|endoftext|>") == [0.0] * len(utterance["words"])
    late = target.replace(f"<|{utterance['starts'][0]:.2f}|>", f"<|{utterance['starts'][0] + 0.25:.2f}|>", 1)
    assert tasks.word_start_errors(srwt, late)[0] == pytest.approx(0.25, abs=0.006)
    assert tasks.is_correct(asr, tasks.tagged_target(asr) + "<|endoftext|>") and tasks.is_correct(srwt, target)
    digits = speech.make_utterances(3, seed=2, vocabulary=speech.DIGITS)
    numbers = tasks.speech_tasks(digits, "spoken_number")
    assert all(n["label"] == "".join(str(speech.DIGITS.index(w)) for w in n["words"]) for n in numbers)
    assert [c["label"] for c in tasks.speech_tasks(digits, "word_count")] == [str(len(d["words"])) for d in digits]


def test_long_recording_holds_the_utterances_at_their_truth_times():
    utterances = speech.make_utterances(80, seed=5, split="held_out")
    audio, truth = stage.build_speech_recording(utterances, seed=0)
    assert len(audio) >= 180 * speech.SAMPLE_RATE and len(truth) >= 40
    assert 0 < sum(item["noise_before"] for item in truth) < len(truth)
    for item, utterance in zip(truth, utterances):
        at = item["clip_start_sample"]
        assert item["word_starts_s"] == pytest.approx([at / speech.SAMPLE_RATE + t for t in utterance["starts"]], abs=1e-3)
        np.testing.assert_array_equal(audio[at : at + len(utterance["audio"])], utterance["audio"])
        assert item["text"] == utterance["label"]
