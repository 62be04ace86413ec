"""Slow, opt-in: the random full-size original-layout folder written by benchmarks/make_full_size_checkpoint.py.

    python benchmarks/make_full_size_checkpoint.py /work/bigckpt/qwen-audio-chat-random
    QWEN_AUDIO_FULL_SIZE_DIR=/work/bigckpt/qwen-audio-chat-random python -m pytest -q tests/modeling/test_full_size.py

The load runs in a fresh process so its peak RSS is its own (the test process already holds torch and more).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FULL_SIZE_DIR = os.environ.get("QWEN_AUDIO_FULL_SIZE_DIR")
pytestmark = pytest.mark.skipif(not FULL_SIZE_DIR, reason="set QWEN_AUDIO_FULL_SIZE_DIR to a full-size folder")

LOAD = r"""
import json, resource, sys, time
import torch
import qwen_audio_hf
import transformers
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
loader = {"auto": transformers.AutoModelForCausalLM, "explicit": QwenAudioForConditionalGeneration}[sys.argv[2]]
start = time.perf_counter()
model = loader.from_pretrained(sys.argv[1], dtype=torch.bfloat16)
seconds = time.perf_counter() - start
text, audio = model.config.text_config, model.config.audio_config
print(json.dumps({
    "class": type(model).__name__,
    "seconds": seconds,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "parameter_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
    "dtypes": sorted({str(p.dtype) for p in model.parameters()}),
    "text": [text.hidden_size, text.num_hidden_layers, text.intermediate_size, text.vocab_size, text.seq_length,
             text.use_dynamic_ntk, text.use_logn_attn, text.tie_word_embeddings],
    "audio": [audio.d_model, audio.encoder_layers, audio.encoder_attention_heads, audio.max_source_positions],
}))
"""


@pytest.mark.parametrize("loader", ["explicit", "auto"])
def test_full_size_folder_loads_by_mmap_within_its_weight_bytes(loader):
    index = json.loads(Path(FULL_SIZE_DIR, "model.safetensors.index.json").read_text())
    weight_bytes = index["metadata"]["total_size"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    result = subprocess.run([sys.executable, "-c", LOAD, FULL_SIZE_DIR, loader], capture_output=True, text=True, env=env,
                            stdin=subprocess.DEVNULL, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["class"] == "QwenAudioForConditionalGeneration"
    assert loaded["dtypes"] == ["torch.bfloat16"]
    # Every weight is there (the sinusoid positions are a buffer, not a parameter) ...
    assert weight_bytes - 1500 * 1280 * 2 <= loaded["parameter_bytes"] <= weight_bytes
    # ... and the load stays within the weight bytes (mmap: nothing is copied into anonymous memory).
    assert loaded["peak_rss_bytes"] <= 1.05 * weight_bytes, loaded
    assert loaded["text"] == [4096, 32, 11008, 155947, 2048, True, True, False]
    assert loaded["audio"] == [1280, 32, 20, 1500]


@pytest.mark.parametrize("loader", ["explicit", "auto"])
def test_full_size_folder_processor_and_chat_template(loader):
    import transformers

    from qwen_audio_hf.processing import QwenAudioProcessor

    processor_class = {"auto": transformers.AutoProcessor, "explicit": QwenAudioProcessor}[loader]
    processor = processor_class.from_pretrained(FULL_SIZE_DIR)
    tokenizer = processor.tokenizer
    assert len(tokenizer) == 155165
    assert tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>", "<audio>"]) == [151644, 151645, 155163]
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    rendered = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n")
    assert processor.feature_extractor.feature_size == 80


LOAD_INT8 = r"""
import json, sys, time
import torch
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration, QwenAudioInt8Config
from qwen_audio_hf.modeling.int8 import Int8Linear
start = time.perf_counter()
model = QwenAudioForConditionalGeneration.from_pretrained(sys.argv[1], quantization_config=QwenAudioInt8Config())
seconds = time.perf_counter() - start
with torch.device("meta"):
    reference = QwenAudioForConditionalGeneration(model.config)
print(json.dumps({
    "seconds": seconds,
    "linear": sum(type(m) is torch.nn.Linear for m in reference.modules()),
    "plain_linear": sum(type(m) is torch.nn.Linear for m in model.modules()),
    "int8_linear": sum(isinstance(m, Int8Linear) and m._packed is not None for m in model.modules()),
}))
"""


def test_full_size_int8_load_stays_under_12_gb_anonymous():
    """The issue's memory goal: quantizing at load never holds the bf16 weights in anonymous memory."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_full_size import run_sampled

    run = run_sampled([sys.executable, "-c", LOAD_INT8, FULL_SIZE_DIR],
                      {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
    assert run["returncode"] == 0, run["stderr_tail"]
    loaded = json.loads(run["stdout"].strip().splitlines()[-1])
    assert loaded["plain_linear"] == 0 and loaded["int8_linear"] == loaded["linear"] > 32 * (7 + 6)
    assert run["peak_rss_anon_gb"] <= 12.0, run
