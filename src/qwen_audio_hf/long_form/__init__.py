"""Long recordings: segment into <=30 s windows, decode them in batches, stitch with absolute timestamps.

The names load on first use, so the torch-free parts (``windows``, ``reading``, ``stitching``, ``formats``) import
without the model layer (vLLM's environment, whose transformers is older, uses them for its transcription routes).
"""

import importlib

_EXPORTS = {
    "TASKS": "decoding",
    "LongFormDecoder": "decoding",
    "LongFormError": "decoding",
    "LongFormTask": "decoding",
    "build_task": "decoding",
    "LongFormResult": "stitching",
    "WindowResult": "stitching",
    "join_texts": "stitching",
    "stitch": "stitching",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
