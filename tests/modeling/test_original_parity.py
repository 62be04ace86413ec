"""Model parity with the original Qwen-Audio release on tiny original-layout checkpoints.

tests/fixtures/original holds checkpoints written by the original code (weights xz-compressed) and that code's
outputs (logits, greedy continuations, encoder outputs). We load the original layout with our classes, feed our
processor's outputs and compare. The original code itself is never imported.
"""

import json
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from qwen_audio_hf.cli import main as cli_main
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.processing import QwenAudioProcessor

from ..original_fixtures import FIXTURES, materialize_checkpoint

CHECKPOINTS = ("tiny", "tiny_short_seq")
CASES = ("single_audio", "two_audio", "chat", "over_30s", "ntk_boundary")
MULTI_AUDIO_CASES = ("two_audio", "chat")  # the original's encoder output depends on the other clip here
LOGITS_ATOL = 2e-4


def absolute_paths(prompt: str) -> str:
    return prompt.replace("<audio>audio/", f"<audio>{FIXTURES}/audio/")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("original_checkpoints")
    cache = {}

    def get(name):
        if name not in cache:
            path = materialize_checkpoint(name, root)
            model = QwenAudioForConditionalGeneration.from_pretrained(str(path), dtype=torch.float32).eval()
            processor = QwenAudioProcessor.from_pretrained(str(path))
            with np.load(FIXTURES / "reference" / f"{name}_reference.npz") as data:
                arrays = {key: data[key] for key in data.files}
            meta = json.loads((FIXTURES / "reference" / f"{name}_reference.json").read_text(encoding="utf-8"))
            cache[name] = (model, processor, arrays, meta)
        return cache[name]

    return get


@contextmanager
def original_batching(model, enabled: bool = True):
    """Reproduce the original's batch-dependent encoder (`audio_config.batch_invariant=False`) inside the block."""
    config = model.config.audio_config
    saved = config.batch_invariant
    config.batch_invariant = not enabled and saved
    try:
        yield
    finally:
        config.batch_invariant = saved


def run_processor(processor, prompt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 33 s clip warns about the 30 s cap
        return processor(text=absolute_paths(prompt), return_tensors="pt")


def test_original_config_is_translated(loaded):
    model, _, _, _ = loaded("tiny_short_seq")
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.head_dim) == (64, 2, 4, 16)
    assert text.intermediate_size == 128 and text.vocab_size == 155947 and text.seq_length == 32
    assert text.use_dynamic_ntk and text.use_logn_attn
    assert model.config.audio_config.d_model == 32 and model.config.audio_config.encoder_layers == 2


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_prefill_logits_and_greedy_continuation_match_original(loaded, checkpoint, case):
    """Bit-faithful path: multi-audio prompts use the original's batch-dependent encoder (batch_invariant=False)."""
    model, processor, ref, meta = loaded(checkpoint)
    with original_batching(model, enabled=case in MULTI_AUDIO_CASES):
        check_case_against_original(model, processor, ref, meta, case)


def check_case_against_original(model, processor, ref, meta, case):
    batch = run_processor(processor, meta["cases"][case]["prompt"])
    assert batch["input_ids"][0].tolist() == ref[f"{case}__input_ids"].tolist()
    if f"{case}__input_audios" in ref:
        np.testing.assert_allclose(batch["input_features"].numpy(), ref[f"{case}__input_audios"], atol=1e-4, rtol=0)

    with torch.no_grad():
        logits = model(**batch).logits[0]
    subset = torch.from_numpy(ref["vocab_subset"])
    torch.testing.assert_close(logits[:, subset], torch.from_numpy(ref[f"{case}__logits_subset"]), atol=LOGITS_ATOL, rtol=0)
    torch.testing.assert_close(logits[-1], torch.from_numpy(ref[f"{case}__last_logits"]), atol=LOGITS_ATOL, rtol=0)

    with torch.no_grad():
        out = model.generate(**batch, do_sample=False, max_new_tokens=12, output_logits=True, return_dict_in_generate=True)
    new_tokens = out.sequences[0, batch["input_ids"].shape[1]:].tolist()
    assert new_tokens == ref[f"{case}__generated"].tolist()
    step_logits = torch.stack([step[0] for step in out.logits])[:, subset]
    torch.testing.assert_close(step_logits, torch.from_numpy(ref[f"{case}__step_logits_subset"]), atol=LOGITS_ATOL, rtol=0)


def test_audio_encoder_batch_gives_each_clip_the_originals_solo_output(loaded):
    """A batch of a 7.45 s and a 1.3 s clip: each clip's output equals the original encoding that clip alone.

    The original itself is not batch invariant (the shorter clip's conv stem reads the longer clip's frames past
    its end: its batched output differs from its solo output); only the longest clip's batched output is its solo
    output there, and that one is checked against the original's batched output too.
    """
    model, _, ref, meta = loaded("tiny")
    mel_meta = json.loads((FIXTURES / "log_mel.json").read_text())
    frames = {entry["file"]: entry["mel_frames"] for entry in mel_meta.values()}
    features = torch.from_numpy(ref["encoder_batch__input_audios"])
    lengths = torch.tensor([frames[f] for f in meta["encoder_batch"]["audio_files"]])
    mask = (torch.arange(features.shape[-1])[None, :] < lengths[:, None]).long()
    with torch.no_grad():
        batched = model.get_audio_features(features, mask).pooler_output
        alone = [model.get_audio_features(features[i : i + 1], mask[i : i + 1]).pooler_output[0] for i in range(len(lengths))]
    longest = int(lengths.argmax())
    original_batch_gap = max(
        float(np.abs(ref[f"encoder_batch__output_{i}"] - ref[f"encoder_alone__output_{i}"]).max())
        for i in range(len(lengths))
    )
    assert original_batch_gap > 0.1  # the fixture really holds the original's batch dependence
    for i, span in enumerate(meta["encoder_batch"]["audio_span_tokens"]):
        assert batched[i].shape == (span, 64)
        solo = torch.from_numpy(ref[f"encoder_alone__output_{i}"])
        torch.testing.assert_close(batched[i], solo, atol=1e-4, rtol=0)
        torch.testing.assert_close(alone[i], solo, atol=1e-4, rtol=0)
        torch.testing.assert_close(batched[i], alone[i], atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[longest], torch.from_numpy(ref[f"encoder_batch__output_{longest}"]),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_batch_invariant_multi_audio_prompt_is_the_original_lm_on_solo_encodings(loaded, checkpoint):
    """Default (batch-invariant) encoder on a prompt with a 1.3 s and a 7.45 s clip: the logits equal the original's
    language model fed the original's solo encoding of each clip (its `encoder_alone` outputs)."""
    model, processor, ref, meta = loaded(checkpoint)
    tiny_ref = loaded("tiny")[2]
    batch = run_processor(processor, meta["cases"]["two_audio"]["prompt"])
    solo = {  # the encoder_batch fixture holds the same two clips, 7.45 s first
        "audio/noise_bursts_7p45s.wav": torch.from_numpy(tiny_ref["encoder_alone__output_0"]),
        "audio/tone_1p3s.wav": torch.from_numpy(tiny_ref["encoder_alone__output_1"]),
    }
    assert loaded("tiny")[3]["encoder_batch"]["audio_files"] == list(solo)
    ids = batch["input_ids"]
    starts = (ids[0] == model.config.audio_start_token_id).nonzero().flatten().tolist()
    clips = ["audio/tone_1p3s.wav", "audio/noise_bursts_7p45s.wav"]  # order of appearance in the prompt
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids).clone()
        for start, clip in zip(starts, clips):
            embeds[0, start : start + solo[clip].shape[0]] = solo[clip]
        expected = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits
        invariant = model(**batch).logits
        with original_batching(model):
            original = model(**batch).logits
    torch.testing.assert_close(invariant, expected, atol=LOGITS_ATOL, rtol=0)
    assert (invariant - original).abs().max() > 1e-2  # the two encoders really differ on this prompt


def test_left_padded_batch_reproduces_original_single_sample_outputs(loaded):
    """Rows of a left-padded batch must match the original's unpadded single-sample outputs (seq_length 32:
    per-row NTK alpha from the real length (15 and 7 here), log-n and rope positions from the attention mask).

    The original's encoder batches the chat prompt's 1.3 s clip with 3 s clips: run with its batching
    (batch_invariant=False); in both prompts the longest clip is the 3 s one, so the batch changes nothing else.
    """
    model, processor, ref, meta = loaded("tiny_short_seq")
    cases = ("chat", "single_audio")
    batch = processor(text=[absolute_paths(meta["cases"][c]["prompt"]) for c in cases], padding=True,
                      padding_side="left", return_tensors="pt")
    subset = torch.from_numpy(ref["vocab_subset"])
    with torch.no_grad(), original_batching(model):
        logits = model(**batch).logits
        out = model.generate(**batch, do_sample=False, max_new_tokens=12)
    width = batch["input_ids"].shape[1]
    for row, case in enumerate(cases):
        length = len(ref[f"{case}__input_ids"])
        assert batch["input_ids"][row, width - length :].tolist() == ref[f"{case}__input_ids"].tolist()
        torch.testing.assert_close(logits[row, width - length :][:, subset], torch.from_numpy(ref[f"{case}__logits_subset"]),
                                   atol=LOGITS_ATOL, rtol=0)
        assert out[row, width:].tolist() == ref[f"{case}__generated"].tolist()


def test_converted_native_checkpoint_keeps_original_outputs(loaded, tmp_path):
    """`qwen-audio-hf convert` output (native layout + processor files) reproduces the original's numbers."""
    _, _, ref, meta = loaded("tiny_short_seq")
    source = tmp_path / "src"
    source.mkdir()
    source = materialize_checkpoint("tiny_short_seq", source)
    assert cli_main(["convert", str(source), str(tmp_path / "native")]) == 0
    native_config = json.loads((tmp_path / "native" / "config.json").read_text())
    assert native_config["model_type"] == "qwen_audio"
    model = QwenAudioForConditionalGeneration.from_pretrained(str(tmp_path / "native"), dtype=torch.float32).eval()
    processor = QwenAudioProcessor.from_pretrained(str(tmp_path / "native"))
    case = "ntk_boundary"
    batch = run_processor(processor, meta["cases"][case]["prompt"])
    assert batch["input_ids"][0].tolist() == ref[f"{case}__input_ids"].tolist()
    with torch.no_grad():
        logits = model(**batch).logits[0]
        generated = model.generate(**batch, do_sample=False, max_new_tokens=12)[0, batch["input_ids"].shape[1]:]
    subset = torch.from_numpy(ref["vocab_subset"])
    torch.testing.assert_close(logits[:, subset], torch.from_numpy(ref[f"{case}__logits_subset"]), atol=LOGITS_ATOL, rtol=0)
    assert generated.tolist() == ref[f"{case}__generated"].tolist()
