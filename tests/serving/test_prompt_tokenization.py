"""vLLM encodes a rendered prompt in one piece; the processor splits it after each role header (the original
make_context). The ids agree except when a message's content starts with a newline (documented in SERVING.md)."""

import pytest

HEADER = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"


@pytest.mark.parametrize(
    "content",
    ["Audio 1:<audio></audio>\nWhat is it?", "  two spaces", " 123", "\tTab", "!bang", "plain text"],
)
def test_one_piece_encoding_equals_the_processor(processor, content):
    prompt = f"{HEADER}{content}<|im_end|>\n<|im_start|>assistant\n"
    assert processor.tokenizer.encode(prompt, add_special_tokens=False) == processor._encode(prompt)


def test_content_starting_with_a_newline_differs(processor):
    prompt = f"{HEADER}\nfirst line<|im_end|>\n"
    assert processor.tokenizer.encode(prompt, add_special_tokens=False) != processor._encode(prompt)
