"""Qwen-Audio as a native Hugging Face Transformers model.

Importing this package registers the configuration, model, tokenizer, feature extractor and processor classes
with the transformers Auto classes (here, the one place that knows both the model and the processing classes),
and the ``qwen-audio-long-form`` pipeline task; model and processor ``save_pretrained`` (so ``push_to_hub``)
write the remote-code files too.

With a transformers older than ``MIN_TRANSFORMERS`` (vLLM's own environment, where only
``qwen_audio_hf.serving`` and the layers below the model are used) nothing is imported or registered here, and
asking for a model class raises an error that says which transformers it needs.
"""

import transformers
from packaging.version import Version as _Version

__version__ = "0.1.0"
MIN_TRANSFORMERS = "5.24"

if _Version(transformers.__version__).release >= _Version(MIN_TRANSFORMERS).release:
    from transformers import (
        AutoConfig,
        AutoFeatureExtractor,
        AutoModel,
        AutoModelForCausalLM,
        AutoProcessor,
        AutoTokenizer,
    )

    from .modeling import *  # noqa: F401,F403
    from .modeling import (
        QwenAudioConfig,
        QwenAudioEncoder,
        QwenAudioEncoderConfig,
        QwenAudioForConditionalGeneration,
        QwenAudioModel,
        QwenAudioTextConfig,
        QwenAudioTextModel,
    )
    from .processing import *  # noqa: F401,F403
    from .processing import QwenAudioFeatureExtractor, QwenAudioProcessor, QwenAudioTokenizer
    from .long_form.pipeline import register_pipeline as _register_long_form_pipeline
    from .export import install_save_pretrained_hooks

    def _register_auto_classes() -> None:
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

    _register_auto_classes()
    _register_long_form_pipeline()  # transformers.pipeline("qwen-audio-long-form", model=DIR)
    install_save_pretrained_hooks()  # save_pretrained / push_to_hub / Trainer also write the remote-code files
else:

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"qwen_audio_hf.{name} needs transformers >= {MIN_TRANSFORMERS}; this environment has "
            f"{transformers.__version__} (e.g. vLLM's own environment, where only qwen_audio_hf.serving and "
            f"qwen_audio_hf.processing are meant to be used). Install transformers>={MIN_TRANSFORMERS} for the model."
        )
