"""The vLLM checks run only in vLLM's environment, against a reference built by `tests.serving.build_reference`."""

import json
import os
from pathlib import Path

import pytest

REFERENCE_ENV = "QWEN_AUDIO_VLLM_REFERENCE"


@pytest.fixture(scope="session")
def reference() -> dict:
    directory = os.environ.get(REFERENCE_ENV)
    if not directory:
        pytest.skip(f"set {REFERENCE_ENV} to a directory built by `python -m tests.serving.build_reference` (.ci/vllm_check.sh does)")
    return json.loads((Path(directory) / "reference.json").read_text())
