"""How a config.json of the ORIGINAL Qwen-Audio release (remote code, Qwen/Qwen-Audio(-Chat)) is recognised.

One test for every reader of original folders: the model loader (`modeling.original_checkpoint`) and the feature
extractor / processor loaders. Pure Python.
"""

from __future__ import annotations

from typing import Any

ORIGINAL_MODEL_TYPE = "qwen"


def is_original_config(config_dict: dict[str, Any]) -> bool:
    """True for the original hub config.json (model_type "qwen" with an "audio" dict)."""
    return config_dict.get("model_type") == ORIGINAL_MODEL_TYPE and isinstance(config_dict.get("audio"), dict)


__all__ = ["ORIGINAL_MODEL_TYPE", "is_original_config"]
