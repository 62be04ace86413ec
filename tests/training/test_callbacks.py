"""The loss-curve PNG: drawn with matplotlib (the [demo] extra), skipped with a warning without it."""

import logging
import sys

from qwen_audio_hf.training.callbacks import plot_loss_curve

HISTORY = [{"loss": 2.0, "step": 1}, {"loss": 1.5, "step": 2}, {"eval_loss": 1.7, "step": 2}]


def test_loss_curve_is_a_png(tmp_path):
    path = plot_loss_curve(HISTORY, str(tmp_path / "curve.png"))
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert plot_loss_curve([{"train_runtime": 1.0}], str(tmp_path / "none.png")) is None


def test_without_matplotlib_no_png_and_a_warning_naming_the_extra(tmp_path, monkeypatch, caplog):
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... raises ImportError
    with caplog.at_level(logging.WARNING, logger="qwen_audio_hf.training.callbacks"):
        assert plot_loss_curve(HISTORY, str(tmp_path / "curve.png")) is None
    assert not (tmp_path / "curve.png").exists()
    assert "qwen-audio-hf[demo]" in caplog.text
