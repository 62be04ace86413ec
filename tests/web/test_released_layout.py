"""`qwen-audio-hf web --model DIR --quantization int8` on a folder in the released (original) layout: the page loads
it like `transcribe` does, chats, and its transcript download equals `transcribe --quantization int8`'s file."""

import pytest

from qwen_audio_hf.cli import main

from ..modeling.original_layout import write_original_checkpoint
from ..tiny_models import tiny_model
from .conftest import web_server
from .test_chat_tab import BOT, add_audio, send
from .test_transcribe_tab import transcribe_in_page


@pytest.fixture(scope="module")
def released_dir(tmp_path_factory):
    return write_original_checkpoint(tiny_model(seed=3), str(tmp_path_factory.mktemp("released") / "Qwen-Audio"))


@pytest.fixture(scope="module")
def released_server(released_dir, tmp_path_factory):
    with web_server(released_dir, tmp_path_factory.mktemp("released_server"), "--quantization", "int8",
                    "--device", "cpu", "--max-new-tokens", "8") as url:
        yield url


def test_released_folder_int8_chats_and_transcribes_like_the_cli(browser, released_server, released_dir, files,
                                                                 tmp_path):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(released_server)
    add_audio(page, files / "question.wav")
    send(page, "What is in this audio?", 0)
    assert page.locator(BOT).count() == 1

    transcribe_in_page(page, files / "question.wav")
    page.locator("#tr-status", has_text="question.wav: 2.0 s, 1 windows").wait_for()
    with page.expect_download() as info:
        page.locator('#tr-files a[download="question.txt"]').click()
    info.value.save_as(tmp_path / "page.txt")
    context.close()

    assert main(["transcribe", str(files / "question.wav"), "--model", released_dir, "--quantization", "int8",
                 "--device", "cpu", "--format", "txt", "--output-dir", str(tmp_path / "cli"), "--no-progress"]) == 0
    page_text = (tmp_path / "page.txt").read_text()
    assert page_text.strip() and page_text == (tmp_path / "cli" / "question.txt").read_text()
