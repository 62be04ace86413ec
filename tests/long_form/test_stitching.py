"""Stitching window outputs: spacing per language, absolute timestamps, seams of overlapping windows."""

from qwen_audio_hf.long_form.stitching import WindowResult, drop_repeated_prefix, join_texts, stitch
from qwen_audio_hf.processing.tags import TimedWord, TimeSpan


def test_join_texts_spaces_by_language():
    assert join_texts(["Hello there.", "", "  General Kenobi. "], "en") == "Hello there. General Kenobi."
    assert join_texts(["你好。", "世界"], "zh") == "你好。世界"
    assert join_texts(["こんにちは", "世界"], "ja") == "こんにちは世界"
    assert join_texts(["你好", "世界"], None) == "你好世界"  # unknown language: CJK on both sides of the seam
    assert join_texts(["你好", "world"], None) == "你好 world"
    assert join_texts([], "en") == ""


def test_word_timestamps_grounding_and_silences_are_shifted_to_absolute_time():
    windows = [
        WindowResult(0.0, 28.5, "hello world", "hello<|0.52|> world<|1.00|><|sil|><|1.40|>", offset_s=2.0),
        WindowResult(28.5, 41.0, "again", "again<|0.30|>", offset_s=28.5),
    ]
    result = stitch("a.wav", 41.0, windows, join=True, language="en", timestamp_start=0.0)
    assert result.text == "hello world again"
    assert result.words == [TimedWord("hello", 2.0, 2.52), TimedWord("world", 2.52, 3.0),
                            TimedWord("again", 28.5, 28.8)]
    assert result.silences == [TimeSpan(3.0, 3.4)]
    grounded = stitch("b.wav", 40.0, [WindowResult(30.0, 40.0, "", "<|0.10|><|0.30|>", offset_s=31.25)],
                      join=False)
    assert [s for p in grounded.grounding for s in p.spans] == [TimeSpan(31.35, 31.55)]
    assert grounded.words == []


def test_per_window_answers_are_kept_apart():
    windows = [WindowResult(0, 30, "a dog barks"), WindowResult(30, 45, ""), WindowResult(45, 60, "rain falls")]
    result = stitch("c.wav", 60.0, windows, join=False)
    assert result.text == "a dog barks\nrain falls" and [w.text for w in result.windows] == ["a dog barks", "", "rain falls"]


def test_overlap_removes_words_repeated_at_seams():
    assert drop_repeated_prefix(["the", "cat", "sat", "on"], ["Sat", "on,", "the", "mat"]) == 2
    assert drop_repeated_prefix(["a", "b"], ["c", "d"]) == 0
    windows = [WindowResult(0, 10, "the cat sat on"), WindowResult(10, 20, "sat on the mat")]
    assert stitch("d", 20.0, windows, join=True, language="en", overlap=True).text == "the cat sat on the mat"
    # with word timestamps a word belongs to the window that holds its midpoint
    timed = [WindowResult(0, 10, "", "one<|4.00|> two<|9.90|> three<|10.60|>", offset_s=0.0),
             WindowResult(10, 20, "", "two<|0.30|> three<|1.00|> four<|3.00|>", offset_s=9.5)]
    result = stitch("e", 20.0, timed, join=True, language="en", timestamp_start=0.0, overlap=True)
    assert [w.text for w in result.words] == ["one", "two", "three", "four"] and result.text == "one two three four"
