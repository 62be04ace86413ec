"""`qwen-audio-hf web` refuses a missing model folder before loading anything, naming the fix."""

from qwen_audio_hf.cli import main


def test_missing_model_folder_and_no_demo_model(tmp_path, monkeypatch, capsys):
    assert main(["web", "--model", str(tmp_path / "nowhere")]) == 2
    assert f"no such folder: {tmp_path / 'nowhere'}" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # no outputs/demo/model here
    assert main(["web"]) == 2
    error = capsys.readouterr().err
    assert "no --model given and no demo model at outputs/demo/model" in error
    assert "qwen-audio-hf demo --output-dir outputs/demo" in error
