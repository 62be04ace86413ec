"""Latency of the ORIGINAL Qwen-Audio remote code, with the same sizes and inputs as bench_latency.py.

The original code is not part of this repository. Point --original-code at a checkout of the
official Qwen-Audio repository (the folder holding modeling_qwen.py, audio.py, configuration_qwen.py)
and run this script in an environment with transformers==4.32.0, tiktoken and einops:

    python benchmarks/bench_original.py --original-code /path/to/Qwen-Audio --size small

Only the model code is used (random weights, no tokenizer, no download).
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time

import torch

SIZES = {
    "tiny": dict(d_model=64, enc_layers=2, enc_heads=4, hidden=128, layers=2, heads=4, inter=256),
    "small": dict(d_model=384, enc_layers=4, enc_heads=6, hidden=512, layers=4, heads=8, inter=1376),
    "full": dict(d_model=1280, enc_layers=32, enc_heads=20, hidden=4096, layers=32, heads=32, inter=11008),
}
VOCAB = 155947
AUDIO_PAD, AUDIO_START, AUDIO_END = 151851, 155163, 155164
MAX_FRAMES = 3000


def import_original(code_dir: str):
    """Import the original files as a package (they use relative imports)."""
    root = tempfile.mkdtemp()
    package = os.path.join(root, "qwen_audio_original")
    os.symlink(os.path.abspath(code_dir), package)
    sys.path.insert(0, root)
    return importlib.import_module("qwen_audio_original.modeling_qwen"), importlib.import_module(
        "qwen_audio_original.configuration_qwen"
    )


def build(code_dir: str, size: dict, dtype: str, device: str):
    modeling, configuration = import_original(code_dir)
    config = configuration.QWenConfig(
        vocab_size=VOCAB,
        hidden_size=size["hidden"],
        num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"],
        kv_channels=size["hidden"] // size["heads"],
        intermediate_size=2 * size["inter"],  # the original's MLP width is half of this field
        layer_norm_epsilon=1e-5,
        seq_length=2048,
        use_flash_attn=False,
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
        fp32=dtype == "float32",
        audio=dict(
            n_mels=80, n_ctx=1500, n_state=size["d_model"], n_head=size["enc_heads"], n_layer=size["enc_layers"],
            output_dim=size["hidden"], avg_pool=True, add_audio_bos_eos_token=True, audio_start_id=AUDIO_START,
        ),
    )
    with torch.device(device):
        model = modeling.QWenLMHeadModel(config)
    return model.to(getattr(torch, dtype)).eval()


def make_inputs(seconds: float, batch: int, prompt_len: int, device: str):
    frames = min(int(seconds * 16000) // 160, MAX_FRAMES)
    t_cnn = (frames - 1) // 2 + 1
    tokens = (t_cnn - 2) // 2 + 1
    audio_info = dict(
        input_audios=torch.randn(batch, 80, MAX_FRAMES, device=device),
        input_audio_lengths=torch.tensor([[t_cnn, tokens]] * batch, dtype=torch.int32, device=device),
        audio_span_tokens=[tokens + 2] * batch,
    )
    audio_ids = torch.tensor([AUDIO_START] + [AUDIO_PAD] * tokens + [AUDIO_END], device=device)
    text = torch.randint(0, 150000, (batch, prompt_len), device=device)
    input_ids = torch.cat([audio_ids.expand(batch, -1), text], dim=1)
    return input_ids, audio_info


def timed(fn, repeats, device):
    def sync():
        if device.startswith("cuda"):
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


@torch.inference_mode()
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original-code", required=True)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--seconds", type=float, nargs="+", default=[2, 5, 10, 30])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build(args.original_code, SIZES[args.size], args.dtype, args.device)
    rows = []
    for batch in args.batch_sizes:
        for seconds in args.seconds:
            input_ids, audio_info = make_inputs(seconds, batch, args.prompt_len, args.device)
            encode = lambda: model.transformer.audio.encode(  # noqa: E731
                audio_info["input_audios"], audio_info["input_audio_lengths"], audio_info["audio_span_tokens"]
            )
            generate = lambda: model.generate(  # noqa: E731
                input_ids, audio_info=audio_info, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                do_sample=False, pad_token_id=0, eos_token_id=0,
            )
            enc_ms = timed(encode, args.repeats, args.device)
            e2e_ms = timed(generate, max(1, args.repeats // 2), args.device)
            rows.append(dict(model="original", batch=batch, seconds=seconds, encoder_ms=enc_ms, end_to_end_ms=e2e_ms))
            print(
                f"{'original':12s} batch={batch:2d} clip={seconds:5.1f}s  encoder {enc_ms:9.1f} ms"
                f"  prefill+{args.new_tokens} greedy {e2e_ms:9.1f} ms",
                flush=True,
            )
    if args.output:
        with open(args.output, "w") as f:
            json.dump(dict(args=vars(args), results=rows), f, indent=2)


if __name__ == "__main__":
    main()
