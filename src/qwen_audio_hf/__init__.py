"""Qwen-Audio as a native Hugging Face Transformers model.

Importing this package registers the configuration, model, tokenizer, feature extractor and
processor classes with the transformers Auto classes, and the
``qwen-audio-long-form`` pipeline task.
"""

from .modeling import *  # noqa: F401,F403  (registers the model classes)
from .processing import *  # noqa: F401,F403  (registers the processing classes)
from .long_form.pipeline import register_pipeline as _register_long_form_pipeline

_register_long_form_pipeline()  # transformers.pipeline("qwen-audio-long-form", model=DIR)

__version__ = "0.1.0"
