"""Static cache and torch.compile: same greedy tokens as eager dynamic-cache decoding, one graph, no recompiles.

The tiny model has seq_length 32, so prompts with a 300-frame clip (77-token span) run with dynamic NTK
(alpha 7) and log-n; the 40-frame prompts stay below seq_length (alpha 1). Compilation uses the cheap "eager"
backend (CI has no GPU): what is checked is that Dynamo captures the decode step whole, not kernel speed.
"""

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters
from transformers import CompileConfig, StaticCache

from qwen_audio_hf.core.token_ids import ENDOFTEXT_ID

from ..tiny_models import audio_features, left_pad_batch, prompt_ids, tiny_model

SEQ_LENGTH = 32
NEW_TOKENS = 16
PAD = ENDOFTEXT_ID


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=1, seq_length=SEQ_LENGTH)


def _batch(rows: list[list[tuple[int | None, int, int]]]) -> dict:
    """Left-padded batch; each row is a list of (mel_frames or None, text tokens, seed) segments."""
    ids, feats = [], []
    for row in rows:
        row_ids = []
        for mel_frames, n_text, seed in row:
            row_ids += prompt_ids(mel_frames, n_text, offset=seed)
            if mel_frames:
                feats.append(audio_features(mel_frames, seed=seed))
        ids.append(row_ids)
    input_ids, mask = left_pad_batch(ids, pad_id=PAD)
    batch = dict(input_ids=input_ids, attention_mask=mask)
    if feats:
        batch.update(input_features=torch.stack([f for f, _ in feats]),
                     feature_attention_mask=torch.stack([m for _, m in feats]))
    return batch


SHORT = [[(40, 4, 0)]]  # 16 tokens < seq_length
LONG = [[(300, 6, 1)]]  # 83 tokens > seq_length: NTK + log-n
MIXED = [[(300, 3, 2)], [(40, 2, 3)], [(None, 7, 4)]]  # left-padded, one row past seq_length, two below
MULTI_AUDIO = [[(100, 2, 5), (40, 3, 6)], [(300, 1, 7)]]  # two audios in row 0


def _compile_config() -> CompileConfig:
    config = CompileConfig(backend="eager", fullgraph=True, mode=None)
    config._compile_all_devices = True  # generate() compiles on GPUs only unless asked
    return config


def _generate(model, batch, **kwargs):
    kwargs = dict(max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=PAD, eos_token_id=None) | kwargs
    with torch.no_grad():
        out = model.generate(**batch, **kwargs)
    return out[:, batch["input_ids"].shape[1]:]


def test_scenarios_really_exercise_both_alpha_regimes(model):
    with torch.no_grad():
        assert model(**_batch(SHORT)).ntk_alpha.tolist() == [1.0]
        assert model(**_batch(LONG)).ntk_alpha.tolist() == [7.0]
        assert model(**_batch(MIXED)).ntk_alpha.tolist() == [7.0, 1.0, 1.0]


@pytest.mark.parametrize("rows", [SHORT, LONG, MIXED, MULTI_AUDIO], ids=["short", "long", "mixed", "multi_audio"])
def test_static_cache_eager_and_compiled_give_the_dynamic_cache_tokens(model, rows):
    batch = _batch(rows)
    reference = _generate(model, batch)
    assert len({tuple(row) for row in reference.tolist()}) == len(rows)  # rows really decode differently
    assert torch.equal(_generate(model, batch, cache_implementation="static"), reference)
    torch._dynamo.reset()
    counters.clear()
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = _generate(model, batch, cache_implementation="static", compile_config=_compile_config())
    assert torch.equal(compiled, reference)
    # fullgraph=True raises on any graph break; one graph for all NEW_TOKENS - 1 decode steps (no recompiles).
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"]


def test_beam_search_with_static_cache_gives_the_dynamic_cache_beams(model):
    # generate() compiles only greedy/sampling loops, so beam search runs the static cache eagerly.
    batch = _batch(MIXED)
    kwargs = dict(num_beams=2, num_return_sequences=2, max_new_tokens=6)
    reference = _generate(model, batch, **kwargs)
    assert torch.equal(_generate(model, batch, cache_implementation="static", **kwargs), reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="transformers' offloaded caches need an accelerator")
@pytest.mark.parametrize("cache_implementation", ["offloaded", "offloaded_static"])
def test_offloaded_caches_give_the_dynamic_cache_tokens(model, cache_implementation):
    model, batch = model.cuda(), {key: value.cuda() for key, value in _batch(MIXED).items()}
    try:
        assert torch.equal(_generate(model, batch, cache_implementation=cache_implementation), _generate(model, batch))
    finally:
        model.cpu()


def test_decode_step_has_no_graph_break(model):
    batch = _batch(LONG)
    with torch.no_grad():
        cache = StaticCache(config=model.config.text_config, max_cache_len=128)
        prefill = model(**batch, cache=cache, use_cache=True)
        step = dict(input_ids=prefill.logits[:, -1:].argmax(-1), cache=prefill.cache, ntk_alpha=prefill.ntk_alpha,
                    position_ids=torch.tensor([[batch["input_ids"].shape[1]]]), use_cache=True)
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(model)(**step)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1


def test_chunked_prefill_past_seq_length_is_refused(model):
    # No chunk knows the whole prompt's length, so none can choose the prefill's NTK alpha.
    batch = _batch([[(None, 40, 8)]])
    with pytest.raises(ValueError, match="ntk_alpha.*prefill_chunk_size"):
        _generate(model, batch, prefill_chunk_size=16, max_new_tokens=2)
    short = _batch([[(None, 30, 8)]])  # within seq_length the chunks agree on alpha 1
    assert torch.equal(_generate(model, short, prefill_chunk_size=16), _generate(model, short))
