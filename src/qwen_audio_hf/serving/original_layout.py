"""`vllm serve ORIGINAL_DIR` stops at once, naming the command that converts the folder.

The vLLM model reads converted checkpoints (model_type "qwen_audio"). A folder in the released layout (model_type
"qwen" with an "audio" section) would otherwise make transformers ask for `trust_remote_code` and then fail inside
code written for transformers 4.32. The plugin puts this check in front of `AutoConfig.from_pretrained` in vLLM's
process; any other folder (a Qwen text model too) goes to transformers unchanged.
"""

from __future__ import annotations

import functools
import os

from ..core.original_config import is_original_config


def convert_command(source) -> str:
    source = os.fspath(source).rstrip("/\\")
    return f"qwen-audio-hf convert {source} {source}-converted"


def released_layout_error(source) -> ValueError:
    command = convert_command(source)
    return ValueError(
        f"{os.fspath(source)} is a Qwen-Audio checkpoint in the released (remote-code) layout; vLLM serves the "
        f"converted layout. Convert it once with `{command}`, then run `vllm serve {command.split()[-1]}`."
    )


def check_not_released_layout(source, **download_kwargs) -> None:
    """Raise `released_layout_error` when ``source``'s config.json is the released Qwen-Audio layout."""
    from transformers import PretrainedConfig

    if not isinstance(source, (str, os.PathLike)):
        return
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(source, **download_kwargs)
    except (OSError, ValueError):
        return  # not ours to judge: transformers reports it
    if is_original_config(config_dict):
        raise released_layout_error(source)


_DOWNLOAD_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only", "subfolder")


def install_released_layout_check() -> None:
    """Put `check_not_released_layout` in front of `AutoConfig.from_pretrained` (idempotent)."""
    from transformers import AutoConfig

    current = AutoConfig.__dict__["from_pretrained"].__func__
    if getattr(current, "__qwen_audio_serving_check__", False):
        return

    @functools.wraps(current)
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        check_not_released_layout(pretrained_model_name_or_path,
                                  **{key: kwargs[key] for key in _DOWNLOAD_KWARGS if key in kwargs})
        return current(cls, pretrained_model_name_or_path, *args, **kwargs)

    from_pretrained.__qwen_audio_serving_check__ = True
    AutoConfig.from_pretrained = classmethod(from_pretrained)


__all__ = ["check_not_released_layout", "convert_command", "install_released_layout_check", "released_layout_error"]
