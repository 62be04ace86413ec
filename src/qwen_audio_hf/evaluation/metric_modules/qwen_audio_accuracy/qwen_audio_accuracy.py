"""Qwen-Audio classification accuracy as an `evaluate` module: exact string match, as the original's scene,
emotion, vocal-sound and AQA scoring (plus accuracy on yes/no references). Load offline with
``evaluate.load(qwen_audio_hf.evaluation.metric_path("accuracy"))``."""

import datasets
import evaluate

from qwen_audio_hf.evaluation.metrics import accuracy, binary_answer_accuracy


class QwenAudioAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Chu et al., Qwen-Audio (2023)",
            inputs_description="predictions, references: lists of strings (labels or answers).",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        return {"accuracy": accuracy(references, predictions),
                "binary_accuracy": binary_answer_accuracy(references, predictions)}
