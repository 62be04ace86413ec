"""The tag grammar: agreement with the tokenizer, validation of unknown tags."""

from __future__ import annotations

import pytest

from qwen_audio_hf.core import token_ids as st
from qwen_audio_hf.processing.tags import (
    TaskPrompt,
    check_tags,
    strip_tags,
    unknown_tags,
)

from .test_tag_prompts import EVAL_PROMPTS


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


def test_one_public_path_over_the_three_modules():
    import qwen_audio_hf
    from qwen_audio_hf.processing import tag_grammar, tag_parsing, tag_prompts, tags

    homes = {module.__name__ for module in (tag_grammar, tag_parsing, tag_prompts)} | {st.__name__}
    for name in tags.__all__:
        value = getattr(tags, name)
        if callable(value):  # functions and classes: defined in one of the three modules (or the token inventory)
            assert value.__module__ in homes, (name, value.__module__)
    assert qwen_audio_hf.TaskPrompt is tags.TaskPrompt is tag_prompts.TaskPrompt
    assert tags.check_tags is tag_grammar.check_tags and tags.parse_grounding is tag_parsing.parse_grounding
    assert tags.OUTPUT_INSTRUCTIONS is tag_grammar.OUTPUT_INSTRUCTIONS
