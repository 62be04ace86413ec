"""The transcribe tab in headless chromium: a 70 s recording -> segments, timeline, downloads equal to the CLI's
files for the same recording; clicking a segment plays it; a bad file then a good request."""

import io

import numpy as np
import pytest
import soundfile

from qwen_audio_hf.cli import main
from qwen_audio_hf.core.command_options import OUTPUT_FORMATS

from .conftest import screenshot


def clock(seconds):
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def transcribe_in_page(page, path):
    page.get_by_role("tab", name="Transcribe").click()
    page.locator("#tr-audio input[type=file]").set_input_files(str(path))
    page.locator("#tr-run").click()


def test_long_recording_segments_and_downloads_match_the_cli(page, files, model_dir, tmp_path):
    transcribe_in_page(page, files / "talk70.wav")
    page.locator("#tr-status", has_text="segments").wait_for()
    assert "70.0 s, 3 windows" in page.locator("#tr-status").inner_text()
    page.locator("#tr-timeline img, #tr-timeline canvas, #tr-timeline svg").first.wait_for()

    downloaded = {}
    for fmt in OUTPUT_FORMATS:
        with page.expect_download() as info:
            page.locator(f'#tr-files a[download="talk70.{fmt}"]').click()
        target = tmp_path / "page" / f"talk70.{fmt}"
        info.value.save_as(target)
        downloaded[fmt] = target.read_text(encoding="utf-8")

    for fmt in OUTPUT_FORMATS:
        assert main(["transcribe", str(files / "talk70.wav"), "--model", model_dir, "--format", fmt,
                     "--output-dir", str(tmp_path / "cli"), "--no-progress"]) == 0
        cli = (tmp_path / "cli" / f"talk70.{fmt}").read_text(encoding="utf-8")
        if fmt == "json":  # the CLI labels the recording by the path it was given, the page by the file name
            cli = cli.replace(str(files / "talk70.wav"), "talk70.wav")
        assert downloaded[fmt] == cli, fmt

    cue_times = [line for line in downloaded["srt"].splitlines() if " --> " in line]
    rows = page.locator("#tr-segments [role=row]:not([aria-rowindex='1'])")  # row 1 is the header
    assert cue_times and rows.count() == len(cue_times)
    for row, cue in zip(rows.all(), cue_times):  # the page's segments are the srt's cues
        start, end = (float(value) for value in row.inner_text().split("\n")[:2])
        assert cue == f"{clock(start)} --> {clock(end)}"

    rows.nth(1).click()  # click a segment: its stretch of the recording is loaded into the player
    start, end = (float(value) for value in rows.nth(1).inner_text().split("\n")[:2])
    link = page.locator(f'#tr-clip a[download="segment2_{start:.2f}-{end:.2f}.wav"]')
    link.wait_for()
    clip, rate = soundfile.read(io.BytesIO(page.request.get(link.get_attribute("href")).body()), dtype="float32")
    whole, _ = soundfile.read(str(files / "talk70.wav"), dtype="float32")
    assert rate == 16000 and clip.shape[0] == round((end - start) * rate)
    np.testing.assert_array_equal(clip, whole[round(start * rate) : round(end * rate)])
    screenshot(page, "web_transcribe")


def test_bad_file_then_good_request(page, files):
    transcribe_in_page(page, files / "notes.wav")
    page.locator("#tr-status", has_text="Error").wait_for()
    assert "notes.wav" in page.locator("#tr-status").inner_text()
    page.locator("#tr-audio input[type=file]").set_input_files(str(files / "question.wav"))
    page.locator("#tr-run").click()
    page.locator("#tr-status", has_text="question.wav: 2.0 s, 1 windows").wait_for()


@pytest.mark.parametrize("task, options, cli_options", [
    ("s2tt", {"#tr-target": "zh"}, ["--task", "s2tt", "--target-language", "zh"]),
    ("caption", {}, ["--task", "caption"]),
    ("asr", {"#tr-timestamps": True}, ["--timestamps"]),
])
def test_other_tasks_download_what_the_cli_writes(page, files, model_dir, tmp_path, task, options, cli_options):
    page.get_by_role("tab", name="Transcribe").click()
    page.locator("#tr-task").get_by_label(task).check()
    for selector, value in options.items():
        if value is True:
            page.locator(f"{selector} input").check()
        else:
            page.locator(f"{selector} input").fill(value)
            page.locator(f"{selector} input").press("Enter")
    page.locator("#tr-audio input[type=file]").set_input_files(str(files / "question.wav"))
    page.locator("#tr-run").click()
    page.locator("#tr-status", has_text="question.wav: 2.0 s, 1 windows").wait_for()
    with page.expect_download() as info:
        page.locator('#tr-files a[download="question.json"]').click()
    info.value.save_as(tmp_path / "page.json")

    def cli_json(options, folder):
        assert main(["transcribe", str(files / "question.wav"), "--model", model_dir, *options, "--format", "json",
                     "--output-dir", str(folder), "--no-progress"]) == 0
        return (folder / "question.json").read_text().replace(str(files / "question.wav"), "question.wav")

    page_json = (tmp_path / "page.json").read_text()
    assert page_json == cli_json(cli_options, tmp_path / "cli")
    assert page_json != cli_json([], tmp_path / "asr")  # the setting reached the model: not the plain asr output
