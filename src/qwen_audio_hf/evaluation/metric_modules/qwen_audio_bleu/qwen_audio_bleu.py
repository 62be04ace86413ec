"""Qwen-Audio speech-translation BLEU as an `evaluate` module: sacrebleu corpus BLEU (0-100) with the original's
tokenizer per target language (13a; zh; ja-mecab). Load offline with
``evaluate.load(qwen_audio_hf.evaluation.metric_path("bleu"))``."""

import datasets
import evaluate

from qwen_audio_hf.evaluation.metrics import corpus_bleu


class QwenAudioBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Chu et al., Qwen-Audio (2023)",
            inputs_description="predictions, references: lists of strings; text_language: target language code.",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, text_language="en"):
        return {"bleu": corpus_bleu(references, predictions, text_language)}
