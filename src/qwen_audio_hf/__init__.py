"""Qwen-Audio as a native Hugging Face Transformers model.

Importing this package registers the configuration, model, tokenizer, feature extractor and
processor classes with the transformers Auto classes.
"""

from .modeling import *  # noqa: F401,F403  (registers the model classes)
from .processing import *  # noqa: F401,F403  (registers the processing classes)
from .export import install_save_pretrained_hooks

install_save_pretrained_hooks()  # save_pretrained / push_to_hub also write the remote-code files

__version__ = "0.1.0"
