"""Qwen-Audio as a native Hugging Face Transformers model.

`import qwen_audio_hf` is light: it imports neither torch nor transformers (so `qwen-audio-hf --help` is
instant). The classes (`qwen_audio_hf.QwenAudioForConditionalGeneration`, `QwenAudioProcessor`, ...) and the
subpackages load on first use, and the package registers its configuration, model, tokenizer, feature extractor
and processor with the transformers Auto classes, the ``qwen-audio-long-form`` pipeline task and the
save_pretrained hooks (model and processor ``save_pretrained``/``push_to_hub`` write the remote-code files too)
as soon as transformers is imported (`registration`).

With a transformers older than ``MIN_TRANSFORMERS`` (vLLM's own environment, where only
``qwen_audio_hf.serving`` and the layers below the model are used) nothing is registered, and asking for a model
class raises an error that says which transformers it needs.
"""

import importlib

from . import registration as _registration
from .core.library_notices import drop_bitsandbytes_kernel_notice as _drop_bitsandbytes_kernel_notice
from .registration import MIN_TRANSFORMERS

__version__ = "0.1.0"

_SUBPACKAGES = ("core", "processing", "modeling", "training", "evaluation", "long_form", "demo", "serving",
                "cli", "export", "jsonl", "registration")


def __getattr__(name: str):
    """Subpackages on first access; any other public name from `modeling` or `processing` (their ``__all__``)."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if not _registration.transformers_is_recent():
        import transformers

        raise ImportError(
            f"qwen_audio_hf.{name} needs transformers >= {MIN_TRANSFORMERS}; this environment has "
            f"{transformers.__version__} (e.g. vLLM's own environment, where only qwen_audio_hf.serving and "
            f"qwen_audio_hf.processing are meant to be used). Install transformers>={MIN_TRANSFORMERS} for the model."
        )
    from . import modeling, processing

    _registration.register_auto_classes()
    for module in (modeling, processing):
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBPACKAGES])


_drop_bitsandbytes_kernel_notice()  # a logging filter, before anything here imports peft / bitsandbytes
_registration.install_hook()
_registration.register_when_ready(just_imported=__name__)  # at once when transformers is already imported
