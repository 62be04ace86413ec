"""Tests for the tag grammar: prompts from typed fields, output parsers, tag stripping."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from qwen_audio_hf.processing import special_tokens as st
from qwen_audio_hf.processing.tags import (
    LANGUAGE_CODES,
    OUTPUT_INSTRUCTIONS,
    TASKS,
    GroundedPhrase,
    NamedEntity,
    NoteAnalysis,
    TaskPrompt,
    TimedWord,
    TimeSpan,
    check_tags,
    convert_timestamps,
    extract_timestamps,
    find_task_prompt,
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
    response_text,
    strip_tags,
    text_after_prompt,
    timestamp_seconds,
    timestamp_token,
    unknown_tags,
)

# The prompts of the original evaluation scripts (eval_audio/evaluate_*.py), filled in.
EVAL_PROMPTS = [
    (TaskPrompt.asr("en"), "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"),
    (TaskPrompt.asr("zh"), "<|startoftranscript|><|zh|><|transcribe|><|zh|><|notimestamps|><|wo_itn|>"),
    (TaskPrompt.translation("en", "zh"), "<|startoftranscript|><|en|><|translate|><|zh|><|notimestamps|><|itn|>"),
    (TaskPrompt.translation("de", "en"), "<|startoftranscript|><|de|><|translate|><|en|><|notimestamps|><|itn|>"),
    (TaskPrompt.timestamped_asr("zh"), "<|startoftranscript|><|zh|><|transcribe|><|zh|><|timestamps|><|0.00|>"),
    (
        TaskPrompt.caption("clotho"),
        "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>",
    ),
    (
        TaskPrompt.caption("audiocaps"),
        "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_audiocaps|>",
    ),
    (TaskPrompt.caption("plain"), "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_plain|>"),
    (TaskPrompt.scene(), "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>"),
    (
        TaskPrompt.emotion(),
        "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|emotion_recognition|>",
    ),
    (
        TaskPrompt.vocal_sound(),
        "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|vocal_classification|>",
    ),
    (
        TaskPrompt.note_analysis(),
        "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|note_analysis|>",
    ),
    (
        TaskPrompt.aqa("Is there a bird chirping?"),
        "<|startofanalysis|><|en|><|question|>Is there a bird chirping?<|answer|>",
    ),
]
IDS = [text[:60] for _, text in EVAL_PROMPTS]


@pytest.mark.parametrize(("prompt", "expected"), EVAL_PROMPTS, ids=IDS)
def test_eval_prompts_render_byte_identically(prompt, expected):
    assert prompt.to_text() == expected
    assert str(prompt) == expected
    assert prompt.to_text(audio="clips/a.flac") == f"<audio>clips/a.flac</audio>{expected}"
    assert prompt.to_text(audio="") == f"<audio></audio>{expected}"


@pytest.mark.parametrize(("prompt", "expected"), EVAL_PROMPTS, ids=IDS)
def test_eval_prompts_parse_back(prompt, expected):
    assert TaskPrompt.from_text(expected) == prompt
    assert TaskPrompt.from_text(expected).to_text() == expected
    for tag in prompt.tags:
        assert tag in st.SPECIAL_TOKEN_IDS


@pytest.mark.parametrize(("prompt", "expected"), EVAL_PROMPTS, ids=IDS)
def test_prompt_found_inside_a_decoded_sequence(prompt, expected):
    full = f"<audio>x.wav</audio>{expected}a response<|endoftext|><|endoftext|>"
    match = find_task_prompt(full)
    assert match.prompt == dataclasses.replace(prompt, suffix="")
    assert full[match.start : match.end] == match.prompt.to_text()
    assert text_after_prompt(full) == f"{prompt.suffix}a response"


def test_prompts_from_explicit_fields():
    prompt = TaskPrompt(
        mode="transcription",
        audio_language="en",
        task="transcribe",
        text_language="en",
        timestamps=False,
        output_instruction="wo_itn",
    )
    assert prompt == TaskPrompt.asr("en")
    assert TaskPrompt(task="translate", audio_language="<|fr|>", text_language="en") == TaskPrompt(
        task="translate", audio_language="fr", text_language="en", timestamps=False
    )
    assert TaskPrompt(task="caption", text_language="en").mode == "analysis"
    assert TaskPrompt(task="caption", text_language="en", mode="<|startoftranscript|>").mode == "transcription"
    assert TaskPrompt(task="transcribe", text_language="zh_tr").mode == "transcription"
    itn = TaskPrompt.asr("ja", itn=True).to_text()
    assert itn == "<|startoftranscript|><|ja|><|transcribe|><|ja|><|notimestamps|><|itn|>"


def test_dict_round_trip():
    for prompt, _ in EVAL_PROMPTS:
        assert TaskPrompt.from_dict(prompt.to_dict()) == prompt
    assert TaskPrompt.asr("en").to_dict() == {
        "mode": "transcription",
        "audio_language": "en",
        "task": "transcribe",
        "text_language": "en",
        "timestamps": False,
        "output_instruction": "wo_itn",
    }
    assert TaskPrompt.from_dict({"task": "keyword", "text_language": "en", "question": None}).task == "keyword"
    with pytest.raises(ValueError, match="unknown TaskPrompt field.*'lang'.*audio_language"):
        TaskPrompt.from_dict({"task": "transcribe", "lang": "en"})


def test_every_field_combination_round_trips():
    for mode, task, language, timestamps, instruction in itertools.product(
        ("transcription", "analysis"),
        [t for t in TASKS if t != "question"],
        LANGUAGE_CODES,
        (False, True),
        (None, *OUTPUT_INSTRUCTIONS),
    ):
        prompt = TaskPrompt(
            mode=mode,
            audio_language=language,
            task=task,
            text_language=language,
            timestamps=timestamps,
            output_instruction=instruction,
            suffix=" free text",
        )
        assert TaskPrompt.from_text(prompt.to_text()) == prompt


def test_suffix_and_query_tags_round_trip():
    pitch = TaskPrompt.note_analysis("pitch")
    assert pitch.to_text().endswith("<|note_analysis|><|pitch|>")
    assert TaskPrompt.from_text(pitch.to_text()) == pitch
    aqa = TaskPrompt.aqa("Which one?<|choice|>a dog<|choice|>a cat", audio_language="unknown")
    assert TaskPrompt.from_text(aqa.to_text() + "a cat") == dataclasses.replace(aqa, suffix="a cat")


@pytest.mark.parametrize(
    ("fields", "error", "named"),
    [
        (dict(task="transcrbe", text_language="en"), "unknown task", TASKS),
        (dict(task="transcribe", audio_language="english", text_language="en"), "audio_language", LANGUAGE_CODES),
        (dict(task="transcribe", text_language="xx"), "text_language", LANGUAGE_CODES),
        (dict(task="caption", text_language="en", output_instruction="x"), "output_instruction", OUTPUT_INSTRUCTIONS),
        (dict(task="caption", mode="analyse", text_language="en"), "mode", ("transcription", "analysis")),
        (dict(task="transcribe"), "text_language", LANGUAGE_CODES),
    ],
)
def test_invalid_fields_name_the_valid_choices(fields, error, named):
    with pytest.raises(ValueError, match=error) as info:
        TaskPrompt(**fields)
    for choice in named:
        assert choice in str(info.value)


def test_invalid_combinations_are_rejected():
    with pytest.raises(ValueError, match="did you mean 'caption_clotho'"):
        TaskPrompt(task="caption", text_language="en", output_instruction="clotho")
    with pytest.raises(ValueError, match="task='keyword', output_instruction='scene'"):
        TaskPrompt(task="scene", text_language="en")
    with pytest.raises(ValueError, match="question="):
        TaskPrompt(task="question", audio_language="en")
    with pytest.raises(ValueError, match="text_language"):
        TaskPrompt(task="question", question="why?", text_language="en")
    with pytest.raises(ValueError, match="only for task 'question'"):
        TaskPrompt(task="keyword", text_language="en", question="why?")
    with pytest.raises(ValueError, match="output_instruction='wo_itn'"):
        TaskPrompt(task="transcribe", text_language="en", suffix="<|wo_itn|>")
    with pytest.raises(ValueError, match="must not contain"):
        TaskPrompt.aqa("a<|answer|>b")
    with pytest.raises(TypeError, match="timestamps must be a bool"):
        TaskPrompt(task="transcribe", text_language="en", timestamps="yes")
    with pytest.raises(ValueError, match="caption style.*audiocaps, clotho"):
        TaskPrompt.caption("coco")
    with pytest.raises(ValueError, match="pitch, velocity, instrument, sonic"):
        TaskPrompt.note_analysis("tempo")
    with pytest.raises(dataclasses.FrozenInstanceError):
        TaskPrompt.asr().task = "translate"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # the README's spelling is not a special token
        ("<|startoftranscription|><|en|><|transcribe|>", r"did you mean '<\|startoftranscript\|>'"),
        # analysis tags belong in the output-instruction slot of a keyword task
        ("<|startofanalysis|><|unknown|><|audio_grounding|><|en|>", "task='keyword', output_instruction='audio_gr"),
        ("<|startoftranscript|><|english|><|transcribe|>", "audio-language tag"),
        ("<|startoftranscript|><|en|><|en|>", r"task tag.*<\|keyword\|>"),
        ("<|startoftranscript|><|en|><|transcribe|><|en|><|wo_itn|>", "timestamps flag"),
        ("<|startoftranscript|><|en|><|transcribe|>", "end of text"),
        ("<|startofanalysis|><|en|><|question|>what?", r"no <\|answer\|>"),
        ("<audio>a.wav</audio><|startoftranscript|>", "find_task_prompt"),
    ],
)
def test_from_text_reports_the_broken_slot(text, message):
    with pytest.raises(ValueError, match=message):
        TaskPrompt.from_text(text)


def test_find_task_prompt_without_prompt():
    assert find_task_prompt("just words") is None
    assert text_after_prompt("  hello world<|endoftext|>junk") == "hello world"
    assert response_text(" a b <|endoftext|> c") == "a b"
    assert response_text("chat reply<|im_end|>\n<|im_start|>user") == "chat reply"


# --- output parsing -------------------------------------------------------------------------------
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


def test_tokenizer_agrees_with_the_grammar():
    """Each tag is one token; decoding with skip_special_tokens equals strip_tags."""
    tokenization = pytest.importorskip("qwen_audio_hf.processing.tokenization_qwen_audio")
    tokenizer = tokenization.QwenAudioTokenizer()
    for prompt, text in EVAL_PROMPTS:
        ids = tokenizer(text)["input_ids"]
        tag_ids = [st.SPECIAL_TOKEN_IDS[tag] for tag in prompt.tags]
        assert [i for i in ids if i >= st.NUM_BPE_RANKS] == tag_ids + [
            st.SPECIAL_TOKEN_IDS[tag] for tag in st.TIMESTAMP_TOKENS if tag in prompt.suffix
        ]
        response = text + " a cat, meowing<|0.52|><|endoftext|>"
        ids = tokenizer(response)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=False) == response
        assert tokenizer.decode(ids, skip_special_tokens=True) == strip_tags(response)


def test_unknown_tags_are_found_with_a_suggestion():
    text = "<audio></audio><|startoftranscript|><|en|><|transcibe|> plain <not a tag> <|0.52|>"
    assert unknown_tags(text) == ["<|transcibe|>"]
    with pytest.raises(ValueError, match=r"unknown tag '<\|transcibe\|>'.*Did you mean '<\|transcribe\|>'"):
        check_tags(text)
    check_tags(str(TaskPrompt.asr("en")))  # a rendered prompt is made of known tags
    assert unknown_tags("<|custom|>", known={"<|custom|>"}) == []
