"""When the package plugs itself into transformers: as soon as both are imported, without importing either early.

`import qwen_audio_hf` stays light (the command line builds its `--help` without torch or transformers), yet
`import qwen_audio_hf` followed by `AutoModel.from_pretrained(...)` must find our classes. So the registration
runs at the first moment transformers is fully imported and no module of this package is half-imported: right
away when transformers is already loaded, else from an import hook that fires at the end of the import (of
transformers, or of the qwen_audio_hf module that imported it) and then removes itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import sys

PACKAGE = __name__.rpartition(".")[0]
MIN_TRANSFORMERS = "5.24"
_state = {"done": False, "running": False}


def transformers_is_recent() -> bool:
    """True when the installed transformers is new enough for the model classes (vLLM's own env may be older)."""
    from packaging.version import Version

    try:
        installed = importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError:
        return False
    return Version(installed).release >= Version(MIN_TRANSFORMERS).release


def register_auto_classes() -> None:
    """Register config/model/tokenizer/feature extractor/processor with the Auto classes, the long-form pipeline
    task and the save_pretrained hooks. Imports torch and transformers; runs once."""
    if _state["done"] or _state["running"]:
        return
    _state["running"] = True
    try:
        if transformers_is_recent():
            _register()
        _state["done"] = True
    finally:
        _state["running"] = False
    _uninstall_hook()


def _register() -> None:
    import transformers
    from transformers import (
        AutoConfig,
        AutoFeatureExtractor,
        AutoModel,
        AutoModelForCausalLM,
        AutoProcessor,
        AutoTokenizer,
    )

    from .export import install_save_pretrained_hooks
    from .long_form.pipeline import register_pipeline
    from .long_form.speech_recognition import register_speech_recognition
    from .modeling import (
        QwenAudioConfig,
        QwenAudioEncoder,
        QwenAudioEncoderConfig,
        QwenAudioForConditionalGeneration,
        QwenAudioModel,
        QwenAudioTextConfig,
        QwenAudioTextModel,
    )
    from .modeling.original_auto_classes import install_original_layout_loading
    from .processing import QwenAudioFeatureExtractor, QwenAudioProcessor, QwenAudioTokenizer

    for config_class in (QwenAudioConfig, QwenAudioEncoderConfig, QwenAudioTextConfig):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(QwenAudioConfig, QwenAudioModel, exist_ok=True)
    AutoModel.register(QwenAudioEncoderConfig, QwenAudioEncoder, exist_ok=True)
    AutoModel.register(QwenAudioTextConfig, QwenAudioTextModel, exist_ok=True)
    AutoModelForCausalLM.register(QwenAudioConfig, QwenAudioForConditionalGeneration, exist_ok=True)
    multimodal_auto = getattr(transformers, "AutoModelForMultimodalLM", None)
    if multimodal_auto is not None:
        multimodal_auto.register(QwenAudioConfig, QwenAudioForConditionalGeneration, exist_ok=True)
    AutoFeatureExtractor.register(QwenAudioConfig, QwenAudioFeatureExtractor, exist_ok=True)
    AutoProcessor.register(QwenAudioConfig, QwenAudioProcessor, exist_ok=True)
    AutoTokenizer.register(QwenAudioConfig, tokenizer_class=QwenAudioTokenizer, exist_ok=True)
    install_original_layout_loading()  # Auto*.from_pretrained(ORIGINAL_DIR): no remote code, no prompt
    register_pipeline()  # transformers.pipeline("qwen-audio-long-form", model=DIR)
    register_speech_recognition()  # transformers.pipeline("automatic-speech-recognition", model=DIR)
    install_save_pretrained_hooks()  # save_pretrained / push_to_hub / Trainer also write the remote-code files


def _half_imported(except_name: str | None = None) -> bool:
    """Whether transformers or a module of this package is still executing its import."""
    for name, module in list(sys.modules.items()):
        if name != except_name and (name == "transformers" or name == PACKAGE or name.startswith(PACKAGE + ".")):
            if getattr(getattr(module, "__spec__", None), "_initializing", False):
                return True
    return False


def register_when_ready(just_imported: str | None = None) -> None:
    """Register now if transformers is loaded and nothing of ours is mid-import (``just_imported`` has finished
    executing but is still flagged until its import returns); otherwise the hook tries again later."""
    if _state["done"] or _state["running"] or "transformers" not in sys.modules:
        return
    if not _half_imported(except_name=just_imported):
        register_auto_classes()


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Wraps the loader of transformers and of this package's modules to call `register_when_ready` after each."""

    def find_spec(self, fullname, path=None, target=None):
        if not (fullname == "transformers" or fullname.startswith(PACKAGE + ".")) or _state["done"]:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, "exec_module"):
            original = loader.exec_module

            def exec_module(module, _original=original, _name=fullname):
                _original(module)
                register_when_ready(just_imported=_name)

            loader.exec_module = exec_module
        return spec


_HOOK = _RegisterAfterImport()


def install_hook() -> None:
    if not _state["done"] and _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def _uninstall_hook() -> None:
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


__all__ = ["MIN_TRANSFORMERS", "install_hook", "register_auto_classes", "register_when_ready", "transformers_is_recent"]
