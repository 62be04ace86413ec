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
import sys
import tempfile

import torch

from _common import (  # benchmarks/_common.py
    AUDIO_END,
    AUDIO_PAD,
    AUDIO_START,
    MAX_FRAMES,
    SIZES,
    audio_lengths,
    VOCAB,
    add_common_arguments,
    mel_frames,
    print_row,
    timed,
)

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
    frames = mel_frames(seconds)
    t_cnn = audio_lengths.conv_output_lengths(frames)
    tokens = audio_lengths.audio_token_counts(frames)
    audio_info = dict(
        input_audios=torch.randn(batch, 80, MAX_FRAMES, device=device),
        input_audio_lengths=torch.tensor([[t_cnn, tokens]] * batch, dtype=torch.int32, device=device),
        audio_span_tokens=[tokens + 2] * batch,
    )
    audio_ids = torch.tensor([AUDIO_START] + [AUDIO_PAD] * tokens + [AUDIO_END], device=device)
    text = torch.randint(0, 150000, (batch, prompt_len), device=device)
    input_ids = torch.cat([audio_ids.expand(batch, -1), text], dim=1)
    return input_ids, audio_info


@torch.inference_mode()
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original-code", required=True)
    add_common_arguments(parser)
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
            print_row("original", batch, seconds, enc_ms, e2e_ms, args.new_tokens)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(dict(args=vars(args), results=rows), f, indent=2)


if __name__ == "__main__":
    main()
