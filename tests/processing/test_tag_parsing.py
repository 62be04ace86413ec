"""Output parsing: timestamped words, silences, grounding, note analysis, keywords, entities, tag stripping."""

from __future__ import annotations

import pytest

from qwen_audio_hf.core import token_ids as st
from qwen_audio_hf.processing.tags import (
    GroundedPhrase,
    NamedEntity,
    NoteAnalysis,
    TaskPrompt,
    TimedWord,
    TimeSpan,
    convert_timestamps,
    extract_timestamps,
    format_grounding,
    format_named_entities,
    format_note_analysis,
    format_timestamped_words,
    parse_grounding,
    parse_keywords,
    parse_named_entities,
    parse_note_analysis,
    parse_silences,
    parse_timestamped_words,
    strip_tags,
    text_after_prompt,
    timestamp_seconds,
    timestamp_token,
)

WORDS = [
    TimedWord(st.SILENCE, 0.0, 0.54),
    TimedWord("面", 0.54, 0.86),
    TimedWord("条", 0.86, 1.17),
    TimedWord("机", 1.17, 1.46),
    TimedWord(st.SILENCE, 1.46, 2.01),
    TimedWord("hello", 2.5, 2.97),
]


def test_timestamped_words_round_trip():
    text = format_timestamped_words(WORDS)
    # the format of the original SRWT ground truth, then a gap before the last word
    assert text == "<|0.00|><|sil|><|0.54|>面<|0.86|>条<|1.17|>机<|1.46|><|sil|><|2.01|><|2.50|>hello<|2.97|>"
    assert parse_timestamped_words(text, include_silence=True) == WORDS
    assert parse_timestamped_words(text) == [w for w in WORDS if not w.is_silence]
    assert parse_silences(text) == [TimeSpan(0.0, 0.54), TimeSpan(1.46, 2.01)]


def test_timestamped_words_from_a_decoded_srwt_response():
    prompt = TaskPrompt.timestamped_asr("en")
    full = prompt.to_text(audio="a.wav") + " mister<|0.52|> quilter<|1.10|><|endoftext|>"
    response = text_after_prompt(full)
    assert response.startswith("<|0.00|>")
    expected = [TimedWord("mister", 0.0, 0.52), TimedWord("quilter", 0.52, 1.1)]
    assert parse_timestamped_words(response) == expected
    # the model's own output lacks the prompt's <|0.00|>: pass it as start
    generated = " mister<|0.52|> quilter<|1.10|>"
    assert parse_timestamped_words(generated) == expected[1:]
    assert parse_timestamped_words(generated, start=0.0) == expected
    assert sum(w.end - w.start for w in expected) == pytest.approx(1.1)


def test_timestamped_words_strict_and_validation():
    with pytest.raises(ValueError, match="no start timestamp"):
        parse_timestamped_words("untimed<|0.50|>", strict=True)
    with pytest.raises(ValueError, match="no end timestamp"):
        parse_timestamped_words("<|0.00|>a<|0.50|>trailing", strict=True)
    assert parse_timestamped_words("<|0.00|>a<|0.50|>trailing") == [TimedWord("a", 0.0, 0.5)]
    with pytest.raises(ValueError, match="plain text"):
        format_timestamped_words([TimedWord("a<|en|>", 0.0, 1.0)])
    with pytest.raises(ValueError, match="0.00-30.00"):
        format_timestamped_words([TimedWord("late", 29.0, 31.0)])


def test_timestamp_helpers():
    assert timestamp_token(0.52) == "<|0.52|>" and timestamp_seconds("<|0.52|>") == 0.52
    assert all(timestamp_seconds(timestamp_token(i / 100)) == i / 100 for i in range(3001))
    with pytest.raises(ValueError, match="not a timestamp"):
        timestamp_seconds("<|31.00|>")
    text = 'The word "middle classes" starts at <|2.33|> seconds and ends at <|3.26|> seconds.'
    assert extract_timestamps(text) == [2.33, 3.26]
    assert convert_timestamps(text) == 'The word "middle classes" starts at 2.33 seconds and ends at 3.26 seconds.'
    assert convert_timestamps("<|1.50|>-<|2.00|>", "{:.1f}s") == "1.5s-2.0s"


def test_grounding_round_trip():
    phrases = [
        GroundedPhrase("middle classes", (TimeSpan(2.33, 3.26),)),
        GroundedPhrase("gospel", (TimeSpan(4.0, 4.5), TimeSpan(7.25, 7.9))),
    ]
    text = format_grounding(phrases)
    assert text == (
        "<|startofword|>middle classes<|endofword|><|2.33|><|3.26|>"
        "<|startofword|>gospel<|endofword|><|4.00|><|4.50|><|delim|><|7.25|><|7.90|>"
    )
    assert parse_grounding(text) == phrases
    # phrase given in the prompt: the output holds only spans; an unpaired last timestamp is dropped
    assert parse_grounding("<|1.00|><|2.00|><|delim|><|3.00|><|4.00|><|5.00|><|endoftext|>") == [
        GroundedPhrase("", (TimeSpan(1.0, 2.0), TimeSpan(3.0, 4.0)))
    ]
    assert parse_grounding("no timestamps") == []


def test_note_analysis_round_trip():
    note = NoteAnalysis(pitch=60, velocity=100, instrument="keyboard_acoustic", sonic=("bright", "percussive"))
    text = format_note_analysis(note)
    assert text.startswith("<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>")
    assert parse_note_analysis(text) == note
    assert parse_note_analysis(text + "<|endoftext|><|pitch|><|midi_pitch_1|>") == note
    assert parse_note_analysis("<|velocity|><|midi_velocity_0|>") == NoteAnalysis(velocity=0)
    assert parse_note_analysis("nothing") == NoteAnalysis()
    assert format_note_analysis(NoteAnalysis(pitch=127)) == "<|pitch|><|midi_pitch_127|>"
    with pytest.raises(ValueError, match="0..127"):
        format_note_analysis(NoteAnalysis(pitch=128))


def test_keywords():
    assert parse_keywords("neutral<|endoftext|>") == ["neutral"]
    assert parse_keywords(" dog bark, speech ,,music<|endoftext|>x, y") == ["dog bark", "speech", "music"]
    assert parse_keywords("<|en|>laughter; sigh", separator=";") == ["laughter", "sigh"]


def test_named_entities_round_trip():
    entities = [NamedEntity("shelley's", "person"), NamedEntity("london"), NamedEntity("monday", "date")]
    text = format_named_entities(entities)
    assert parse_named_entities(text) == entities
    v0, v1, t0, t1 = st.ENTITY_TAGS
    type_first = f"{t0}person{t1}{v0}shelley's{v1} and {v0}paris{v1}{t0}city{t1}"
    assert parse_named_entities(type_first) == [NamedEntity("shelley's", "person"), NamedEntity("paris", "city")]


# --- stripping ------------------------------------------------------------------------------------
def test_strip_and_keep_tags():
    full = (
        "<audio>" + st.AUDIO_PAD * 3 + "</audio>"
        + TaskPrompt.timestamped_asr("en").to_text()
        + "hello<|0.50|> world<|1.00|><|endoftext|>"
    )
    assert strip_tags(full) == "hello world"
    assert strip_tags(full, keep=st.TIMESTAMP_TOKENS) == "<|0.00|>hello<|0.50|> world<|1.00|>"
    assert strip_tags(full, replacement=" ").split() == ["hello", "world"]
    assert strip_tags("<audio>a.wav</audio>x", keep=[st.AUDIO_START, st.AUDIO_END]) == "<audio>a.wav</audio>x"
    # tag look-alikes that are not special tokens are plain text
    assert strip_tags("<|startoftranscription|>a<|midi_pitch_128|>") == "<|startoftranscription|>a<|midi_pitch_128|>"
