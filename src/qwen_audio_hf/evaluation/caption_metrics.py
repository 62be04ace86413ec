"""Audio-captioning scores (CIDEr, SPICE, SPIDEr) through ``pycocoevalcap``.

The original runs the COCO caption tools (the audio-captioning fork, whose Python is the same as
``pycocoevalcap``): Stanford PTB tokenisation (Java, jar shipped in pycocoevalcap) of hypotheses and
references, then CIDEr-D over the corpus and SPICE; SPIDEr = (CIDEr + SPICE) / 2.

SPICE needs the Stanford CoreNLP 3.6.0 jars (``stanford-corenlp-3.6.0.jar`` and
``stanford-corenlp-3.6.0-models.jar``) in ``pycocoevalcap/spice/lib``, which pycocoevalcap downloads
on first use. Offline, we never trigger that download: SPICE and SPIDEr are reported as ``None`` with
the reason (``spice="auto"``), or a ``RuntimeError`` is raised (``spice="require"``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

SPICE_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
SPICE_MODES = ("auto", "require", "skip")


def _require_java() -> None:
    if shutil.which("java") is None:
        raise RuntimeError(
            "caption scoring runs the Stanford PTB tokenizer, which needs Java: install a JRE "
            "(e.g. `apt-get install default-jre-headless`)"
        )


def spice_library_dir() -> str:
    """Where pycocoevalcap's SPICE looks for its Stanford CoreNLP jars."""
    import pycocoevalcap.spice

    return os.path.join(os.path.dirname(pycocoevalcap.spice.__file__), "lib")


def spice_available() -> tuple[bool, str]:
    """(available, reason): SPICE runs only with Java and the CoreNLP 3.6.0 jars already installed."""
    if shutil.which("java") is None:
        return False, "SPICE needs Java, which is not installed"
    lib = spice_library_dir()
    missing = [jar for jar in SPICE_JARS if not os.path.exists(os.path.join(lib, jar))]
    if missing:
        return False, (
            f"SPICE needs {', '.join(missing)} in {lib} (from stanford-corenlp-full-2015-12-09); "
            "they are not installed and are not downloaded here"
        )
    return True, ""


def _as_reference_lists(references: Sequence) -> list[list[str]]:
    lists = []
    for index, refs in enumerate(references):
        refs = [refs] if isinstance(refs, str) else list(refs)
        if not refs or not all(isinstance(r, str) for r in refs):
            raise ValueError(f"caption example {index}: references must be a string or a non-empty list of strings")
        lists.append(refs)
    return lists


def tokenize_captions(captions: dict[int, list[str]]) -> dict[int, list[str]]:
    """PTB-tokenise (lower-case, punctuation removed) with pycocoevalcap's Stanford tokenizer."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    _require_java()
    return PTBTokenizer().tokenize({key: [{"caption": c} for c in value] for key, value in captions.items()})


def caption_scores(references: Sequence, hypotheses: Sequence[str], spice: str = "auto") -> dict:
    """CIDEr, SPICE, SPIDEr over a corpus; ``references[i]`` is the list of reference captions of clip i.

    Returns ``{"CIDEr": float, "SPICE": float|None, "SPIDEr": float|None}`` plus ``"SPICE_note"`` when
    SPICE was not computed.
    """
    from pycocoevalcap.cider.cider import Cider

    if spice not in SPICE_MODES:
        raise ValueError(f"spice must be one of {SPICE_MODES}, got {spice!r}")
    if isinstance(hypotheses, str) or len(references) != len(hypotheses) or not hypotheses:
        raise ValueError(f"captions: need equally many reference lists and hypotheses, got "
                         f"{len(references)} and {1 if isinstance(hypotheses, str) else len(hypotheses)}")
    refs = tokenize_captions(dict(enumerate(_as_reference_lists(references))))
    hyps = tokenize_captions({i: [h] for i, h in enumerate(hypotheses)})
    scores: dict = {"CIDEr": float(Cider().compute_score(refs, hyps)[0]), "SPICE": None, "SPIDEr": None}
    if spice == "skip":
        scores["SPICE_note"] = "SPICE skipped (spice='skip')"
        return scores
    available, reason = spice_available()
    if not available:
        if spice == "require":
            raise RuntimeError(reason)
        scores["SPICE_note"] = reason
        return scores
    from pycocoevalcap.spice.spice import Spice

    scores["SPICE"] = float(Spice().compute_score(refs, hyps)[0])
    scores["SPIDEr"] = (scores["CIDEr"] + scores["SPICE"]) / 2.0
    return scores
