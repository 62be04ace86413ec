"""from_components peak memory: a bf16 build never materialises an fp32 copy (measured in a fresh process).

A mid-size bf16 language model (transformers layout, sharded) and an fp32 Whisper checkpoint (decoder included)
are assembled with dtype=bfloat16 in a subprocess; its peak resident memory over the build (VmHWM, reset through
/proc/self/clear_refs after a warm-up build that imports everything) must stay below 2x the model's bf16 bytes:
the model itself (1x) plus transient reads; an fp32 copy of the language model would add another ~1.8x on its own.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, WhisperConfig, WhisperModel

PROBE = r"""
import gc, json, re, sys
import torch
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration

def status():
    text = open("/proc/self/status").read()
    return {key: int(re.search(key + r":\s+(\d+) kB", text).group(1)) * 1024 for key in ("VmRSS", "VmHWM")}

whisper, lm, tiny_whisper, tiny_lm = sys.argv[1:5]
QwenAudioForConditionalGeneration.from_components(audio_encoder=tiny_whisper, language_model=tiny_lm)  # imports
gc.collect()
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak (VmHWM) to the current resident size
before = status()["VmRSS"]
model = QwenAudioForConditionalGeneration.from_components(audio_encoder=whisper, language_model=lm, dtype=torch.bfloat16)
peak = status()["VmHWM"]
dtypes = sorted({str(p.dtype) for p in model.parameters()})
model_bytes = 2 * sum(p.numel() for p in model.parameters())  # the model's size in bf16
lm_bytes = 2 * sum(p.numel() for p in model.model.language_model.parameters())
print(json.dumps({"before": before, "peak": peak, "model_bytes": model_bytes, "lm_bytes": lm_bytes, "dtypes": dtypes}))
"""


def _tokenizer(words: int) -> PreTrainedTokenizerFast:
    vocab = {"<unk>": 0, "<pad>": 1, **{f"w{i}": i + 2 for i in range(words - 2)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>")


def _write_parts(root: Path, name: str, hidden: int, layers: int, shard: str) -> tuple[str, str]:
    torch.manual_seed(0)
    whisper = WhisperModel(WhisperConfig(
        vocab_size=51865, num_mel_bins=80, d_model=256, encoder_layers=2, encoder_attention_heads=4,
        encoder_ffn_dim=1024, decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=1024,
        pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=1, max_target_positions=64,
    ))
    whisper_dir = root / f"{name}_whisper"
    whisper.save_pretrained(whisper_dir)  # fp32, decoder included
    lm = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=4096, hidden_size=hidden, intermediate_size=8 * hidden // 3, num_hidden_layers=layers,
        num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, tie_word_embeddings=False,
    )).to(torch.bfloat16)
    lm_dir = root / f"{name}_lm"
    lm.save_pretrained(lm_dir, max_shard_size=shard)
    _tokenizer(4000).save_pretrained(lm_dir)
    return str(whisper_dir), str(lm_dir)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to reset the peak RSS")
def test_bf16_build_peaks_below_two_bf16_models(tmp_path):
    whisper, lm = _write_parts(tmp_path, "mid", hidden=768, layers=8, shard="20MB")
    tiny_whisper, tiny_lm = _write_parts(tmp_path, "tiny", hidden=64, layers=1, shard="20MB")
    assert len(list(Path(lm).glob("*.safetensors"))) > 3  # sharded: one shard is read at a time
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", PROBE, whisper, lm, tiny_whisper, tiny_lm], capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["dtypes"] == ["torch.bfloat16"]
    assert report["lm_bytes"] > 100 * 2**20  # mid-size: the language model dominates (>100 MB in bf16)
    growth = report["peak"] - report["before"]
    assert growth < 2 * report["model_bytes"], report
