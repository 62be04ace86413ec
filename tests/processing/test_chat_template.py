"""Chat template: ChatML rendering of Qwen-Audio-Chat and make_context-style tokenization."""

import pytest
import soundfile
import torch

from qwen_audio_hf.processing.processing_qwen_audio import QwenAudioProcessor
from qwen_audio_hf.core.token_ids import AUDIO_END, AUDIO_PAD, AUDIO_START, IM_END_ID, IM_START_ID

from .signals import tone


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    directory = tmp_path_factory.mktemp("chat_clips")
    paths = {}
    for name, seconds in [("a", 3.0), ("b", 1.3), ("c", 7.45)]:
        paths[name] = str(directory / f"{name}.wav")
        soundfile.write(paths[name], tone(seconds), 16000, subtype="PCM_16")
    return paths


def two_turn_conversation(clips, system=None):
    messages = [] if system is None else [{"role": "system", "content": system}]
    return messages + [
        {"role": "user", "content": [{"type": "audio", "path": clips["a"]}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "A steady tone."},
        {"role": "user", "content": [
            {"type": "audio", "path": clips["b"]},
            {"type": "audio", "path": clips["c"]},
            {"type": "text", "text": "Compare these."},
        ]},
    ]


def expected_two_turn_text(clips, system="You are a helpful assistant."):
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\nAudio 1:<audio>{clips['a']}</audio>\nWhat is it?<|im_end|>\n"
        "<|im_start|>assistant\nA steady tone.<|im_end|>\n"
        f"<|im_start|>user\nAudio 1:<audio>{clips['b']}</audio>\nAudio 2:<audio>{clips['c']}</audio>\n"
        "Compare these.<|im_end|>\n<|im_start|>assistant\n"
    )


def make_context_ids(processor, turns, spans):
    """Independent re-statement of the original chat encoding: role and content encoded apart, joined by '\\n'."""
    tokenizer = processor.tokenizer
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    span_iter = iter(spans)
    ids = []
    for index, (role, content) in enumerate(turns):
        while AUDIO_START + AUDIO_END in content:  # fill placeholders like the processor does
            content = content.replace(AUDIO_START + AUDIO_END, AUDIO_START + "\0" + AUDIO_END, 1)
        pieces = content.split("\0")
        content = "".join(p + (AUDIO_PAD * (next(span_iter) - 2) if i < len(pieces) - 1 else "")
                          for i, p in enumerate(pieces))
        if index:
            ids += newline
        ids += [IM_START_ID] + tokenizer(role, add_special_tokens=False)["input_ids"] + newline
        ids += tokenizer(content, add_special_tokens=False)["input_ids"] if content else []
        if role != "assistant" or index < len(turns) - 1:
            ids += [IM_END_ID]
    return ids


def test_two_turn_two_audio_rendering(processor, clips):
    rendered = processor.apply_chat_template(two_turn_conversation(clips), add_generation_prompt=True)
    assert rendered == expected_two_turn_text(clips)


def test_custom_system_and_no_generation_prompt(processor, clips):
    rendered = processor.apply_chat_template(two_turn_conversation(clips, system="Be brief."))
    assert rendered == expected_two_turn_text(clips, "Be brief.").removesuffix("\n<|im_start|>assistant\n")


def test_original_list_format_items_are_accepted(processor, clips):
    messages = [{"role": "user", "content": [{"audio": clips["a"]}, {"text": "hi"}]}]
    assert processor.apply_chat_template(messages).endswith(f"user\nAudio 1:<audio>{clips['a']}</audio>\nhi<|im_end|>")


def test_tokenized_ids_match_make_context_recipe(processor, clips):
    messages = two_turn_conversation(clips)
    out = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    spans = processor.feature_extractor.span_lengths(out["feature_attention_mask"])
    assert spans == [77, 34, 188]
    turns = [("system", "You are a helpful assistant."),
             ("user", f"Audio 1:{AUDIO_START}{AUDIO_END}\nWhat is it?"),
             ("assistant", "A steady tone."),
             ("user", f"Audio 1:{AUDIO_START}{AUDIO_END}\nAudio 2:{AUDIO_START}{AUDIO_END}\nCompare these."),
             ("assistant", "")]
    assert out["input_ids"][0].tolist() == make_context_ids(processor, turns, spans)
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert torch.equal(out["input_ids"], processor(text=rendered)["input_ids"])


def test_content_starting_with_newline_is_encoded_like_the_original(processor):
    """The original encodes role and content apart, so '\\n' + '\\n\\nx' must not merge into one token."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "\n\nhello"},
                {"role": "assistant", "content": " \n kenobi"}, {"role": "user", "content": "next"}]
    ids = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_tensors=None)[0]
    turns = [(m["role"], m["content"]) for m in messages] + [("assistant", "")]
    assert ids == make_context_ids(processor, turns, [])
    joint = processor.tokenizer(processor.apply_chat_template(messages, add_generation_prompt=True),
                                add_special_tokens=False)["input_ids"]
    assert joint != ids  # a single pass over the rendered string would merge the newlines


def test_in_memory_audio_uses_placeholders(processor, clips):
    array = tone(2.0, 600, sampling_rate=22050)
    messages = [{"role": "user", "content": [
        {"type": "audio", "audio": array, "sampling_rate": 22050},
        {"type": "audio", "path": clips["a"]},
        {"type": "text", "text": "Which is higher?"},
    ]}]
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert f"Audio 1:<audio></audio>\nAudio 2:<audio>{clips['a']}</audio>\nWhich is higher?" in rendered
    out = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert set(out.keys()) == {"input_ids", "attention_mask", "input_features", "feature_attention_mask"}
    expected = processor.feature_extractor([array, clips["a"]], sampling_rate=22050)
    torch.testing.assert_close(out["input_features"], torch.from_numpy(expected["input_features"]))
    assert out["feature_attention_mask"].sum(-1).tolist() == [200, 300]


def test_missing_sampling_rate_for_array_is_reported(processor):
    messages = [{"role": "user", "content": [{"type": "audio", "audio": tone(1.0)}]}]
    with pytest.raises(ValueError, match="sampling_rate"):
        processor.apply_chat_template(messages, tokenize=True)
    out = processor.apply_chat_template(messages, tokenize=True, return_dict=True, sampling_rate=16000)
    assert out["input_features"].shape[0] == 1


def test_batched_conversations_pad_left(processor, clips):
    short = [{"role": "user", "content": "hi"}]
    out = processor.apply_chat_template([two_turn_conversation(clips), short], add_generation_prompt=True,
                                        tokenize=True, return_dict=True)
    assert out["input_ids"].shape[0] == 2 and out["input_features"].shape[0] == 3
    assert out["attention_mask"][1, 0] == 0 and out["attention_mask"][1, -1] == 1
    single = processor.apply_chat_template(short, add_generation_prompt=True, tokenize=True)[0]
    assert torch.equal(out["input_ids"][1, -len(single):], single)


def test_continue_final_message(processor):
    messages = [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi"}]
    rendered = processor.apply_chat_template(messages, continue_final_message=True)
    assert rendered.endswith("<|im_start|>assistant\nHi")
    with pytest.raises(ValueError, match="cannot both be set"):
        processor.apply_chat_template(messages, continue_final_message=True, add_generation_prompt=True)


def test_bad_content_items(processor):
    with pytest.raises(ValueError, match="Unsupported content item"):
        processor.apply_chat_template([{"role": "user", "content": [{"type": "image", "url": "x.png"}]}])
    with pytest.raises(TypeError, match="'role'"):
        processor.apply_chat_template([{"content": "hi"}])


def test_template_survives_save_and_load(processor, clips, tmp_path):
    processor.save_pretrained(tmp_path)
    reloaded = QwenAudioProcessor.from_pretrained(tmp_path)
    messages = two_turn_conversation(clips)
    assert reloaded.apply_chat_template(messages, add_generation_prompt=True) == expected_two_turn_text(clips)


def test_max_window_size_is_saved_with_the_processor(processor, tmp_path):
    windowed = QwenAudioProcessor(processor.feature_extractor, processor.tokenizer, max_window_size=6144)
    windowed.save_pretrained(tmp_path)
    assert QwenAudioProcessor.from_pretrained(tmp_path).max_window_size == 6144
    with pytest.raises(ValueError, match="max_window_size"):
        QwenAudioProcessor(processor.feature_extractor, processor.tokenizer, max_window_size=0)


def test_short_conversation_under_the_window_loads_no_audio(processor):
    """Far below the window no turn is measured, so a missing file is not opened by a text-only render."""
    messages = [{"role": "user", "content": [{"type": "audio", "path": "/no/such.wav"}, {"type": "text", "text": "a"}]},
                {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert "/no/such.wav" in processor.apply_chat_template(messages, max_window_size=6144)
    with pytest.raises(Exception, match="such.wav"):
        processor.apply_chat_template(messages, max_window_size=20)


def test_window_keeps_the_query_and_what_follows(processor):
    messages = [{"role": "user", "content": "old " * 50}, {"role": "assistant", "content": "x"},
                {"role": "user", "content": "new " * 50}, {"role": "assistant", "content": "partial"}]
    text = processor.apply_chat_template(messages, continue_final_message=True, max_window_size=10)
    assert "old" not in text and text.endswith("new <|im_end|>\n<|im_start|>assistant\npartial")


def test_content_markers_in_text_are_refused(processor):
    with pytest.raises(ValueError, match="U\\+FDD0"):
        processor.apply_chat_template([{"role": "user", "content": "a\ufdd0b"}])
