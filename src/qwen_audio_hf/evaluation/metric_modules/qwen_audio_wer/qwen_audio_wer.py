"""Qwen-Audio word error rate as an `evaluate` module: the paper's ASR scoring (special tokens removed, the
original's text normalisation, corpus WER; CER for Chinese). Load offline with
``evaluate.load(qwen_audio_hf.evaluation.metric_path("wer"))``."""

import datasets
import evaluate

from qwen_audio_hf.evaluation.metrics import word_error_rate


class QwenAudioWer(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Chu et al., Qwen-Audio (2023)",
            inputs_description="predictions, references: lists of strings; language: 'en' (WER) or 'zh' (CER).",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, language="en"):
        return {"wer": word_error_rate(references, predictions, language)}
