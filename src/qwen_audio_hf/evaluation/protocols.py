"""The paper's benchmark protocols: prompt, decoding length and scoring of each evaluation set.

Each :class:`Protocol` reproduces one ``eval_audio/evaluate_*.py`` of the original release: the same
base-model prompt (built with :class:`~qwen_audio_hf.processing.tags.TaskPrompt`), greedy decoding with
its ``max_new_tokens`` (at least one new token, stop at ``<|endoftext|>``), and the same scoring, per
``source`` of the data. ``PAPER_RESULTS`` lists Qwen-Audio's reported figures beside each protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ..processing.tags import TaskPrompt
from . import metrics


def _responses(records: Sequence[Mapping]) -> tuple[list, list[str]]:
    return [r["gt"] for r in records], [r["response"] for r in records]


# --- per-source scorers ---------------------------------------------------------------------------
def score_error_rate(records: Sequence[Mapping], language: str, **_) -> dict:
    refs, hyps = _responses(records)
    errors, total = metrics.error_rate_counts(refs, hyps, language)
    return {"wer": errors / total if total else None, "errors": errors, "reference_tokens": total}


def translation_languages(record: Mapping) -> tuple[str, str]:
    """(speech language, text language): explicit fields, else the source name ``..._<src>_<tgt>_<split>``."""
    if record.get("audio_language") and record.get("text_language"):
        return record["audio_language"], record["text_language"]
    parts = str(record.get("source", "")).split("_")
    if len(parts) < 3:
        raise ValueError(
            f"cannot tell the language pair of source {record.get('source')!r}: name sources like "
            "'covost2_en_de_test' (as the original data) or add 'audio_language' and 'text_language' fields"
        )
    return parts[-3], parts[-2]


def score_bleu(records: Sequence[Mapping], **_) -> dict:
    refs, hyps = _responses(records)
    return {"bleu": metrics.corpus_bleu(refs, hyps, translation_languages(records[0])[1])}


def score_caption(records: Sequence[Mapping], spice: str = "auto", **_) -> dict:
    refs, hyps = _responses(records)
    return metrics.caption_scores(refs, hyps, spice=spice)


def score_timestamps(records: Sequence[Mapping], language: str, **_) -> dict:
    refs, hyps = _responses(records)
    shift = metrics.average_shift(refs, hyps)
    aas = shift.average_shift
    return {
        "aas": aas,
        "aas_ms": None if aas is None else aas * 1000.0,
        "matched_words": shift.matched_words,
        "malformed": shift.malformed_utterances,
        **score_error_rate(records, language),
    }


def score_accuracy(records: Sequence[Mapping], **_) -> dict:
    refs, hyps = _responses(records)
    return {"accuracy": metrics.accuracy(refs, hyps)}


def score_aqa(records: Sequence[Mapping], **_) -> dict:
    refs, hyps = _responses(records)
    return {"accuracy": metrics.accuracy(refs, hyps), "binary_accuracy": metrics.binary_answer_accuracy(refs, hyps)}


def score_note_analysis(records: Sequence[Mapping], **_) -> dict:
    refs, hyps = _responses(records)
    return metrics.note_analysis_scores(refs, hyps)


# --- protocols ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Protocol:
    """One benchmark protocol: how to prompt, how long to decode, how to score one source."""

    name: str
    family: str
    description: str
    max_new_tokens: int
    prompt: Callable[[Mapping], TaskPrompt]
    scorer: Callable[..., dict]
    headline: str
    paper: Mapping[str, float] = field(default_factory=dict)
    required_fields: tuple[str, ...] = ("audio", "gt", "source")

    def prompt_text(self, record: Mapping, audio: str = "") -> str:
        """The full prompt with its audio span (``<audio></audio>`` placeholder by default)."""
        return self.prompt(record).to_text(audio=audio)

    def score(self, records: Sequence[Mapping], **options) -> dict[str, dict]:
        """Scores per ``source`` (sorted), each with its example ``count``; records need gt and response.

        ``options`` reach the scorer (``spice="auto"|"require"|"skip"`` for captioning).
        """
        by_source: dict[str, list[Mapping]] = {}
        for record in records:
            by_source.setdefault(str(record.get("source", "")), []).append(record)
        return {src: {"count": len(rows), **self.scorer(rows, **options)} for src, rows in sorted(by_source.items())}


def _asr(name, language, paper):
    return Protocol(
        name, "asr", f"speech recognition ({language}), {'CER' if language == 'zh' else 'WER'} after the "
        "original's special-token removal", 256, lambda r: TaskPrompt.asr(language),
        lambda rows, **kw: score_error_rate(rows, language), "wer", paper,
    )


def _srwt(language):
    return Protocol(
        "srwt", "srwt", "speech recognition with word timestamps, average absolute shift", 256,
        lambda r: TaskPrompt.timestamped_asr(language), lambda rows, **kw: score_timestamps(rows, language),
        "aas_ms", PAPER_RESULTS["srwt"],
    )


def _classifier(name, family, description, prompt, max_new_tokens, paper):
    return Protocol(name, family, description, max_new_tokens, lambda r: prompt(), score_accuracy, "accuracy", paper)


PAPER_RESULTS = MappingProxyType({
    "librispeech": {"dev-clean": 1.8, "dev-other": 4.0, "test-clean": 2.0, "test-other": 4.2},
    "aishell1": {"dev": 1.2, "test": 1.3},
    "aishell2": {"Mic": 3.3, "iOS": 3.1, "Android": 3.3},
    "covost2": {"en-de": 25.1, "de-en": 33.9, "en-zh": 41.5, "zh-en": 15.7, "es-en": 39.7, "fr-en": 38.5,
                "it-en": 36.0},
    "clotho": {"CIDEr": 0.441, "SPICE": 0.136, "SPIDEr": 0.288},
    "srwt": {"AAS (ms)": 51.5},
    "cochlscene": {"accuracy": 0.795},
    "tut2017": {"accuracy": 0.649},
    "meld": {"accuracy": 0.557},
    "vocalsound": {"accuracy": 0.9289},
    "nsynth": {"qualities MAP": 0.4742, "instrument accuracy": 0.7882},
    "clothoaqa": {"accuracy": 0.579, "binary accuracy": 0.749},
})
"""Qwen-Audio's figures as reported (README/paper); ASR in percent, BLEU 0-100, AAS in milliseconds."""

_PROTOCOLS = [
    _asr("librispeech", "en", PAPER_RESULTS["librispeech"]),
    _asr("aishell1", "zh", PAPER_RESULTS["aishell1"]),
    _asr("aishell2", "zh", PAPER_RESULTS["aishell2"]),
    Protocol("covost2", "s2tt", "speech translation, sacrebleu BLEU per language pair", 256,
             lambda r: TaskPrompt.translation(*translation_languages(r)), score_bleu, "bleu",
             PAPER_RESULTS["covost2"]),
    Protocol("clotho", "aac", "audio captioning, CIDEr / SPICE / SPIDEr (pycocoevalcap)", 30,
             lambda r: TaskPrompt.caption("clotho"), score_caption, "CIDEr", PAPER_RESULTS["clotho"]),
    _srwt("zh"),
    _classifier("cochlscene", "asc", "acoustic scene classification, exact-match accuracy", TaskPrompt.scene, 10,
                PAPER_RESULTS["cochlscene"]),
    _classifier("tut2017", "asc", "acoustic scene classification, exact-match accuracy", TaskPrompt.scene, 10,
                PAPER_RESULTS["tut2017"]),
    _classifier("meld", "ser", "speech emotion recognition, exact-match accuracy", TaskPrompt.emotion, 4,
                PAPER_RESULTS["meld"]),
    _classifier("vocalsound", "vsc", "vocal sound classification, exact-match accuracy", TaskPrompt.vocal_sound, 4,
                PAPER_RESULTS["vocalsound"]),
    Protocol("nsynth", "mna", "music note analysis: instrument accuracy, qualities MAP, pitch/velocity", 30,
             lambda r: TaskPrompt.note_analysis(), score_note_analysis, "sonic_map", PAPER_RESULTS["nsynth"]),
    Protocol("clothoaqa", "aqa", "audio question answering, exact-match accuracy (and on yes/no questions)", 4,
             lambda r: TaskPrompt.aqa(r["question"]), score_aqa, "accuracy", PAPER_RESULTS["clothoaqa"],
             required_fields=("audio", "gt", "source", "question")),
]

PROTOCOLS = MappingProxyType({p.name: p for p in _PROTOCOLS})
"""Protocol name -> :class:`Protocol`."""

FAMILY_DEFAULTS = MappingProxyType({
    "asr": "librispeech", "s2tt": "covost2", "aac": "clotho", "asc": "cochlscene", "ser": "meld",
    "vsc": "vocalsound", "mna": "nsynth", "aqa": "clothoaqa", "industrial_srwt": "srwt",
})
"""Family names (and the original's dataset aliases) accepted by :func:`get_protocol`."""


def get_protocol(task: str, language: str | None = None) -> Protocol:
    """Look up a protocol by dataset name (``librispeech``) or family (``asr``).

    ``language`` switches the ASR/SRWT language (e.g. ``asr`` on an English or Chinese set).
    """
    name = FAMILY_DEFAULTS.get(task, task)
    if name not in PROTOCOLS:
        raise ValueError(
            f"unknown task {task!r}; choose a protocol ({', '.join(PROTOCOLS)}) or a family "
            f"({', '.join(k for k in FAMILY_DEFAULTS if k != 'industrial_srwt')})"
        )
    protocol = PROTOCOLS[name]
    if language is None:
        return protocol
    TaskPrompt.asr(language)  # validates the language code (raises ValueError naming the valid ones)
    if protocol.family == "asr":
        return _asr(protocol.name, language, protocol.paper)
    if protocol.family == "srwt":
        return _srwt(language)
    raise ValueError(f"--language applies to the asr and srwt protocols only, not {protocol.name!r}")
