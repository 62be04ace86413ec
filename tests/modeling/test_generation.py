"""modeling.generation: the one greedy decoding path (batched = one by one, cut at the first end token, ids from
core.token_ids, generate_kwargs split between the config and generate(); streamed = the same text, growing)."""

import numpy as np
import pytest

from qwen_audio_hf.core.token_ids import BASE_END_TOKENS, END_TOKENS, ENDOFTEXT_ID, IM_END, IM_END_ID
from qwen_audio_hf.modeling.generation import (
    generate_batch,
    generate_texts,
    greedy_generation_config,
    set_generation_defaults,
    stream_batch,
)

from ..tiny_models import ForceResponse, tiny_decoding_model

PROMPT = "<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"


@pytest.fixture(scope="module")
def model():
    return tiny_decoding_model(seed=2)


def _clips():
    rng = np.random.default_rng(0)
    return [(0.3 * rng.standard_normal(int(seconds * 16000))).astype(np.float32) for seconds in (0.4, 1.7, 0.9)]


def test_batched_texts_equal_one_by_one(model, processor):
    clips = _clips()
    prompts = [PROMPT, PROMPT + "hello", PROMPT]
    batched = generate_texts(model, processor, prompts, clips, max_new_tokens=5, batch_size=3)
    alone = generate_texts(model, processor, prompts, clips, max_new_tokens=5, batch_size=1)
    assert batched == alone and len(batched) == 3
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        generate_texts(model, processor, prompts, clips, max_new_tokens=5, batch_size=0)


def test_rows_are_cut_at_the_first_end_token_with_special_tokens_kept(model, processor):
    ids = processor.tokenizer("hello<|0.40|> world" + IM_END, add_special_tokens=False)["input_ids"]
    forced = {"logits_processor": [ForceResponse(ids)]}
    [chat_end] = generate_texts(model, processor, [PROMPT], _clips()[:1], max_new_tokens=len(ids) + 2,
                                end_tokens=END_TOKENS, generate_kwargs=forced)
    assert chat_end == "hello<|0.40|> world"
    # <|im_end|> does not end a base-model response: decoding runs on and the token stays in the text
    [base_end] = generate_texts(model, processor, [PROMPT], _clips()[:1], max_new_tokens=len(ids),
                                end_tokens=BASE_END_TOKENS, generate_kwargs=forced)
    assert base_end == "hello<|0.40|> world" + IM_END


def test_a_prepared_batch_decodes_like_rendered_prompts(model, processor):
    clips = _clips()[:2]
    inputs = processor(text=[PROMPT, PROMPT], audio=clips, sampling_rate=16000, padding_side="left")
    assert generate_batch(model, processor, inputs, max_new_tokens=4) == generate_texts(
        model, processor, [PROMPT, PROMPT], clips, max_new_tokens=4)


def test_config_ids_come_from_the_token_inventory(processor):
    base = greedy_generation_config(processor.tokenizer, 7)
    assert (base.eos_token_id, base.pad_token_id, base.min_new_tokens, base.do_sample) == (ENDOFTEXT_ID, ENDOFTEXT_ID,
                                                                                           1, False)
    chat = greedy_generation_config(processor.tokenizer, 7, END_TOKENS, min_new_tokens=None)
    assert (chat.eos_token_id, chat.pad_token_id, chat.min_new_tokens) == ([ENDOFTEXT_ID, IM_END_ID], ENDOFTEXT_ID,
                                                                           None)


def test_generation_defaults_are_written_into_the_model(processor):
    model = tiny_decoding_model(seed=0)
    model.generation_config.do_sample = True
    set_generation_defaults(model, processor.tokenizer)
    config = model.generation_config
    assert (config.eos_token_id, config.pad_token_id, config.do_sample) == ([ENDOFTEXT_ID, IM_END_ID], ENDOFTEXT_ID,
                                                                            False)


def test_streamed_response_grows_to_the_generated_one(model, processor):
    ids = processor.tokenizer("hello<|0.40|> big world" + IM_END + "after", add_special_tokens=False)["input_ids"]
    forced = {"logits_processor": [ForceResponse(ids)]}
    inputs = processor(text=[PROMPT], audio=_clips()[:1], sampling_rate=16000)
    steps = list(stream_batch(model, processor, inputs, max_new_tokens=len(ids) + 2, end_tokens=END_TOKENS,
                              generate_kwargs=forced))
    assert steps[-1] == "hello<|0.40|> big world" == generate_batch(
        model, processor, inputs, max_new_tokens=len(ids) + 2, end_tokens=END_TOKENS, generate_kwargs=forced)[0]
    assert len(steps) > 2 and all(later.startswith(earlier) for earlier, later in zip(steps, steps[1:]))
    # unforced greedy: the stream ends on exactly generate_batch's text
    *_, last = stream_batch(model, processor, inputs, max_new_tokens=6)
    assert last == generate_batch(model, processor, inputs, max_new_tokens=6)[0]
    two = processor(text=[PROMPT, PROMPT], audio=_clips()[:2], sampling_rate=16000, padding_side="left")
    with pytest.raises(ValueError, match="streams one row"):
        next(stream_batch(model, processor, two, max_new_tokens=2))


def test_a_failing_generate_is_raised_in_the_streaming_thread(model, processor):
    inputs = processor(text=[PROMPT], audio=_clips()[:1], sampling_rate=16000)
    with pytest.raises(ValueError):
        list(stream_batch(model, processor, inputs, max_new_tokens=2, generate_kwargs={"num_beams": 0}))
