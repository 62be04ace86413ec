"""QwenAudioForConditionalGeneration.from_components: Whisper encoder + Qwen-format or transformers causal LM,
built from tiny checkpoints written in the test."""

import json
import os
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM, WhisperConfig, WhisperModel

from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.core import token_ids as st

from .original_layout import original_config_dict, to_original_state_dict
from .tiny_models import tiny_model

QWEN_7B_VOCAB = 151936
TINY_WHISPER_IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=1)
KNOWN_ROWS = st.NUM_BPE_RANKS + len(st.CONTROL_TOKENS)  # 151851 rows a Qwen-7B checkpoint really trained
OPENAI_NAMES = (
    (r"^layers\.(\d+)\.self_attn\.q_proj\.", r"blocks.\1.attn.query."),
    (r"^layers\.(\d+)\.self_attn\.k_proj\.", r"blocks.\1.attn.key."),
    (r"^layers\.(\d+)\.self_attn\.v_proj\.", r"blocks.\1.attn.value."),
    (r"^layers\.(\d+)\.self_attn\.out_proj\.", r"blocks.\1.attn.out."),
    (r"^layers\.(\d+)\.self_attn_layer_norm\.", r"blocks.\1.attn_ln."),
    (r"^layers\.(\d+)\.fc1\.", r"blocks.\1.mlp.0."),
    (r"^layers\.(\d+)\.fc2\.", r"blocks.\1.mlp.2."),
    (r"^layers\.(\d+)\.final_layer_norm\.", r"blocks.\1.mlp_ln."),
    (r"^layer_norm\.", r"ln_post."),
    (r"^embed_positions\.weight$", r"positional_embedding"),
)


def _randomise(model, std=0.1):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2 and "embed_positions" not in name:
                param.normal_(0.0, std)
            elif "norm" in name and name.endswith("weight"):
                param.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def whisper():
    torch.manual_seed(0)
    config = WhisperConfig(
        **TINY_WHISPER_IDS, vocab_size=64, num_mel_bins=80, d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128,
        decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=64, max_source_positions=1500,
        max_target_positions=16,
    )
    return _randomise(WhisperModel(config).eval())


@pytest.fixture(scope="module")
def whisper_dir(whisper, tmp_path_factory):
    path = tmp_path_factory.mktemp("whisper")
    whisper.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def whisper_pt(whisper, tmp_path_factory):
    """The same encoder as an openai-whisper checkpoint: {'dims': ..., 'model_state_dict': ...}."""
    state = {}
    for key, value in whisper.encoder.state_dict().items():
        for pattern, replacement in OPENAI_NAMES:
            key = re.sub(pattern, replacement, key)
        state["encoder." + key] = value.clone()
    state["decoder.token_embedding.weight"] = torch.zeros(64, 32)  # decoder keys are ignored
    config = whisper.config
    dims = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": config.d_model, "n_audio_head": 4,
            "n_audio_layer": config.encoder_layers, "n_vocab": 64, "n_text_ctx": 16, "n_text_state": 32,
            "n_text_head": 4, "n_text_layer": 1}
    path = tmp_path_factory.mktemp("openai") / "tiny.pt"
    torch.save({"dims": dims, "model_state_dict": state}, path)
    return str(path)


@pytest.fixture(scope="module")
def source_lm():
    """A tiny model whose language model is written out as a Qwen-7B original-layout checkpoint."""
    return _randomise(tiny_model(seed=1, hidden_size=32, intermediate_size=64, vocab_size=QWEN_7B_VOCAB))


@pytest.fixture(scope="module")
def qwen_dir(source_lm, tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen7b")
    state = {k: v.contiguous() for k, v in to_original_state_dict(source_lm).items()
             if not k.startswith("transformer.audio.")}
    save_file(state, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    config = original_config_dict(source_lm)
    del config["audio"]  # Qwen-7B: a text-only model
    with open(os.path.join(path, "config.json"), "w") as handle:
        json.dump(config, handle)
    return str(path)


@pytest.fixture(scope="module")
def built(whisper_dir, qwen_dir):
    return QwenAudioForConditionalGeneration.from_components(
        audio_encoder=whisper_dir, language_model=qwen_dir, return_processor=True
    )


def test_whisper_weights_become_the_audio_tower(built, whisper):
    model, _ = built
    tower = model.model.audio_tower.state_dict()
    for key, value in whisper.encoder.state_dict().items():
        if key.startswith("embed_positions"):
            continue
        torch.testing.assert_close(tower[key], value, rtol=0, atol=0, msg=key)
    # ln_post is Whisper's final layer norm
    torch.testing.assert_close(tower["layer_norm.weight"], whisper.encoder.layer_norm.weight, rtol=0, atol=0)
    assert model.config.audio_config.d_model == 32 and model.config.audio_config.encoder_layers == 2


def test_openai_checkpoint_gives_the_same_encoder(built, whisper_pt, qwen_dir):
    model, _ = built
    other = QwenAudioForConditionalGeneration.from_components(audio_encoder=whisper_pt, language_model=qwen_dir,
                                                              tokenizer=built[1].tokenizer)
    assert other.config.text_config.vocab_size == st.PADDED_VOCAB_SIZE
    torch.testing.assert_close(other.lm_head.weight, model.lm_head.weight, rtol=0, atol=0)
    for key, value in model.model.audio_tower.state_dict().items():
        torch.testing.assert_close(other.model.audio_tower.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_builds_directly_in_the_requested_dtype(built, whisper_dir, qwen_dir):
    model, processor = built
    half = QwenAudioForConditionalGeneration.from_components(
        audio_encoder=whisper_dir, language_model=qwen_dir, tokenizer=processor.tokenizer, dtype=torch.bfloat16
    )
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    assert torch.get_default_dtype() == torch.float32  # restored
    known = slice(0, KNOWN_ROWS)  # checkpoint rows: exactly the fp32 values rounded; new rows: their stats in bf16
    torch.testing.assert_close(half.lm_head.weight[known], model.lm_head.weight[known].to(torch.bfloat16), rtol=0, atol=0)
    torch.testing.assert_close(half.lm_head.weight.float(), model.lm_head.weight, rtol=1e-2, atol=1e-4)


def test_qwen_layout_language_model_and_extended_vocabulary(built, source_lm):
    model, processor = built
    assert model.config.text_config.vocab_size == st.PADDED_VOCAB_SIZE
    assert len(processor.tokenizer) == st.VOCAB_SIZE
    assert model.config.audio_start_token_id == st.AUDIO_START_ID == processor.tokenizer.convert_tokens_to_ids("<audio>")
    source = source_lm.model.language_model.state_dict()
    target = model.model.language_model.state_dict()
    for key, value in source.items():
        if key == "embed_tokens.weight":
            continue
        torch.testing.assert_close(target[key], value, rtol=0, atol=0, msg=key)
    embed = target["embed_tokens.weight"]
    torch.testing.assert_close(embed[:KNOWN_ROWS], source["embed_tokens.weight"][:KNOWN_ROWS], rtol=0, atol=0)
    head = model.lm_head.weight.detach()
    torch.testing.assert_close(head[:KNOWN_ROWS], source_lm.lm_head.weight[:KNOWN_ROWS], rtol=0, atol=0)
    # New rows (the audio specials and the padding up to 155947): near the mean of the trained rows, all distinct.
    for table in (embed, head):
        mean, std = table[:KNOWN_ROWS].mean(0), table[:KNOWN_ROWS].std(0)
        new = table[KNOWN_ROWS:]
        assert new.shape[0] == st.PADDED_VOCAB_SIZE - KNOWN_ROWS
        assert ((new - mean).abs() <= 0.1 * std + 1e-6).all()
        assert new[:8].std(0).min() > 0


def test_text_logits_match_the_source_language_model(built, source_lm):
    model, _ = built
    ids = torch.tensor([[1000, 2000, 3000, 151644, 4000]])
    with torch.no_grad():
        ours = model(input_ids=ids).logits[..., :KNOWN_ROWS]
        reference = source_lm(input_ids=ids).logits[..., :KNOWN_ROWS]
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def _sine(seconds, frequency):
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_built_model_trains(built, tmp_path):
    from qwen_audio_hf.training import recipes

    model, processor = built
    rows = [
        {"audio": {"array": _sine(1.0, 440), "sampling_rate": 16000}, "tags": {"task": "keyword", "text_language": "en",
         "output_instruction": "scene"}, "target": "high"},
        {"audio": {"array": _sine(0.8, 110), "sampling_rate": 16000}, "tags": {"task": "keyword", "text_language": "en",
         "output_instruction": "scene"}, "target": "low"},
    ] * 4
    before = {k: v.clone() for k, v in model.model.multi_modal_projector.state_dict().items()}
    result = recipes.pretrain(model, processor, rows, str(tmp_path / "run"), max_steps=8, learning_rate=5e-3,
                              per_device_train_batch_size=4, warmup_steps=0, logging_steps=1, save_strategy="no")
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert len(losses) == 8 and all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    after = model.model.multi_modal_projector.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_any_transformers_causal_lm_with_its_own_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<pad>", "hello", "world", "low", "high"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>")
    torch.manual_seed(0)
    lm = Qwen2ForCausalLM(Qwen2Config(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=4, num_key_value_heads=2)).eval()
    whisper = WhisperModel(WhisperConfig(**TINY_WHISPER_IDS, vocab_size=64, d_model=32, encoder_layers=1, encoder_attention_heads=4,
                                         encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=4,
                                         decoder_ffn_dim=64, max_target_positions=16))
    model, processor = QwenAudioForConditionalGeneration.from_components(
        audio_encoder=whisper, language_model=lm, tokenizer=tokenizer, return_processor=True
    )
    vocab = processor.tokenizer.get_vocab()
    assert all(token in vocab for token in (st.AUDIO_START, st.AUDIO_END, st.AUDIO_PAD, st.IM_START))
    assert model.config.text_config.model_type == "qwen2"
    assert model.config.text_config.vocab_size >= len(processor.tokenizer)
    assert model.config.audio_token_id == vocab[st.AUDIO_PAD]
    torch.testing.assert_close(model.model.language_model.layers[0].mlp.up_proj.weight, lm.model.layers[0].mlp.up_proj.weight)
    inputs = processor(text=["<audio></audio> hello world"], audio=[_sine(1.0, 440)], sampling_rate=16000,
                       return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[-1] == model.config.text_config.vocab_size and torch.isfinite(logits).all()


def test_bad_components_raise_clear_errors(tmp_path, qwen_dir, whisper_dir):
    with pytest.raises(ValueError, match="Whisper"):
        QwenAudioForConditionalGeneration.from_components(audio_encoder=str(tmp_path), language_model=qwen_dir)
    with pytest.raises(TypeError, match="audio_encoder"):
        QwenAudioForConditionalGeneration.from_components(audio_encoder=3, language_model=qwen_dir)
    with pytest.raises(ValueError, match="not a directory"):
        QwenAudioForConditionalGeneration.from_components(audio_encoder=whisper_dir,
                                                          language_model=str(tmp_path / "missing"))
