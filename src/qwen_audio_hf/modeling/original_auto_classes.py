"""The Auto classes read ORIGINAL Qwen-Audio folders (model_type "qwen" + "audio") locally, never their .py files.

A released folder's config.json names remote code (`auto_map`) for a model_type transformers does not know, so
transformers would ask for `trust_remote_code`, prompt, then fail (that code targets transformers 4.32). Unless
the caller passes ``trust_remote_code=True`` (then transformers' own behaviour is kept untouched), these
``from_pretrained`` wrappers apply one rule:

- Qwen-Audio in the original layout: `AutoConfig` returns the translated `QwenAudioConfig` (so `AutoModel`,
  `AutoModelForCausalLM`, `AutoProcessor` and the pipelines, which all ask `AutoConfig`, pick our classes and
  the weights are translated while they load); `AutoProcessor` / `AutoTokenizer` / `AutoFeatureExtractor`
  return `QwenAudioProcessor` / `QwenAudioTokenizer` / `QwenAudioFeatureExtractor` read from the folder (its
  tokenizer_config.json names the remote `QWenTokenizer`, and it has no preprocessor_config.json);
- model_type "qwen" without an "audio" section (Qwen-7B, Qwen-VL): an error saying what the folder is (from
  each of the four, as `AutoProcessor` would otherwise swallow the config error and report something vaguer);
- anything else: transformers' own loader.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..core.original_config import ORIGINAL_MODEL_TYPE, is_original_config
from ..processing import QwenAudioFeatureExtractor, QwenAudioProcessor, QwenAudioTokenizer
from .configuration_qwen_audio import QwenAudioConfig
from .original_checkpoint import describe_unsupported_qwen, read_raw_config_dict

_AUTO_ONLY_KWARGS = ("trust_remote_code", "code_revision", "config", "use_fast", "_from_pipeline", "_from_auto",
                     "name_or_path")


def original_layout_kind(pretrained_model_name_or_path, kwargs: dict[str, Any]) -> str | None:
    """"audio" for an original Qwen-Audio checkpoint, "other-qwen" for another model_type "qwen" one, else None
    (also when the caller opted into remote code)."""
    if kwargs.get("trust_remote_code") is True or kwargs.get("gguf_file") is not None:
        return None
    if not isinstance(pretrained_model_name_or_path, (str, os.PathLike)):
        return None
    config_dict = read_raw_config_dict(pretrained_model_name_or_path, kwargs)
    if not config_dict or config_dict.get("model_type") != ORIGINAL_MODEL_TYPE:
        return None
    return "audio" if is_original_config(config_dict) else "other-qwen"


def _check_not_other_qwen(kind, path, kwargs) -> None:
    if kind == "other-qwen":
        raise ValueError(describe_unsupported_qwen(path, read_raw_config_dict(path, kwargs) or {}))


def _explicit_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if key not in _AUTO_ONLY_KWARGS}


def _config_from_pretrained(original, cls, pretrained_model_name_or_path, *args, **kwargs):
    kind = original_layout_kind(pretrained_model_name_or_path, kwargs)
    _check_not_other_qwen(kind, pretrained_model_name_or_path, kwargs)
    if kind == "audio":  # QwenAudioConfig.from_pretrained translates the original config.json
        return QwenAudioConfig.from_pretrained(pretrained_model_name_or_path, *args, **_explicit_kwargs(kwargs))
    return original(cls, pretrained_model_name_or_path, *args, **kwargs)


def _explicit_class_loader(explicit_class):
    def from_pretrained(original, cls, pretrained_model_name_or_path, *args, **kwargs):
        kind = original_layout_kind(pretrained_model_name_or_path, kwargs)
        _check_not_other_qwen(kind, pretrained_model_name_or_path, kwargs)
        if kind == "audio":
            return explicit_class.from_pretrained(pretrained_model_name_or_path, *args, **_explicit_kwargs(kwargs))
        return original(cls, pretrained_model_name_or_path, *args, **kwargs)

    return from_pretrained


def _wrap(auto_class, rule) -> None:
    current = auto_class.__dict__["from_pretrained"].__func__
    if getattr(current, "__qwen_audio_rule__", False):
        return  # already installed

    @functools.wraps(current)
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        return rule(current, cls, pretrained_model_name_or_path, *args, **kwargs)

    from_pretrained.__qwen_audio_rule__ = True
    auto_class.from_pretrained = classmethod(from_pretrained)


def install_original_layout_loading() -> None:
    """Put the rule above in front of `AutoConfig`, `AutoProcessor`, `AutoTokenizer` and `AutoFeatureExtractor`
    (idempotent)."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoProcessor, AutoTokenizer

    _wrap(AutoConfig, _config_from_pretrained)
    _wrap(AutoProcessor, _explicit_class_loader(QwenAudioProcessor))
    _wrap(AutoTokenizer, _explicit_class_loader(QwenAudioTokenizer))
    _wrap(AutoFeatureExtractor, _explicit_class_loader(QwenAudioFeatureExtractor))


__all__ = ["install_original_layout_loading", "original_layout_kind"]
