"""Qwen-Audio as a native Hugging Face Transformers model.

Importing this package registers the configuration, model, tokenizer, feature extractor and
processor classes with the transformers Auto classes.

With a transformers older than MIN_TRANSFORMERS (vLLM's own environment, where only
`qwen_audio_hf.serving` is used) nothing is imported here and the model classes raise a clear error.
"""

import transformers as _transformers
from packaging.version import Version as _Version

__version__ = "0.1.0"
MIN_TRANSFORMERS = "5.24"
_FULL_PACKAGE = _Version(_transformers.__version__).release >= _Version(MIN_TRANSFORMERS).release

if _FULL_PACKAGE:
    from .modeling import *  # noqa: F401,F403  (registers the model classes)
    from .processing import *  # noqa: F401,F403  (registers the processing classes)
else:

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"qwen_audio_hf.{name} needs transformers >= {MIN_TRANSFORMERS}, this environment has "
            f"{_transformers.__version__} (e.g. vLLM's own environment, where only qwen_audio_hf.serving and "
            f"qwen_audio_hf.processing are meant to be used). Install transformers>={MIN_TRANSFORMERS} for the model."
        )
