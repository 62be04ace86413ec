"""TaskPrompt: prompts from typed fields, rendering byte-identical to the original evaluation prompts, parsing back."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from qwen_audio_hf.core import token_ids as st
from qwen_audio_hf.processing.tags import (
    LANGUAGE_CODES,
    OUTPUT_INSTRUCTIONS,
    TASKS,
    TaskPrompt,
    find_task_prompt,
    response_text,
    text_after_prompt,
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
