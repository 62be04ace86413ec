"""QLoRA: bitsandbytes 4-bit / 8-bit loading of the language model, the audio side and ``lm_head`` kept unquantized.

- :func:`quantization_config` — a ``BitsAndBytesConfig`` whose skip list names the unquantized submodules by their
  full dotted names. bitsandbytes matches skip entries from the start of a module name (or as a suffix of it), so a
  bare ``"audio_tower"`` matches nothing and quietly quantizes the encoder; and an explicit list replaces the
  default skips, so ``lm_head`` has to be listed too.
- :func:`load_quantized` — ``from_pretrained`` with that config, checked by :func:`check_quantized_layout`.
- :func:`prepare_for_kbit_training` — peft's ``prepare_model_for_kbit_training`` steps before LoRA.
- :func:`restore_cpu_4bit_weights` — undo bitsandbytes' CPU inference repacking (see its docstring).
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.command_options import QUANTIZATION_NAMES

QUANTIZATION_CHOICES = QUANTIZATION_NAMES
"""4bit / 8bit: bitsandbytes (QLoRA); int8: CPU inference, every linear layer in int8 (modeling.int8)."""
UNQUANTIZED_MODULES = ("model.audio_tower", "model.multi_modal_projector", "lm_head")
"""Full dotted names kept in the load dtype (bf16): audio encoder, projector (incl. audio bos/eos), LM head."""
QUANTIZED_MODULE = "model.language_model"


def _check_choice(quantization: str) -> str:
    if quantization not in QUANTIZATION_CHOICES:
        raise ValueError(f"quantization must be one of {QUANTIZATION_CHOICES}, got {quantization!r}.")
    return quantization


def quantization_config(quantization: str, compute_dtype: torch.dtype = torch.bfloat16):
    """``BitsAndBytesConfig`` for ``"4bit"`` (NF4, double quantization, ``compute_dtype`` matmuls) or ``"8bit"``
    (LLM.int8) of the language model's linear layers only."""
    from transformers import BitsAndBytesConfig

    if _check_choice(quantization) == "int8":
        from ..modeling.int8 import QwenAudioInt8Config

        return QwenAudioInt8Config()
    skip = list(UNQUANTIZED_MODULES)
    if _check_choice(quantization) == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute_dtype, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)


def quantized_linear_classes() -> tuple[type, ...]:
    import bitsandbytes as bnb

    return (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)


def module_types(model: Any) -> dict[str, set[str]]:
    """Class names of the ``nn.Linear``-like layers under each top-level part (audio tower, projector, language
    model, lm_head)."""
    parts = (*UNQUANTIZED_MODULES, QUANTIZED_MODULE)
    found: dict[str, set[str]] = {part: set() for part in parts}
    for name, module in model.named_modules():
        name = name.removeprefix("base_model.model.")  # the same names under a PeftModel
        part = next((p for p in parts if name == p or name.startswith(p + ".")), None)
        if part is not None and isinstance(module, torch.nn.Linear) and ".lora_" not in name:
            found[part].add(type(module).__name__)
    return found


def check_quantized_layout(model: Any) -> None:
    """Raise unless every linear layer of the language model is quantized and none of the audio side or lm_head."""
    types = module_types(model)
    quantized = {cls.__name__ for cls in quantized_linear_classes()}
    wrong = [f"{part}: {sorted(types[part])}" for part in UNQUANTIZED_MODULES if types[part] & quantized]
    if not types[QUANTIZED_MODULE] or types[QUANTIZED_MODULE] - quantized:
        wrong.append(f"{QUANTIZED_MODULE}: {sorted(types[QUANTIZED_MODULE])}")
    if wrong:
        raise ValueError(
            f"unexpected quantized layout ({'; '.join(wrong)}): only {QUANTIZED_MODULE}'s linear layers may be "
            f"quantized. Load with quantization_config=quantization_config('4bit'|'8bit'), whose skip list uses "
            f"the full names {UNQUANTIZED_MODULES}."
        )


def load_quantized(model_path: str, quantization: str, dtype: torch.dtype = torch.bfloat16, **kwargs: Any):
    """``QwenAudioForConditionalGeneration.from_pretrained`` with the language model in 4 or 8 bits and the rest in
    ``dtype`` (``"int8"``: every linear layer in int8, CPU inference); the layout is verified."""
    from ..modeling import QwenAudioForConditionalGeneration

    model = QwenAudioForConditionalGeneration.from_pretrained(
        model_path, quantization_config=quantization_config(quantization, compute_dtype=dtype), dtype=dtype, **kwargs
    )
    if quantization == "int8":
        left = [name for name, module in model.named_modules() if type(module) is torch.nn.Linear]
        if left:
            raise ValueError(f"int8 load left float linear layers: {left[:5]}")
    else:
        check_quantized_layout(model)
    return model


def is_quantized(model: Any) -> bool:
    return bool(getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None)


def restore_cpu_4bit_weights(model: Any) -> int:
    """Unpack 4-bit weights that bitsandbytes repacked for CPU inference, and stop further repacking.

    On a CPU with AVX512-BF16, a ``Linear4bit`` called in eval mode without gradients (``generate``, evaluation)
    rewrites its weight into a packed layout whose matmul has no backward: training afterwards gets no gradient
    through the frozen base weights, so LoRA-B gradients upstream of the first adapted layer are zero (or, with a
    bias, the forward raises). Returns the number of layers unpacked.
    """
    import bitsandbytes as bnb

    unpacked = 0
    for module in model.modules():
        if not isinstance(module, bnb.nn.Linear4bit):
            continue
        module.support_avx512bf16_for_cpu = False  # no repacking from now on (it only speeds up CPU inference)
        state = getattr(module.weight, "quant_state", None)
        if state is not None and getattr(state, "packing_format_for_cpu", False):
            from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

            module.weight.data, module.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                module.weight.data, state
            )
            module.quant_state = module.weight.quant_state
            unpacked += 1
    return unpacked


def prepare_for_kbit_training(model: Any, gradient_checkpointing: bool = True, upcast_to_fp32: bool = False):
    """Get a quantized model ready for LoRA: CPU repacking undone, every base weight frozen, input gradients on for
    reentrant checkpointing.

    ``upcast_to_fp32=True`` runs peft's ``prepare_model_for_kbit_training`` as is, which also casts every
    unquantized weight (audio encoder, embeddings, lm_head: ~1.9B parameters at full size) to fp32. The default
    keeps them in the load dtype (bf16), the memory QLoRA is for; the loss is still computed in fp32.
    """
    if not is_quantized(model):
        raise ValueError("prepare_for_kbit_training needs a model loaded with quantization_config (load_quantized).")
    restore_cpu_4bit_weights(model)
    if upcast_to_fp32:
        from peft import prepare_model_for_kbit_training

        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                               gradient_checkpointing_kwargs={"use_reentrant": False})
    model.requires_grad_(False)
    if gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return model


__all__ = [
    "QUANTIZATION_CHOICES",
    "UNQUANTIZED_MODULES",
    "check_quantized_layout",
    "is_quantized",
    "load_quantized",
    "module_types",
    "prepare_for_kbit_training",
    "quantization_config",
    "restore_cpu_4bit_weights",
]
