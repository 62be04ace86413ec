"""Generation: KV cache == full recomputation, left-padded batches == prompts alone, audio only at prefill."""

import pytest
import torch

from ..tiny_models import audio_features, left_pad_batch, prompt_ids, tiny_model

NEW_TOKENS = 8


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=1)


def _single(mel_frames, n_text, offset, seed):
    ids = torch.tensor([prompt_ids(mel_frames, n_text, offset)])
    inputs = dict(input_ids=ids, attention_mask=torch.ones_like(ids))
    if mel_frames:
        features, mask = audio_features(mel_frames, seed=seed)
        inputs.update(input_features=features[None], feature_attention_mask=mask[None])
    return inputs


def _greedy(model, inputs, **kwargs):
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, return_dict_in_generate=True,
                             output_scores=True, pad_token_id=151643, eos_token_id=None, **kwargs)
    return out.sequences[:, inputs["input_ids"].shape[1]:], torch.stack(out.scores, 1)


def test_manual_cache_decoding_equals_full_recomputation(model):
    inputs = _single(300, 4, 0, seed=0)
    ids = inputs["input_ids"]
    with torch.no_grad():
        prefill = model(**inputs, use_cache=True)
        cache, sequence = prefill.cache, ids
        step_logits = [prefill.logits[:, -1]]
        for _ in range(4):
            next_token = step_logits[-1].argmax(-1, keepdim=True)
            sequence = torch.cat([sequence, next_token], 1)
            out = model(input_ids=next_token, attention_mask=torch.ones_like(sequence), cache=cache,
                        use_cache=True, input_features=inputs["input_features"],  # ignored after the prefill
                        feature_attention_mask=inputs["feature_attention_mask"])
            cache = out.cache
            step_logits.append(out.logits[:, -1])
        full = model(input_ids=sequence, attention_mask=torch.ones_like(sequence),
                     input_features=inputs["input_features"], feature_attention_mask=inputs["feature_attention_mask"])
    expected = full.logits[:, ids.shape[1] - 1:]
    torch.testing.assert_close(torch.stack(step_logits, 1), expected, rtol=1e-4, atol=1e-4)


def test_generate_with_and_without_cache_agree(model):
    inputs = _single(300, 4, 0, seed=0)
    cached_tokens, cached_scores = _greedy(model, inputs, use_cache=True)
    plain_tokens, plain_scores = _greedy(model, inputs, use_cache=False)
    assert torch.equal(cached_tokens, plain_tokens)
    torch.testing.assert_close(cached_scores, plain_scores, rtol=1e-4, atol=1e-4)


def test_left_padded_batch_matches_each_prompt_alone(model):
    specs = [(300, 3, 0, 10), (100, 7, 3, 11), (None, 5, 6, 12), (40, 1, 2, 13)]
    alone = [_greedy(model, _single(*spec))[0][0] for spec in specs]
    assert len({tuple(tokens.tolist()) for tokens in alone}) > 1  # the prompts really lead to different outputs

    rows = [prompt_ids(m, n, o) for m, n, o, _ in specs]
    ids, mask = left_pad_batch(rows)
    feats = [audio_features(m, seed=s) for m, _, _, s in specs if m]
    batch = dict(input_ids=ids, attention_mask=mask, input_features=torch.stack([f for f, _ in feats]),
                 feature_attention_mask=torch.stack([m for _, m in feats]))
    batched, _ = _greedy(model, batch)
    for row, expected in enumerate(alone):
        assert batched[row].tolist() == expected.tolist(), f"row {row}"


def test_beam_search_repeats_each_rows_audios_with_the_row(model):
    specs = [[(300, 1), (60, 2)], [(120, 3)]]  # row 0 holds two audios, row 1 one
    rows, feats = [], []
    for row_index, row in enumerate(specs):
        ids = []
        for mel_frames, seed in row:
            ids += prompt_ids(mel_frames, 2, offset=seed)
            feats.append(audio_features(mel_frames, seed=seed))
        rows.append(ids)
    ids, mask = left_pad_batch(rows)
    batch = dict(input_ids=ids, attention_mask=mask, input_features=torch.stack([f for f, _ in feats]),
                 feature_attention_mask=torch.stack([m for _, m in feats]))
    kwargs = dict(max_new_tokens=4, do_sample=False, num_beams=2, num_return_sequences=2, pad_token_id=151643,
                  eos_token_id=None)
    with torch.no_grad():
        batched = model.generate(**batch, **kwargs)[:, ids.shape[1]:]
        for row_index, row in enumerate(specs):
            first = sum(len(r) for r in specs[:row_index])
            single = dict(input_ids=torch.tensor([rows[row_index]]),
                          input_features=batch["input_features"][first : first + len(row)],
                          feature_attention_mask=batch["feature_attention_mask"][first : first + len(row)])
            single["attention_mask"] = torch.ones_like(single["input_ids"])
            alone = model.generate(**single, **kwargs)[:, single["input_ids"].shape[1]:]
            assert batched[2 * row_index : 2 * row_index + 2].tolist() == alone.tolist()
