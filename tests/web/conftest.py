"""`qwen-audio-hf web` on 127.0.0.1 with a tiny random model, driven by Debian's headless chromium via Playwright.

Where chromium, Playwright or Gradio is missing the tests skip, saying why, unless QWEN_AUDIO_HF_REQUIRE_BROWSER=1
(set by .ci/run, which installs all three): then they fail.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import soundfile

SR = 16000
CHROMIUM = os.environ.get("QWEN_AUDIO_HF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MAX_AUDIO_S = 80  # the server's --max-audio-s: the 70 s recording passes, a 90 s one is refused


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed (apt-get install -y chromium; .ci/run does this)"
    for module in ("playwright", "gradio"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[web]' playwright; .ci/run does this)"
    return None


def pytest_runtest_setup(item):
    reason = _missing()
    if reason and os.environ.get("QWEN_AUDIO_HF_REQUIRE_BROWSER") == "1":
        pytest.fail(f"QWEN_AUDIO_HF_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)


def noise(seconds, seed=0, level=0.3):
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """A short question clip, a 70 s recording (sound with pauses), a too-long one, an empty one, a non-audio file."""
    directory = tmp_path_factory.mktemp("web_audio")
    soundfile.write(directory / "question.wav", noise(2.0), SR)
    soundfile.write(directory / "second.wav", noise(1.5, seed=1), SR)
    talk = np.zeros(70 * SR, np.float32)
    for start, end in [(1, 12), (14, 29), (33, 47), (52, 68)]:
        talk[start * SR : end * SR] = noise(end - start, seed=start)
    soundfile.write(directory / "talk70.wav", talk, SR)
    soundfile.write(directory / "long90.wav", np.zeros(90 * SR, np.float32), SR)
    soundfile.write(directory / "empty.wav", np.zeros(0, np.float32), SR)  # a recording stopped at once
    (directory / "notes.wav").write_text("these are meeting notes, not audio\n")
    return directory


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    from qwen_audio_hf.processing import QwenAudioFeatureExtractor, QwenAudioProcessor
    from qwen_audio_hf.processing.tokenization_qwen_audio import QwenAudioTokenizer

    from ..tiny_models import tiny_decoding_model

    directory = tmp_path_factory.mktemp("web_tiny_model")
    tiny_decoding_model().save_pretrained(directory)
    QwenAudioProcessor(QwenAudioFeatureExtractor(), QwenAudioTokenizer()).save_pretrained(directory)
    return str(directory)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def web_server(model_dir, log_dir, *options):
    """`qwen-audio-hf web --model DIR OPTIONS` as README starts it, in its own process on a free port; yields its
    URL and stops it on exit (its log is shown if it does not come up)."""
    port = _free_port()
    log = open(os.path.join(log_dir, "server.log"), "w+")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "qwen_audio_hf.cli", "web", "--model", model_dir,
                                "--port", str(port), *options], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    pytest.fail(f"the web server did not start:\n{log.read()[-4000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def server(model_dir, tmp_path_factory):
    """The app on the tiny converted model, shared by the chat and transcribe tests; yields its URL."""
    with web_server(model_dir, tmp_path_factory.mktemp("web_server"), "--max-audio-s", str(MAX_AUDIO_S),
                    "--max-new-tokens", "16", "--concurrency", "2") as url:
        yield url


def screenshot(page, name):
    """Save a full-page screenshot as QWEN_AUDIO_HF_SCREENSHOTS/<name>.png when that variable names a folder
    (how docs/web_*.png are made); nothing otherwise."""
    folder = os.environ.get("QWEN_AUDIO_HF_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


@pytest.fixture(scope="session")
def playwright():
    """The one Playwright driver of the session (a second one cannot run beside it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    yield page
    context.close()
