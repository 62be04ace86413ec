"""Trainer callbacks: a loss-curve PNG written next to the checkpoints (matplotlib Agg canvas, no pyplot).

matplotlib comes with the ``[demo]`` extra; without it no PNG is written (a warning says how to get it)."""

from __future__ import annotations

import logging
import os
from typing import Sequence

from transformers import TrainerCallback

LOSS_CURVE_FILENAME = "loss_curve.png"
logger = logging.getLogger(__name__)


def plot_loss_curve(log_history: Sequence[dict], path: str, title: str = "training loss") -> str | None:
    """Plot ``loss`` (and ``eval_loss`` if logged) against ``step`` into a PNG; returns the path, or None if the
    history has no loss entries yet or matplotlib is not installed."""
    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry and "step" in entry]
    evals = [(entry["step"], entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    if not train and not evals:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning("no %s: matplotlib is not installed (pip install 'qwen-audio-hf[demo]')", os.path.basename(path))
        return None

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for points, label, style in ((train, "train loss", "-o"), (evals, "eval loss", "-s")):
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, style, markersize=3, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path)
    return path


class LossCurveCallback(TrainerCallback):
    """Rewrite ``<output_dir>/loss_curve.png`` from the trainer's log history at every save and at the end.

    The history includes the steps restored from a checkpoint, so a resumed run draws the whole curve.
    Only the main process writes.
    """

    def __init__(self, filename: str = LOSS_CURVE_FILENAME, title: str = "training loss"):
        self.filename = filename
        self.title = title
        self.path: str | None = None

    def _write(self, args, state) -> None:
        if state.is_world_process_zero:
            self.path = plot_loss_curve(state.log_history, os.path.join(args.output_dir, self.filename), self.title)

    def on_save(self, args, state, control, **kwargs):
        self._write(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self._write(args, state)


__all__ = ["LOSS_CURVE_FILENAME", "LossCurveCallback", "plot_loss_curve"]
