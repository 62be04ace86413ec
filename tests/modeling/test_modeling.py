"""QwenAudioForConditionalGeneration forward: audio spans, labels, attention backends, training, save/load."""

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM

import qwen_audio_hf.modeling.modeling_qwen_audio as modeling_module
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration, QwenAudioModel

from .tiny_models import AUDIO_PAD, audio_features, left_pad_batch, prompt_ids, tiny_config, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def saved_dir(model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("native")
    model.save_pretrained(directory)
    return directory


def _inputs(mel_frames=(300,), n_text=6, seed=0):
    rows = [prompt_ids(m, n_text, offset=i) for i, m in enumerate(mel_frames)]
    ids, mask = left_pad_batch(rows)
    feats = [audio_features(m, seed=seed + i) for i, m in enumerate(mel_frames)]
    return dict(input_ids=ids, attention_mask=mask, input_features=torch.stack([f for f, _ in feats]),
                feature_attention_mask=torch.stack([m for _, m in feats]))


def test_audio_changes_logits_only_from_its_span_on(model):
    inputs = _inputs()
    other = dict(inputs, input_features=inputs["input_features"] + 0.3)
    with torch.no_grad():
        base, changed = model(**inputs).logits, model(**other).logits
    span_start = 0  # the prompt starts with its <audio> token
    assert not torch.allclose(base[0, span_start:], changed[0, span_start:], atol=1e-3)
    text_only = dict(input_ids=torch.tensor([[1000, 2000, 3000]]), attention_mask=torch.ones(1, 3, dtype=torch.long))
    with torch.no_grad():
        prefix_logits = model(**text_only).logits
        with_audio_after = model(input_ids=torch.tensor([[1000, 2000, 3000] + prompt_ids(300, 2)]),
                                 input_features=inputs["input_features"],
                                 feature_attention_mask=inputs["feature_attention_mask"]).logits
    torch.testing.assert_close(with_audio_after[:, :3], prefix_logits, rtol=1e-5, atol=1e-5)


def test_span_placeholder_embeddings_are_overwritten(model):
    inputs = _inputs()
    with torch.no_grad():
        before = model(**inputs).logits
        embeddings = model.get_input_embeddings().weight
        saved = embeddings[AUDIO_PAD].clone()
        embeddings[AUDIO_PAD] += 5.0
        after = model(**inputs).logits
        embeddings[AUDIO_PAD] = saved
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_span_written_is_bos_audio_eos(model):
    inputs = _inputs(mel_frames=(300,), n_text=2)
    spans = model.get_audio_features(inputs["input_features"], inputs["feature_attention_mask"]).pooler_output
    table = model.model.multi_modal_projector.audio_bos_eos_embedding.weight
    assert spans[0].shape == (77, 64)
    torch.testing.assert_close(spans[0][0], table[0])
    torch.testing.assert_close(spans[0][-1], table[1])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x: x.update(input_features=x["input_features"].repeat(2, 1, 1),
                            feature_attention_mask=x["feature_attention_mask"].repeat(2, 1)), "2 audios"),
        (lambda x: x.update(feature_attention_mask=torch.roll(x["feature_attention_mask"], 40, -1) * 0
                            + (torch.arange(3000) < 400).long()), "span in the prompt has 77"),
        (lambda x: x.update(input_ids=x["input_ids"].masked_fill(x["input_ids"] == 155164, 5)), "end tokens"),
        (lambda x: x.pop("input_features"), "no input_features"),
        (lambda x: x.update(inputs_embeds=torch.zeros(1, x.pop("input_ids").shape[1], 64)), "contain 0 audio spans"),
    ],
)
def test_span_mismatches_raise_value_errors(model, mutate, message):
    inputs = _inputs()
    mutate(inputs)
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def test_labels_at_minus_100_are_ignored(model):
    inputs = _inputs(mel_frames=(300, 100), n_text=5)
    labels = inputs["input_ids"].clone()
    labels[inputs["attention_mask"] == 0] = -100
    labels[:, :-3] = -100  # learn only the last three tokens of each row
    with torch.no_grad():
        out = model(**inputs, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, out.logits.shape[-1])
    targets = labels[:, 1:].reshape(-1)
    keep = targets != -100
    manual = torch.nn.functional.cross_entropy(logits[keep].float(), targets[keep])
    torch.testing.assert_close(out.loss, manual, rtol=1e-5, atol=1e-6)


def test_eager_and_sdpa_agree(saved_dir):
    inputs = _inputs(mel_frames=(300, 120), n_text=4)
    logits = {}
    for implementation in ("eager", "sdpa"):
        loaded = QwenAudioForConditionalGeneration.from_pretrained(saved_dir, attn_implementation=implementation)
        assert loaded.config.text_config._attn_implementation == implementation
        with torch.no_grad():
            logits[implementation] = loaded(**inputs).logits
    mask = inputs["attention_mask"].bool()
    torch.testing.assert_close(logits["sdpa"][mask], logits["eager"][mask], rtol=1e-4, atol=1e-4)


def test_save_load_round_trip_is_bit_exact(model, saved_dir):
    loaded = AutoModelForCausalLM.from_pretrained(saved_dir)
    assert isinstance(loaded, QwenAudioForConditionalGeneration) and not loaded.training
    original, reloaded = model.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys()
    assert all(torch.equal(original[k], reloaded[k]) for k in original)
    inputs = _inputs()
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, loaded(**inputs).logits)
    assert isinstance(AutoModel.from_pretrained(saved_dir), QwenAudioModel)


def test_bf16_load_with_dtype(saved_dir):
    loaded = QwenAudioForConditionalGeneration.from_pretrained(saved_dir, dtype=torch.bfloat16)
    assert loaded.dtype == torch.bfloat16 and loaded.lm_head.weight.dtype == torch.bfloat16
    with torch.no_grad():
        out = loaded(**_inputs())
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits.float()).all()


def test_gradient_checkpointing_trains_like_plain_backprop():
    inputs = _inputs(mel_frames=(60, 24), n_text=4)
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    plain, checkpointed = tiny_model(seed=3).train(), tiny_model(seed=3).train()
    checkpointed.activation_checkpointing_enable()
    assert checkpointed.model.language_model.gradient_checkpointing
    assert checkpointed.model.audio_tower.gradient_checkpointing
    losses = {}
    for name, model in (("plain", plain), ("checkpointed", checkpointed)):
        loss = model(**inputs, labels=labels, use_cache=False).loss
        loss.backward()
        losses[name] = loss.item()
    torch.testing.assert_close(losses["checkpointed"], losses["plain"], rtol=1e-5, atol=1e-5)
    for (name, p1), (_, p2) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        if p1.grad is not None:
            torch.testing.assert_close(p2.grad, p1.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert checkpointed.model.audio_tower.conv1.weight.grad.abs().sum() > 0

    optimizer = torch.optim.SGD(checkpointed.parameters(), lr=0.05)
    history = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = checkpointed(**inputs, labels=labels, use_cache=False).loss
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0]


def test_from_components_delegates(monkeypatch):
    import qwen_audio_hf.modeling.components as components

    assert QwenAudioForConditionalGeneration.components_builder is components.build_from_components
    calls = []
    builder = staticmethod(lambda cls, **kw: calls.append((cls, kw)) or "built")
    monkeypatch.setattr(QwenAudioForConditionalGeneration, "components_builder", builder)
    assert QwenAudioForConditionalGeneration.from_components(audio_encoder="a", language_model="b") == "built"
    assert calls == [(QwenAudioForConditionalGeneration, {"audio_encoder": "a", "language_model": "b"})]
    assert modeling_module.QwenAudioForConditionalGeneration is QwenAudioForConditionalGeneration
    monkeypatch.setattr(QwenAudioForConditionalGeneration, "components_builder", None)  # as in a Hub export
    with pytest.raises(NotImplementedError, match="pip install qwen-audio-hf"):
        QwenAudioForConditionalGeneration.from_components(audio_encoder="a", language_model="b")


def test_weights_are_untied_and_no_split_modules_are_declared(model):
    assert model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    assert set(model._no_split_modules) == {"QwenAudioEncoderLayer", "Qwen2DecoderLayer"}
    assert model.supports_gradient_checkpointing and model._supports_sdpa


def test_tied_word_embeddings_when_configured(tmp_path):
    from .tiny_models import tiny_config

    tied = QwenAudioForConditionalGeneration(tiny_config(tie_word_embeddings=True))
    assert tied.config.tie_word_embeddings
    assert tied.lm_head.weight.data_ptr() == tied.get_input_embeddings().weight.data_ptr()
    tied.save_pretrained(tmp_path)
    reloaded = QwenAudioForConditionalGeneration.from_pretrained(tmp_path)
    assert reloaded.lm_head.weight.data_ptr() == reloaded.get_input_embeddings().weight.data_ptr()
    assert torch.equal(reloaded.lm_head.weight, tied.lm_head.weight)


def test_auto_classes_are_registered():
    import transformers

    from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioEncoder, QwenAudioEncoderConfig

    encoder = AutoModel.from_config(QwenAudioEncoderConfig(d_model=32, encoder_layers=1, encoder_attention_heads=4))
    assert isinstance(encoder, QwenAudioEncoder)
    assert AutoModelForCausalLM._model_mapping[QwenAudioConfig] is QwenAudioForConditionalGeneration
    if hasattr(transformers, "AutoModelForMultimodalLM"):
        mapping = transformers.AutoModelForMultimodalLM._model_mapping
        assert mapping[QwenAudioConfig] is QwenAudioForConditionalGeneration


def test_random_init_gives_endoftext_a_trainable_nonzero_embedding():
    """<|endoftext|> is pad, bos and eos: a trained token of the original, so it is initialised like any other row."""
    torch.manual_seed(0)
    model = QwenAudioForConditionalGeneration(tiny_config())
    embeddings = model.get_input_embeddings()
    assert embeddings.padding_idx is None
    row = embeddings.weight[151643]
    assert row.abs().min() > 0
    assert abs(float(row.std()) - float(embeddings.weight[:1000].std())) < 0.01
    embeddings(torch.tensor([[151643]])).sum().backward()
    assert embeddings.weight.grad[151643].abs().sum() > 0
