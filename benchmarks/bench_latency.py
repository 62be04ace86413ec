"""Latency benchmark: QwenAudio (this package) vs transformers' Qwen2AudioForConditionalGeneration.

Both models are built at equal sizes with random weights (no download), fed the same clip lengths and
prompt lengths, and timed on:
  * the audio encoder alone (batch 1 and 8, clips of 2-30 s), and
  * end to end: prefill (audio + prompt) followed by greedy decoding of a fixed number of tokens.

Qwen2-Audio always encodes a full 30 s window; QwenAudio encodes only up to the longest clip in the batch.

    python benchmarks/bench_latency.py --size small                      # CPU figures
    python benchmarks/bench_latency.py --size full --device cuda --dtype bfloat16 --attn sdpa

Results are printed as a table and, with --output, written as JSON.
"""

import argparse
import json

import torch
from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration
from transformers.masking_utils import create_bidirectional_mask

from qwen_audio_hf import QwenAudioConfig, QwenAudioForConditionalGeneration
from qwen_audio_hf.core.audio_lengths import audio_token_counts

from _common import (  # benchmarks/_common.py
    AUDIO_END,
    AUDIO_PAD,
    AUDIO_START,
    MAX_FRAMES,
    SIZES,
    VOCAB,
    add_common_arguments,
    mel_frames,
    print_row,
    timed,
)

QWEN2_AUDIO_TOKEN = 151646  # any id inside the vocabulary works for a random-weight model


def build(kind: str, size: dict, attn: str, dtype, device):
    """A random-weight model of the given size: this package's QwenAudio or transformers' Qwen2-Audio."""
    audio = dict(
        num_mel_bins=80,
        d_model=size["d_model"],
        encoder_layers=size["enc_layers"],
        encoder_attention_heads=size["enc_heads"],
        encoder_ffn_dim=4 * size["d_model"],
    )
    text = dict(
        vocab_size=VOCAB,
        hidden_size=size["hidden"],
        num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"],
        num_key_value_heads=size["heads"],
        intermediate_size=size["inter"],
    )
    if kind == "ours":
        config = QwenAudioConfig(audio_config=audio, text_config=dict(model_type="qwen_audio_text", **text))
        model_class = QwenAudioForConditionalGeneration
    else:
        config = Qwen2AudioConfig(
            audio_config=audio, text_config=dict(model_type="qwen2", **text), audio_token_index=QWEN2_AUDIO_TOKEN
        )
        model_class = Qwen2AudioForConditionalGeneration
    config._attn_implementation = attn
    with torch.device(device):
        model = model_class(config)
    return model.to(dtype).eval()


def make_batch(kind: str, seconds: float, batch: int, prompt_len: int, device, dtype):
    """Random log-mel features plus token ids laid out the way each model expects."""
    frames = mel_frames(seconds)
    features = torch.randn(batch, 80, MAX_FRAMES, device=device, dtype=dtype)
    mask = torch.zeros(batch, MAX_FRAMES, dtype=torch.long, device=device)
    mask[:, :frames] = 1
    text = torch.randint(0, 150000, (batch, prompt_len), device=device)
    n_audio = audio_token_counts(frames)
    if kind == "ours":
        audio = [AUDIO_START] + [AUDIO_PAD] * n_audio + [AUDIO_END]
    else:
        audio = [QWEN2_AUDIO_TOKEN] * n_audio
    audio_ids = torch.tensor(audio, device=device).expand(batch, -1)
    input_ids = torch.cat([audio_ids, text], dim=1)
    return dict(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        input_features=features,
        feature_attention_mask=mask,
    )


def encoder_call(kind, model, batch):
    """The audio path alone: encoder + projection, as each model runs it inside its forward."""
    features, mask = batch["input_features"], batch["feature_attention_mask"]
    if kind == "ours":
        return lambda: model.model.get_audio_features(features, mask)
    tower = model.model.audio_tower

    def qwen2_audio_features():
        # Qwen2-Audio builds a 4D mask over the full 30 s window and encodes all of it.
        lengths, _ = tower._get_feat_extract_output_lengths(mask.sum(-1))
        max_len = (features.shape[-1] - 2) // 2 + 1
        keep = (torch.arange(max_len, device=features.device)[None, :] < lengths[:, None]).long()
        dummy = torch.zeros(features.shape[0], max_len, 1, dtype=features.dtype, device=features.device)
        attn = create_bidirectional_mask(config=tower.config, inputs_embeds=dummy, attention_mask=keep)
        return model.model.multi_modal_projector(tower(features, attention_mask=attn).last_hidden_state)

    return qwen2_audio_features


def generate_call(model, batch, new_tokens):
    return lambda: model.generate(
        **batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0
    )


@torch.inference_mode()
def run(args):
    dtype = getattr(torch, args.dtype)
    size = SIZES[args.size]
    rows = []
    for kind in ("ours", "qwen2_audio"):
        model = build(kind, size, args.attn, dtype, args.device)
        for batch_size in args.batch_sizes:
            for seconds in args.seconds:
                batch = make_batch(kind, seconds, batch_size, args.prompt_len, args.device, dtype)
                enc_ms = timed(encoder_call(kind, model, batch), args.repeats, args.device)
                e2e_ms = timed(generate_call(model, batch, args.new_tokens), max(1, args.repeats // 2), args.device)
                row = dict(model=kind, batch=batch_size, seconds=seconds, encoder_ms=enc_ms, end_to_end_ms=e2e_ms)
                rows.append(row)
                print_row(kind, batch_size, seconds, enc_ms, e2e_ms, args.new_tokens)
        del model
        if torch.device(args.device).type == "cuda":
            torch.cuda.empty_cache()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--attn", default="sdpa", choices=["eager", "sdpa", "flash_attention_2"])
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = run(args)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(dict(args=vars(args), results=rows), f, indent=2)


if __name__ == "__main__":
    main()
