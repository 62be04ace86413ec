"""Long recordings: segment into <=30 s windows, decode them in batches, stitch with absolute timestamps."""

from .decoding import TASKS, LongFormDecoder, LongFormError, LongFormTask, build_task
from .stitching import LongFormResult, WindowResult, join_texts, stitch

__all__ = [
    "TASKS",
    "LongFormDecoder",
    "LongFormError",
    "LongFormResult",
    "LongFormTask",
    "WindowResult",
    "build_task",
    "join_texts",
    "stitch",
]
