"""Qwen-Audio as a native Hugging Face Transformers model.

Importing this package registers the configuration, model, tokenizer, feature extractor and
processor classes with the transformers Auto classes.
"""

from .modeling import *  # noqa: F401,F403  (registers the model classes)
from .processing import *  # noqa: F401,F403  (registers the processing classes)

__version__ = "0.1.0"
