"""`qwen-audio-hf transcribe`: JSON schema, every --format, a bad file among good ones."""

import json

import numpy as np
import pytest
import soundfile

from qwen_audio_hf.cli import main

from .signals import SR, recording


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("audio")
    long = recording([(0.5, 3.0), (4.2, 6.8), (8.6, 12.3)], 13.0)
    stereo = np.stack([long, 0.5 * long], axis=1)
    soundfile.write(directory / "talk.flac", stereo, 44100 // 2)  # 22.05 kHz stereo, read as such
    soundfile.write(directory / "quiet.wav", np.zeros(4 * SR, np.float32), SR)
    (directory / "broken.wav").write_bytes(b"RIFF0000WAVEfmt garbage")
    return directory


def _run(files, out, *extra):
    return main(["transcribe", *map(str, files), "--model", out[0], "--chunk-length-s", "5", "--max-new-tokens", "3",
                 "--output-dir", str(out[1]), "--no-progress", *extra])


def test_json_schema_and_a_bad_file_among_good_ones(model_dir, audio_files, tmp_path, capsys):
    files = [audio_files / "talk.flac", audio_files / "broken.wav", audio_files / "quiet.wav"]
    assert _run(files, (model_dir, tmp_path), "--timestamps") == 1
    err = capsys.readouterr().err
    assert "broken.wav" in err and "1 of 3" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quiet.json", "talk.json"]
    talk = json.loads((tmp_path / "talk.json").read_text())
    assert set(talk) == {"audio", "duration_s", "text", "windows", "words"}
    assert talk["audio"] == str(files[0]) and talk["duration_s"] == pytest.approx(13.0 * SR / 22050, abs=1e-4)
    windows = talk["windows"]
    assert all(set(w) == {"start_s", "end_s", "text"} for w in windows)
    assert windows[0]["start_s"] == 0.0 and windows[-1]["end_s"] == talk["duration_s"]
    assert all(a["end_s"] == b["start_s"] for a, b in zip(windows, windows[1:]))
    assert all(isinstance(w["text"], str) and w["text"] == w["text"].strip() for w in windows)
    assert all(set(w) == {"text", "start_s", "end_s"} for w in talk["words"])
    quiet = json.loads((tmp_path / "quiet.json").read_text())
    assert quiet["text"] == "" and quiet["words"] == [] and quiet["windows"] == [
        {"start_s": 0.0, "end_s": 4.0, "text": ""}]


def test_every_format(model_dir, audio_files, tmp_path):
    talk = audio_files / "talk.flac"
    assert _run([talk], (model_dir, tmp_path / "j")) == 0
    data = json.loads((tmp_path / "j" / "talk.json").read_text())
    assert "words" not in data
    for fmt in ("txt", "srt", "vtt"):
        assert _run([talk], (model_dir, tmp_path / fmt), "--format", fmt) == 0
    assert (tmp_path / "txt" / "talk.txt").read_text() == data["text"] + "\n"
    cues = [w for w in data["windows"] if w["text"]]
    srt = (tmp_path / "srt" / "talk.srt").read_text().strip().split("\n\n")
    assert len(srt) == len(cues) and srt[0].splitlines()[0] == "1"
    assert srt[0].splitlines()[1] == "00:00:00,000 --> " + _clock(cues[0]["end_s"], ",")
    assert srt[0].splitlines()[2] == cues[0]["text"]
    vtt = (tmp_path / "vtt" / "talk.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n") and _clock(cues[-1]["start_s"], ".") in vtt


def _clock(seconds, separator):
    millis = round(seconds * 1000)
    return f"{millis // 3600000:02d}:{millis // 60000 % 60:02d}:{millis // 1000 % 60:02d}{separator}{millis % 1000:03d}"


def test_bad_arguments_exit_2_with_a_message(model_dir, audio_files, tmp_path, capsys):
    talk = audio_files / "talk.flac"
    assert _run([talk], (model_dir, tmp_path), "--task", "s2tt") == 2
    assert "--target-language" in capsys.readouterr().err
    assert _run([talk], (str(tmp_path / "nope"), tmp_path)) == 2
    assert f"no such folder: {tmp_path / 'nope'}" in capsys.readouterr().err
    assert _run([talk], (model_dir, tmp_path), "--chunk-length-s", "45") == 2
    assert "at most 30" in capsys.readouterr().err


def test_int8_quantization_runs_every_linear_layer_in_int8(model_dir, audio_files, tmp_path, monkeypatch):
    from qwen_audio_hf.modeling.int8 import Int8Linear

    calls = []
    original_forward = Int8Linear.forward
    monkeypatch.setattr(Int8Linear, "forward", lambda self, x: calls.append(1) or original_forward(self, x))
    talk = audio_files / "talk.flac"
    assert _run([talk], (model_dir, tmp_path), "--quantization", "int8", "--device", "cpu") == 0
    data = json.loads((tmp_path / "talk.json").read_text())
    assert set(data) == {"audio", "duration_s", "text", "windows"} and len(data["windows"]) >= 3
    assert calls  # the windows were decoded by int8 layers
