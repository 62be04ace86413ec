"""Text clean-up applied before WER/CER scoring, with the original evaluation's rules.

The original Qwen-Audio ASR scoring does *not* use Whisper's English normaliser: it replaces every
``<|...|>`` token with a space, squeezes whitespace, glues the punctuation ``!,.?;:`` to the word before
it, strips leading spaces and (for Chinese) deletes all whitespace. Tokens are then the lower-cased,
whitespace-separated words; for Chinese every character is a token. Punctuation stays in the tokens,
so ``dinner,`` and ``dinner`` count as different words, exactly as in the paper's numbers.
"""

from __future__ import annotations

import re

GLUED_PUNCTUATION = "!,.?;:"
"""Punctuation that is attached to the preceding word (a space before it is removed)."""

CHARACTER_LEVEL_LANGUAGES = frozenset({"zh", "ja", "ko", "yue", "zh_tr"})
"""Languages scored per character (CER); the original scores ``zh`` this way."""

_SPECIAL_TOKEN = re.compile(r"<\|.*?\|>")
_WHITESPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(f" ?([{re.escape(GLUED_PUNCTUATION)}])")


def is_character_level(language: str) -> bool:
    """Whether ``language`` is scored per character (spaces removed) rather than per word."""
    return language in CHARACTER_LEVEL_LANGUAGES


def remove_special_tokens(text: str, language: str = "en") -> str:
    """Drop ``<|...|>`` tokens and normalise spacing as the original ASR scoring does.

    >>> remove_special_tokens("<|en|>Hello , world !", "en")
    'Hello, world!'
    >>> remove_special_tokens("<|zh|>你 好 。", "zh")
    '你好。'
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str to normalise, got {type(text).__name__}")
    text = _SPECIAL_TOKEN.sub(" ", text)
    text = _WHITESPACE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    text = text.lstrip(" ")
    if is_character_level(language):
        text = _WHITESPACE.sub("", text)
    return text


def error_rate_tokens(text: str, language: str = "en") -> list[str]:
    """The tokens an error rate is counted over: lower-cased words, or characters for CJK languages.

    ``text`` should already be cleaned with :func:`remove_special_tokens`.
    """
    words = text.lower().split()
    if is_character_level(language):
        return list("".join(words))
    return words
