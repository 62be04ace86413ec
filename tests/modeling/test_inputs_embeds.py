"""Prompts given as inputs_embeds with input_features: audio spans are found from the embeddings (PEFT prompt tuning)."""

import pytest
import torch
from peft import PromptTuningConfig, TaskType, get_peft_model

from .tiny_models import audio_features, left_pad_batch, prompt_ids, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=4)


def batch():
    """Row 0: two audios; row 1: text only; row 2: one audio after text."""
    rows = [prompt_ids(300, 3, 0) + prompt_ids(80, 2, 5), prompt_ids(None, 6, 1), [1000, 2000] + prompt_ids(150, 4, 2)]
    ids, mask = left_pad_batch(rows)
    feats = [audio_features(m, seed=i) for i, m in enumerate((300, 80, 150))]
    return dict(input_ids=ids, attention_mask=mask, input_features=torch.stack([f for f, _ in feats]),
                feature_attention_mask=torch.stack([m for _, m in feats]))


def test_inputs_embeds_with_input_features_equal_the_input_ids_path(model):
    inputs = batch()
    embeds = dict(inputs, inputs_embeds=model.get_input_embeddings()(inputs["input_ids"]))
    del embeds["input_ids"]
    with torch.no_grad():
        from_ids, from_embeds = model(**inputs).logits, model(**embeds).logits
        without_audio = model(inputs_embeds=embeds["inputs_embeds"], attention_mask=inputs["attention_mask"]).logits
    torch.testing.assert_close(from_embeds, from_ids, rtol=0, atol=0)
    assert not torch.allclose(without_audio, from_ids, atol=1e-3)  # the audio really was merged


def test_peft_prompt_tuning_uses_the_audio_and_trains_only_the_prompt():
    model = tiny_model(seed=5)
    inputs = batch()
    virtual = 4
    peft_model = get_peft_model(model, PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=virtual))
    prompt = peft_model.get_prompt(batch_size=1)[0].detach()
    # What prompt tuning must compute: virtual tokens first, then the prompt with each audio span written in.
    with torch.no_grad():
        base_embeds = model.get_input_embeddings()(inputs["input_ids"])
        expected_inputs = dict(inputs, inputs_embeds=torch.cat([prompt.expand(3, -1, -1), base_embeds], 1),
                               attention_mask=torch.cat([torch.ones(3, virtual, dtype=torch.long),
                                                         inputs["attention_mask"]], 1))
        del expected_inputs["input_ids"]
        expected = model(**expected_inputs).logits
        merged = model.model.merge_audio_embeddings(
            model.model.get_placeholder_spans(inputs["input_ids"], base_embeds), base_embeds,
            inputs["input_features"], inputs["feature_attention_mask"],
        )
        by_hand = model(inputs_embeds=torch.cat([prompt.expand(3, -1, -1), merged], 1),
                        attention_mask=expected_inputs["attention_mask"]).logits
    torch.testing.assert_close(expected, by_hand, rtol=0, atol=1e-6)

    peft_model.train()
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    out = peft_model(**inputs, labels=labels)
    torch.testing.assert_close(out.logits[:, virtual:].detach(), by_hand[:, virtual:], rtol=0, atol=1e-5)
    out.loss.backward()
    trainable = [name for name, param in peft_model.named_parameters() if param.requires_grad]
    assert trainable and all("prompt_encoder" in name for name in trainable)
    assert all(param.grad is not None for name, param in peft_model.named_parameters() if param.requires_grad)

    peft_model.eval()
    with torch.no_grad():
        generated = peft_model.generate(**inputs, max_new_tokens=3, do_sample=False, pad_token_id=151643,
                                        eos_token_id=None)
    assert generated.shape[0] == 3
