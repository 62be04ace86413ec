"""Corpus-level metrics of the paper's protocols, computed with well-kept libraries where they match.

* WER/CER: ``jiwer`` (Levenshtein over tokens, errors summed over the corpus / reference tokens summed),
  on tokens from :mod:`.text_normalization`.
* BLEU: ``sacrebleu.corpus_bleu`` with the original's tokenizer choice per target language.
* Accuracy: ``sklearn.metrics.accuracy_score`` (exact string match, as the original).
* Captioning (CIDEr, SPICE, SPIDEr): :mod:`.caption_metrics` (``pycocoevalcap``).
* Word-timestamp shift: :mod:`.timestamp_shift`; music note analysis: :mod:`.note_analysis`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .caption_metrics import caption_scores, spice_available  # noqa: F401  (re-exported)
from .note_analysis import note_analysis_scores, parse_note_fields  # noqa: F401  (re-exported)
from .text_normalization import error_rate_tokens, remove_special_tokens
from .timestamp_shift import average_shift  # noqa: F401  (re-exported)

BINARY_ANSWERS = ("yes", "no")
METRIC_MODULES = {"wer": "qwen_audio_wer", "bleu": "qwen_audio_bleu", "accuracy": "qwen_audio_accuracy"}
"""The paper's metrics as ``evaluate`` modules shipped in the package (``metric_modules/<module>/<module>.py``)."""


def metric_path(name: str) -> str:
    """Folder of the ``evaluate`` module for ``name`` (wer, bleu, accuracy): ``evaluate.load(metric_path("wer"))``
    loads it offline; its scores equal :func:`word_error_rate`, :func:`corpus_bleu`, :func:`accuracy`."""
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(METRIC_MODULES)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "metric_modules", METRIC_MODULES[name])


def _check_pairs(references: Sequence, hypotheses: Sequence, what: str) -> None:
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError(f"{what}: pass lists of strings (one per example), not a single string")
    if len(references) != len(hypotheses):
        raise ValueError(f"{what}: got {len(references)} references but {len(hypotheses)} hypotheses")
    if len(references) == 0:
        raise ValueError(f"{what}: no examples to score")


def error_rate_counts(references: Sequence[str], hypotheses: Sequence[str], language: str = "en") -> tuple[int, int]:
    """(edit operations, reference tokens) summed over the corpus, after the original's clean-up."""
    import jiwer

    _check_pairs(references, hypotheses, "error rate")
    refs = [" ".join(error_rate_tokens(remove_special_tokens(r, language), language)) for r in references]
    hyps = [" ".join(error_rate_tokens(remove_special_tokens(h, language), language)) for h in hypotheses]
    out = jiwer.process_words(refs, hyps)
    errors = out.substitutions + out.deletions + out.insertions
    return errors, out.substitutions + out.deletions + out.hits


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str], language: str = "en") -> float:
    """Corpus WER (CER for Chinese) as a fraction, e.g. ``0.02`` for the paper's "2.0"."""
    errors, total = error_rate_counts(references, hypotheses, language)
    if total == 0:
        raise ValueError("error rate: the references have no tokens; cannot divide by zero")
    return errors / total


def bleu_tokenizer(text_language: str) -> str:
    """sacrebleu tokenizer used by the original for a target language: ja-mecab, zh, else 13a."""
    return {"ja": "ja-mecab", "zh": "zh"}.get(text_language, "13a")


def corpus_bleu(references: Sequence[str], hypotheses: Sequence[str], text_language: str = "en") -> float:
    """sacrebleu corpus BLEU (0-100) with one reference per hypothesis, tokenized for ``text_language``."""
    import sacrebleu

    _check_pairs(references, hypotheses, "BLEU")
    tokenize = bleu_tokenizer(text_language)
    try:
        return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=tokenize).score)
    except (ImportError, ModuleNotFoundError, RuntimeError) as error:
        if tokenize == "ja-mecab":
            raise RuntimeError(
                "BLEU into Japanese uses sacrebleu's ja-mecab tokenizer; install it with `pip install sacrebleu[ja]`"
            ) from error
        raise


def accuracy(references: Sequence, hypotheses: Sequence) -> float:
    """Fraction of exact matches (case and spacing count), as ``sklearn.metrics.accuracy_score``."""
    from sklearn.metrics import accuracy_score

    _check_pairs(references, hypotheses, "accuracy")
    return float(accuracy_score(list(references), list(hypotheses)))


def binary_answer_accuracy(references: Sequence[str], hypotheses: Sequence[str]) -> float | None:
    """Accuracy on the examples whose reference is yes/no (any case); ``None`` if there are none."""
    _check_pairs(references, hypotheses, "binary accuracy")
    keep = [i for i, ref in enumerate(references) if str(ref).lower() in BINARY_ANSWERS]
    if not keep:
        return None
    return accuracy([references[i] for i in keep], [hypotheses[i] for i in keep])


__all__ = [
    "METRIC_MODULES",
    "accuracy",
    "average_shift",
    "binary_answer_accuracy",
    "bleu_tokenizer",
    "caption_scores",
    "corpus_bleu",
    "error_rate_counts",
    "metric_path",
    "note_analysis_scores",
    "parse_note_fields",
    "spice_available",
    "word_error_rate",
]
