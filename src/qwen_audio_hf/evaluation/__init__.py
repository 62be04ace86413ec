"""Evaluation harness for the paper's benchmark protocols (see docs/EVALUATION.md)."""

from .metrics import (
    accuracy,
    average_shift,
    binary_answer_accuracy,
    caption_scores,
    corpus_bleu,
    metric_path,
    note_analysis_scores,
    word_error_rate,
)
from .protocols import PAPER_RESULTS, PROTOCOLS, Protocol, get_protocol
from .runner import EvaluationResult, evaluate, generate_responses, score_predictions
from .training_callback import GenerationMetricsCallback

__all__ = [
    "PAPER_RESULTS",
    "PROTOCOLS",
    "EvaluationResult",
    "GenerationMetricsCallback",
    "Protocol",
    "accuracy",
    "average_shift",
    "binary_answer_accuracy",
    "caption_scores",
    "corpus_bleu",
    "evaluate",
    "generate_responses",
    "get_protocol",
    "metric_path",
    "note_analysis_scores",
    "score_predictions",
    "word_error_rate",
]
