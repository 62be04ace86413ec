"""Tag validation: find and reject tag-shaped strings (``<|...|>``) that are not Qwen-Audio special tokens.

The inventory itself (strings and ids) is defined once, in ``core/token_ids.py``; its names are re-exported
here so existing imports of them from this module keep working.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from ..core.token_ids import *  # noqa: F401,F403  (re-exported inventory)
from ..core.token_ids import SPECIAL_TOKENS

_TAG_SHAPE_RE = re.compile(r"<\|[^<>|\s]+\|>")


def unknown_tags(text: str, known: Iterable[str] = SPECIAL_TOKENS) -> list[str]:
    """Tag-shaped strings (``<|...|>``) in ``text`` that are not in ``known``, in order of appearance.

    Such strings are not special tokens: a tokenizer encodes them as plain text, so a typo like
    ``<|startoftranscription|>`` silently changes the task instead of failing.
    """
    known = known if isinstance(known, (set, frozenset, Mapping)) else frozenset(known)
    return [match.group() for match in _TAG_SHAPE_RE.finditer(text) if match.group() not in known]


def check_tags(text: str, known: Iterable[str] = SPECIAL_TOKENS) -> None:
    """Raise ValueError for the first tag-shaped string in ``text`` that is not a special token."""
    found = unknown_tags(text, known)
    if found:
        close = difflib.get_close_matches(found[0], list(known), n=1, cutoff=0.75)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown tag {found[0]!r} in the text: it is not a Qwen-Audio special token and would be encoded as "
            f"plain text.{hint} Build prompts with TaskPrompt (it lists the valid tags), or pass "
            "validate_tags=False to encode such strings as ordinary text."
        )
