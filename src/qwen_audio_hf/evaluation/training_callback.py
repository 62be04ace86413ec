"""Generation metrics during training: at every evaluation, generate on an evaluation subset with a protocol's
prompt and greedy decoding and score it with the protocol (WER, BLEU, accuracy, ...), as ``Seq2SeqTrainer``'s
``predict_with_generate`` does for Whisper.

    trainer = Trainer(..., eval_dataset=eval_rows, args=TrainingArguments(eval_strategy="steps", eval_steps=500),
                      callbacks=[GenerationMetricsCallback(processor, "dev.jsonl", "librispeech", limit=200)])

The scores join the evaluation metrics as ``eval_<protocol>_<metric>`` (``eval_<protocol>_<source>_<metric>``
when the subset has several sources), so ``metric_for_best_model="eval_librispeech_wer"`` works, and they are
appended to ``trainer.state.log_history``. In a multi-process run every process generates a contiguous share and
the shares are gathered (as the evaluation runner does); only the single-process path is tested.
"""

from __future__ import annotations

from numbers import Number
from typing import Any

from transformers import TrainerCallback

from .data import check_records, load_records
from .protocols import get_protocol
from .runner import _shard, generate_responses, prediction_records


class GenerationMetricsCallback(TrainerCallback):
    """Score generations of ``data`` (evaluation records: ``audio``, ``gt``, ``source``; anything
    ``evaluation.data.load_records`` reads) with protocol ``task`` at each evaluation."""

    def __init__(self, processor: Any, data: Any, task: str, *, language: str | None = None, limit: int | None = None,
                 batch_size: int = 8, max_new_tokens: int | None = None, metric_key_prefix: str = "eval"):
        self.processor = processor
        self.protocol = get_protocol(task, language)
        self.records = load_records(data)[:limit]
        check_records(self.records, self.protocol.required_fields, what=f"generation-metrics data for {task}")
        self.batch_size, self.max_new_tokens, self.prefix = batch_size, max_new_tokens, metric_key_prefix

    def scores(self, model: Any) -> dict[str, dict]:
        """Per-source protocol scores of ``model``'s greedy generations on the subset (all processes take part)."""
        from accelerate import PartialState
        from accelerate.utils import gather_object

        state = PartialState()
        share = _shard(len(self.records), state)
        was_training = model.training
        model.eval()
        try:
            local = generate_responses(model, self.processor, [self.records[i] for i in share], self.protocol,
                                       batch_size=self.batch_size, max_new_tokens=self.max_new_tokens, progress=False)
        finally:
            model.train(was_training)
        pairs = list(zip(share, local))
        if state.num_processes > 1:
            pairs = gather_object(pairs)
        responses = [response for _, response in sorted(pairs)]
        return self.protocol.score(prediction_records(self.records, responses, self.protocol))

    def flat_metrics(self, scores: dict[str, dict]) -> dict[str, float]:
        name, single = self.protocol.name, len(scores) == 1
        return {
            f"{self.prefix}_{name}_{key}" if single else f"{self.prefix}_{name}_{source}_{key}": value
            for source, values in scores.items()
            for key, value in values.items()
            if isinstance(value, Number) and not isinstance(value, bool) and key != "count"
        }

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        values = self.flat_metrics(self.scores(model))
        if metrics is not None:
            metrics.update(values)  # seen by metric_for_best_model / early stopping
        state.log_history.append({**values, "epoch": state.epoch, "step": state.global_step})


__all__ = ["GenerationMetricsCallback"]
