"""Serve Qwen-Audio with vLLM (`pip install "qwen-audio-hf[vllm]"`): a vLLM general plugin, see docs/SERVING.md.

Runs in vLLM's own environment, whose transformers is older than the one `qwen_audio_hf.modeling` needs: this
package imports only `qwen_audio_hf.processing` and vLLM, never the transformers model.
"""

from .configuration import ARCHITECTURE, MODEL_TYPE, QwenAudioServingConfig


def register() -> None:
    """vLLM `general_plugins` entry point: make `vllm serve DIR` / `LLM(model=DIR)` load converted checkpoints."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoProcessor, AutoTokenizer
    from vllm import ModelRegistry

    from ..processing import QwenAudioFeatureExtractor, QwenAudioProcessor, QwenAudioTokenizer
    from .original_layout import install_released_layout_check

    install_released_layout_check()  # `vllm serve ORIGINAL_DIR`: stop at once, naming the convert command

    AutoConfig.register(MODEL_TYPE, QwenAudioServingConfig, exist_ok=True)
    AutoTokenizer.register(QwenAudioServingConfig, fast_tokenizer_class=QwenAudioTokenizer, exist_ok=True)
    AutoFeatureExtractor.register(QwenAudioServingConfig, QwenAudioFeatureExtractor, exist_ok=True)
    AutoProcessor.register(QwenAudioServingConfig, QwenAudioProcessor, exist_ok=True)
    if ARCHITECTURE not in ModelRegistry.get_supported_archs():
        ModelRegistry.register_model(ARCHITECTURE, "qwen_audio_hf.serving.vllm_model:QwenAudioForConditionalGeneration")


__all__ = ["QwenAudioServingConfig", "register"]
