"""The chat tab in headless chromium: upload + question -> answer, history across turns, clear, regenerate,
separate histories for two browser contexts, a bad file then a good request, the answer streaming in, a
microphone recording (Chromium's fake capture device)."""

import re

import pytest

from .conftest import CHROMIUM, CHROMIUM_ARGS, MAX_AUDIO_S, screenshot

BOT = '#chatbot [data-testid="bot"]'
USER = '#chatbot [data-testid="user"]'


def add_audio(page, path, expect=r"Audio \d+ added"):
    page.locator("#chat-audio input[type=file]").set_input_files(str(path))
    page.locator("#chat-status", has_text=re.compile(expect)).wait_for()


def send(page, text, answers_before):
    page.locator("#chat-text textarea").fill(text)
    page.locator("#chat-send").click()
    page.locator("#chat-status", has_text="Done.").wait_for()
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length > {answers_before}")


def texts(page, selector):
    return [text.strip() for text in page.locator(selector).all_inner_texts()]


def test_upload_ask_second_turn_regenerate_clear(page, files):
    add_audio(page, files / "question.wav")
    send(page, "What is in this audio?", 0)
    first = texts(page, BOT)
    assert len(first) == 1 and first[0]
    assert "Audio 1: question.wav" in texts(page, USER) and "What is in this audio?" in texts(page, USER)

    add_audio(page, files / "second.wav", expect=r"Audio 2 added")
    send(page, "And this one?", 1)
    users = texts(page, USER)
    assert [u for u in users if u.startswith("Audio")] == ["Audio 1: question.wav", "Audio 2: second.wav"]
    assert "What is in this audio?" in users and "And this one?" in users  # the first turn is still shown
    assert len(texts(page, BOT)) == 2 and texts(page, BOT)[0] == first[0]

    screenshot(page, "web_chat")
    page.locator("#chat-regenerate").click()
    page.locator("#chat-status", has_text="Regenerated.").wait_for()
    assert len(texts(page, BOT)) == 2  # the last answer is replaced, not added

    page.locator("#chat-clear").click()
    page.locator("#chat-status", has_text="Conversation cleared.").wait_for()
    assert texts(page, BOT) == [] and texts(page, USER) == []
    send(page, "Hello", 0)  # a fresh conversation: only this turn
    assert texts(page, USER) == ["Hello"] and len(texts(page, BOT)) == 1


def test_two_browser_contexts_keep_separate_histories(browser, server, files):
    pages = []
    for _ in range(2):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(server)
        pages.append(page)
    first, second = pages
    add_audio(first, files / "question.wav")
    for page, text in ((first, "first user question"), (second, "second user question")):  # both at once
        page.locator("#chat-text textarea").fill(text)
        page.locator("#chat-send").click()
    for page in pages:
        page.locator("#chat-status", has_text="Done.").wait_for()
    send(first, "first user follow-up", 1)
    assert [u for u in texts(first, USER) if "user" in u] == ["first user question", "first user follow-up"]
    assert texts(second, USER) == ["second user question"] and len(texts(second, BOT)) == 1
    for page in pages:
        page.context.close()


def test_bad_inputs_give_messages_and_the_next_request_works(page, files):
    page.locator("#chat-send").click()
    page.locator("#chat-status", has_text="nothing to send").wait_for()

    add_audio(page, files / "notes.wav", expect="Error: 'notes.wav' is not audio")
    add_audio(page, files / "empty.wav", expect="Error: 'empty.wav'")
    assert "record again or upload another file" in page.locator("#chat-status").inner_text()
    add_audio(page, files / "long90.wav", expect="Error: 'long90.wav' is 90.0 s long")
    assert f"limit of {MAX_AUDIO_S} s" in page.locator("#chat-status").inner_text()

    page.locator("#chat-regenerate").click()
    page.locator("#chat-status", has_text="no answer to regenerate").wait_for()

    add_audio(page, files / "question.wav")  # the server is still up and the tab still works
    send(page, "What is in this audio?", 0)
    assert texts(page, USER)[0] == "Audio 1: question.wav" and len(texts(page, BOT)) == 1


def test_the_answer_streams_into_the_page(page):
    page.locator("#chatbot").wait_for()
    page.evaluate("""() => {
        window.seenAnswers = [];
        new MutationObserver(() => {
            const bots = document.querySelectorAll('%s');
            const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
            if (text && text !== window.seenAnswers[window.seenAnswers.length - 1]) window.seenAnswers.push(text);
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""" % BOT)
    send(page, "Tell me a long story", 0)
    seen = page.evaluate("window.seenAnswers")
    assert len(seen) >= 3, seen  # the page showed the answer growing, not only the finished one
    assert seen[-1] == texts(page, BOT)[0]


@pytest.fixture
def microphone_page(playwright, server, files):
    """A page in a chromium whose microphone plays talk70.wav (Chromium's fake capture device), access granted."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={files / 'talk70.wav'}"])
    page = browser.new_context(permissions=["microphone"]).new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    yield page
    browser.close()


def test_a_microphone_recording_joins_the_conversation(microphone_page):
    page = microphone_page
    page.locator('#chat-audio button[aria-label="Record audio"]').click()
    page.locator("#chat-audio button", has_text="Record").first.click()
    page.wait_for_timeout(2500)
    page.locator("#chat-audio button", has_text="Stop").first.click()
    page.locator("#chat-status", has_text=re.compile(r"Audio 1 added")).wait_for()
    seconds = float(re.search(r"\(([\d.]+) s\)", page.locator("#chat-status").inner_text()).group(1))
    assert 1.0 < seconds < 15.0  # what was recorded, not an empty clip
    send(page, "What did I say?", 0)
    assert texts(page, USER)[0].startswith("Audio 1: ") and len(texts(page, BOT)) == 1
