"""Writers for long-form results: json (the CLI's schema), txt, srt and vtt (one cue per window with text)."""

from __future__ import annotations

import json

from ..core.command_options import OUTPUT_FORMATS
from .stitching import LongFormResult

FORMATS = OUTPUT_FORMATS


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def cues(result: LongFormResult) -> list[tuple[float, float, str]]:
    """(start_s, end_s, text) of every window with text: the srt/vtt cues (and the web page's segments)."""
    return [(w.start_s, w.end_s, w.text) for w in result.windows if w.text.strip()]


def render(result: LongFormResult, fmt: str, timestamps: bool = False) -> str:
    """The file content of ``result`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(result.to_dict(timestamps), ensure_ascii=False, indent=2) + "\n"
    if fmt == "txt":
        return result.text + "\n"
    if fmt == "srt":
        blocks = [f"{i}\n{_clock(s, ',')} --> {_clock(e, ',')}\n{text}\n" for i, (s, e, text) in enumerate(cues(result), 1)]
        return "\n".join(blocks)
    if fmt == "vtt":
        blocks = [f"{_clock(s, '.')} --> {_clock(e, '.')}\n{text}\n" for s, e, text in cues(result)]
        return "WEBVTT\n\n" + "\n".join(blocks)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "cues", "render"]
