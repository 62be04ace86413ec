"""apply_chat_template ids equal the ORIGINAL make_context's (fixture: tests/fixtures/original/chat_context.json).

Cases: every special-token string typed into system, user and assistant text (only the audio tags may become
special tokens), turn-injection attempts, look-alikes and NFC, and history truncation at every window where the
original starts keeping one more turn (and one token below), plus a 60-turn history under the released 6144.
"""

import json

import pytest

from qwen_audio_hf.core.token_ids import CONTROL_TOKENS, IM_END_ID, IM_START_ID, SPECIAL_TOKENS
from tests.original_fixtures import FIXTURES

CASES = json.loads((FIXTURES / "chat_context.json").read_text(encoding="utf-8"))["cases"]


def content(value):
    """Original list format (paths relative to the fixtures folder) -> processor content items."""
    if isinstance(value, str):
        return value
    return [
        {"type": "audio", "path": str(FIXTURES / item["audio"])} if "audio" in item else
        {"type": "text", "text": item["text"]}
        for item in value
    ]


def messages_of(case):
    messages = [{"role": "system", "content": case["system"]}]
    for query, response in case["history"]:
        messages += [{"role": "user", "content": content(query)}, {"role": "assistant", "content": response}]
    return messages + [{"role": "user", "content": content(case["query"])}]


def test_fixture_covers_every_special_string_and_every_kept_turn_count():
    typed = " ".join(case["query"] for case in CASES if case["name"] == "every_special_string_spaced")
    assert set(SPECIAL_TOKENS) - {"<audio>", "</audio>"} <= set(typed.split(" "))
    short = [case["kept_turns"] for case in CASES if case["name"].startswith("short_history")]
    assert sorted(set(short)) == list(range(7))
    assert 0 < next(case["kept_turns"] for case in CASES if case["name"] == "released_window_6144") < 60


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_ids_equal_original_make_context(processor, case):
    ids = processor.apply_chat_template(
        messages_of(case), add_generation_prompt=True, tokenize=True, return_tensors=None,
        max_window_size=case["max_window_size"],
    )[0]
    assert ids == case["ids"]


@pytest.mark.parametrize("case", [c for c in CASES if "kept_turns" in c], ids=lambda c: c["name"])
def test_rendered_text_drops_the_same_turns(processor, case):
    text = processor.apply_chat_template(
        messages_of(case), add_generation_prompt=True, max_window_size=case["max_window_size"]
    )
    assert text.count("<|im_start|>user\n") == case["kept_turns"] + 1


def test_typed_control_strings_never_become_control_tokens(processor):
    case = next(case for case in CASES if case["name"] == "every_special_string_glued")
    ids = processor.apply_chat_template(messages_of(case), add_generation_prompt=True, tokenize=True,
                                        return_tensors=None)[0]
    control_ids = set(processor.tokenizer.convert_tokens_to_ids(list(CONTROL_TOKENS)))
    structural = [token for token in ids if token in control_ids]
    assert structural == [IM_START_ID, IM_END_ID] * 4 + [IM_START_ID]  # system, user, assistant, user, header


def test_processor_window_is_the_default_and_none_keeps_everything(processor):
    case = next(case for case in CASES if case["name"] == "short_history_window_130")
    messages = messages_of(case)
    assert processor.apply_chat_template(messages, add_generation_prompt=True).count("<|im_start|>user\n") == 7
    processor.max_window_size = 130
    try:
        ids = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                            return_tensors=None)[0]
        full = processor.apply_chat_template(messages, add_generation_prompt=True, max_window_size=None)
    finally:
        processor.max_window_size = None
    assert ids == case["ids"]
    assert full.count("<|im_start|>user\n") == 7
