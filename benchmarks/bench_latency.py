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
import statistics
import time

import torch
from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration
from transformers.masking_utils import create_bidirectional_mask

from qwen_audio_hf import QwenAudioConfig, QwenAudioForConditionalGeneration
from qwen_audio_hf.modeling.modeling_qwen_audio_encoder import audio_token_counts

SAMPLE_RATE = 16000
HOP = 160
MAX_FRAMES = 3000

# Sizes: "full" is Qwen-Audio's (Whisper-large-v2 encoder + Qwen-7B decoder).
SIZES = {
    "tiny": dict(d_model=64, enc_layers=2, enc_heads=4, hidden=128, layers=2, heads=4, inter=256),
    "small": dict(d_model=384, enc_layers=4, enc_heads=6, hidden=512, layers=4, heads=8, inter=1376),
    "full": dict(d_model=1280, enc_layers=32, enc_heads=20, hidden=4096, layers=32, heads=32, inter=11008),
}
VOCAB = 155947
AUDIO_PAD, AUDIO_START, AUDIO_END = 151851, 155163, 155164
QWEN2_AUDIO_TOKEN = 151646  # any id inside the vocabulary works for a random-weight model


def build_ours(size: dict, attn: str, dtype, device):
    config = QwenAudioConfig(
        audio_config=dict(
            num_mel_bins=80,
            d_model=size["d_model"],
            encoder_layers=size["enc_layers"],
            encoder_attention_heads=size["enc_heads"],
            encoder_ffn_dim=4 * size["d_model"],
        ),
        text_config=dict(
            model_type="qwen_audio_text",
            vocab_size=VOCAB,
            hidden_size=size["hidden"],
            num_hidden_layers=size["layers"],
            num_attention_heads=size["heads"],
            num_key_value_heads=size["heads"],
            intermediate_size=size["inter"],
        ),
    )
    config._attn_implementation = attn
    with torch.device(device):
        model = QwenAudioForConditionalGeneration(config)
    return model.to(dtype).eval()


def build_qwen2_audio(size: dict, attn: str, dtype, device):
    config = Qwen2AudioConfig(
        audio_config=dict(
            num_mel_bins=80,
            d_model=size["d_model"],
            encoder_layers=size["enc_layers"],
            encoder_attention_heads=size["enc_heads"],
            encoder_ffn_dim=4 * size["d_model"],
        ),
        text_config=dict(
            model_type="qwen2",
            vocab_size=VOCAB,
            hidden_size=size["hidden"],
            num_hidden_layers=size["layers"],
            num_attention_heads=size["heads"],
            num_key_value_heads=size["heads"],
            intermediate_size=size["inter"],
        ),
        audio_token_index=QWEN2_AUDIO_TOKEN,
    )
    config._attn_implementation = attn
    with torch.device(device):
        model = Qwen2AudioForConditionalGeneration(config)
    return model.to(dtype).eval()


def make_batch(kind: str, seconds: float, batch: int, prompt_len: int, device, dtype):
    """Random log-mel features plus token ids laid out the way each model expects."""
    frames = min(int(seconds * SAMPLE_RATE) // HOP, MAX_FRAMES)
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


def timed(fn, repeats: int, device) -> float:
    """Median wall time in milliseconds over `repeats` runs after one warm-up."""
    def sync():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


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
    for kind, builder in (("ours", build_ours), ("qwen2_audio", build_qwen2_audio)):
        model = builder(size, args.attn, dtype, args.device)
        for batch_size in args.batch_sizes:
            for seconds in args.seconds:
                batch = make_batch(kind, seconds, batch_size, args.prompt_len, args.device, dtype)
                enc_ms = timed(encoder_call(kind, model, batch), args.repeats, args.device)
                e2e_ms = timed(generate_call(model, batch, args.new_tokens), max(1, args.repeats // 2), args.device)
                row = dict(model=kind, batch=batch_size, seconds=seconds, encoder_ms=enc_ms, end_to_end_ms=e2e_ms)
                rows.append(row)
                print(
                    f"{kind:12s} batch={batch_size:2d} clip={seconds:5.1f}s  encoder {enc_ms:9.1f} ms"
                    f"  prefill+{args.new_tokens} greedy {e2e_ms:9.1f} ms",
                    flush=True,
                )
        del model
        if torch.device(args.device).type == "cuda":
            torch.cuda.empty_cache()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--attn", default="sdpa", choices=["eager", "sdpa", "flash_attention_2"])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2, 5, 10, 30])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = run(args)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(dict(args=vars(args), results=rows), f, indent=2)


if __name__ == "__main__":
    main()
