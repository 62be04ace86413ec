"""Assemble a Qwen-Audio model from parts: a Whisper audio encoder and a causal language model.

`build_from_components(cls, audio_encoder, language_model, tokenizer=None)` (behind
`QwenAudioForConditionalGeneration.from_components`):

- audio_encoder: a transformers Whisper directory / model / encoder, or an openai-whisper ``.pt`` checkpoint.
  Its blocks map 1:1 onto the audio tower; Whisper's final layer norm becomes ``ln_post`` (``layer_norm``).
- language_model: a Qwen(-7B) directory in the original layout (translated by `original_checkpoint`), any
  transformers causal-LM directory, or a causal-LM model object.
- The projector and the audio bos/eos embedding are newly initialised; the vocabulary is extended with the audio
  special tokens and the new embedding / LM-head rows start at the mean of the known rows (plus a little noise).
- The matching processor (feature extractor with the encoder's mel bins + tokenizer) is built as well
  (`return_processor=True` returns ``(model, processor)``).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any, Dict, Optional, Tuple

import torch

from ..core.token_ids import (
    AUDIO_END,
    AUDIO_END_ID,
    AUDIO_PAD,
    AUDIO_SPECIAL_TOKENS,
    AUDIO_START,
    IM_END,
    IM_START,
    PADDED_VOCAB_SIZE,
    VOCAB_SIZE,
)
from .configuration_qwen_audio import QwenAudioConfig, QwenAudioEncoderConfig
NEW_ROW_NOISE = 0.01  # std of the noise added to new rows, as a fraction of the per-dimension std of known rows

_OPENAI_BLOCK_RENAMES = (
    (r"^blocks\.(\d+)\.attn\.query\.", r"layers.\1.self_attn.q_proj."),
    (r"^blocks\.(\d+)\.attn\.key\.", r"layers.\1.self_attn.k_proj."),
    (r"^blocks\.(\d+)\.attn\.value\.", r"layers.\1.self_attn.v_proj."),
    (r"^blocks\.(\d+)\.attn\.out\.", r"layers.\1.self_attn.out_proj."),
    (r"^blocks\.(\d+)\.attn_ln\.", r"layers.\1.self_attn_layer_norm."),
    (r"^blocks\.(\d+)\.mlp\.0\.", r"layers.\1.fc1."),
    (r"^blocks\.(\d+)\.mlp\.2\.", r"layers.\1.fc2."),
    (r"^blocks\.(\d+)\.mlp_ln\.", r"layers.\1.final_layer_norm."),
    (r"^ln_post\.", r"layer_norm."),
)


# ------------------------------------------------------------------------------------------- audio encoder
def _encoder_from_openai_checkpoint(path: str) -> Tuple[QwenAudioEncoderConfig, Dict[str, torch.Tensor]]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ValueError(f"{path} is not an openai-whisper checkpoint (expected a dict with 'dims' and 'model_state_dict').")
    dims = checkpoint["dims"]
    weights = checkpoint["model_state_dict"]
    ffn_weight = weights.get("encoder.blocks.0.mlp.0.weight")
    config = QwenAudioEncoderConfig(
        num_mel_bins=dims["n_mels"],
        max_source_positions=dims["n_audio_ctx"],
        d_model=dims["n_audio_state"],
        encoder_attention_heads=dims["n_audio_head"],
        encoder_layers=dims["n_audio_layer"],
        encoder_ffn_dim=ffn_weight.shape[0] if ffn_weight is not None else 4 * dims["n_audio_state"],
    )
    state = {}
    for key, value in weights.items():
        if not key.startswith("encoder."):
            continue
        key = key[len("encoder."):]
        if key == "positional_embedding":
            state["embed_positions.weight"] = value
            continue
        for pattern, replacement in _OPENAI_BLOCK_RENAMES:
            key = re.sub(pattern, replacement, key)
        state[key] = value
    return config, state


def _encoder_from_transformers(whisper: Any) -> Tuple[QwenAudioEncoderConfig, Dict[str, torch.Tensor]]:
    """Config + encoder-relative state dict from a Whisper model/encoder object."""
    config = whisper.config
    if getattr(config, "model_type", None) != "whisper":
        raise TypeError(f"audio_encoder must be a Whisper model, got model_type {getattr(config, 'model_type', None)!r}.")
    encoder = whisper.get_encoder() if hasattr(whisper, "get_encoder") else whisper
    encoder_config = QwenAudioEncoderConfig(
        num_mel_bins=config.num_mel_bins,
        max_source_positions=config.max_source_positions,
        d_model=config.d_model,
        encoder_attention_heads=config.encoder_attention_heads,
        encoder_layers=config.encoder_layers,
        encoder_ffn_dim=config.encoder_ffn_dim,
        activation_function=config.activation_function,
    )
    return encoder_config, {k: v.detach() for k, v in encoder.state_dict().items()}


def load_audio_encoder(audio_encoder: Any) -> Tuple[QwenAudioEncoderConfig, Dict[str, torch.Tensor]]:
    """(encoder config, state dict in audio-tower names) from a Whisper directory, .pt file or model object."""
    if isinstance(audio_encoder, (str, os.PathLike)):
        path = os.fspath(audio_encoder)
        if os.path.isfile(path):
            return _encoder_from_openai_checkpoint(path)
        if os.path.isfile(os.path.join(path, "config.json")):
            from transformers import WhisperModel

            return _encoder_from_transformers(WhisperModel.from_pretrained(path, dtype=torch.float32))
        raise ValueError(
            f"audio_encoder {path!r} is neither an openai-whisper .pt file nor a transformers Whisper directory "
            "(no config.json)."
        )
    if isinstance(audio_encoder, torch.nn.Module) and hasattr(audio_encoder, "config"):
        return _encoder_from_transformers(audio_encoder)
    raise TypeError(
        f"audio_encoder must be a path (Whisper directory or openai-whisper .pt) or a Whisper model, "
        f"got {type(audio_encoder).__name__}."
    )


def _check_sinusoid_positions(positions: Optional[torch.Tensor]) -> None:
    from .modeling_qwen_audio_encoder import sinusoid_positions

    if positions is None:
        return
    expected = sinusoid_positions(*positions.shape)
    if not torch.allclose(positions.float(), expected, atol=1e-3):
        warnings.warn(
            "The Whisper checkpoint's positional embedding is not the standard sinusoid table; Qwen-Audio recomputes "
            "the sinusoids, so the encoder will not reproduce that checkpoint's outputs exactly.",
            stacklevel=3,
        )


# ------------------------------------------------------------------------------------------- language model
def _is_original_qwen_dir(path: str) -> bool:
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        return False
    with open(config_path, encoding="utf-8") as handle:
        return json.load(handle).get("model_type") == "qwen"


def _read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory (safetensors preferred, else pytorch .bin shards)."""
    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    if files:
        from safetensors.torch import load_file

        loader = lambda name: load_file(os.path.join(path, name))  # noqa: E731
    else:
        files = sorted(f for f in os.listdir(path) if f.endswith(".bin"))
        loader = lambda name: torch.load(os.path.join(path, name), map_location="cpu", weights_only=True)  # noqa: E731
    if not files:
        raise ValueError(f"{path} has no *.safetensors or *.bin weight files.")
    state: Dict[str, torch.Tensor] = {}
    for name in files:
        state.update(loader(name))
    return state


def _load_original_qwen(path: str):
    """(text config, decoder state dict in Qwen2Model names, lm_head weight) from an original Qwen(-7B) directory.

    Reuses `original_checkpoint`'s config translation and key renames (q/k/v split from the fused c_attn)."""
    from .configuration_qwen_audio import QwenAudioTextConfig
    from .original_checkpoint import FUSED_QKV_SOURCE, ORIGINAL_KEY_RENAMES, SPLIT_QKV_TARGETS, translate_original_config

    with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
        config_dict = json.load(handle)
    hidden = config_dict.get("hidden_size", 4096)
    # The translation reads the text settings only; a stand-in audio dict satisfies its audio checks.
    stand_in_audio = {"n_state": 8, "n_head": 1, "n_layer": 1, "output_dim": hidden}
    text_dict = translate_original_config({**config_dict, "audio": stand_in_audio})["text_config"]
    text_config = QwenAudioTextConfig(**{k: v for k, v in text_dict.items() if k != "model_type"})

    prefix = "model.language_model."
    decoder_state, lm_head = {}, None
    for key, value in _read_state_dict(path).items():
        for pattern, replacement in ORIGINAL_KEY_RENAMES:
            key = re.sub(pattern, replacement, key)
        if key == "lm_head.weight":
            lm_head = value
            continue
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        if FUSED_QKV_SOURCE in key:
            for target, chunk in zip(SPLIT_QKV_TARGETS, value.chunk(3, dim=0)):
                decoder_state[key.replace(FUSED_QKV_SOURCE, target)] = chunk.contiguous()
        else:
            decoder_state[key] = value
    return text_config, decoder_state, lm_head


def load_language_model(language_model: Any):
    """(text config, decoder state dict, lm_head weight, tokenizer or None) from a directory or model object."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

    tokenizer = None
    if isinstance(language_model, (str, os.PathLike)):
        path = os.fspath(language_model)
        if not os.path.isdir(path):
            raise ValueError(f"language_model {path!r} is not a directory (expected a Qwen or transformers checkpoint).")
        if _is_original_qwen_dir(path):
            text_config, decoder_state, lm_head = _load_original_qwen(path)
            return text_config, decoder_state, lm_head, None
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError, TypeError):
            tokenizer = None
        language_model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if not isinstance(language_model, PreTrainedModel) or language_model.get_output_embeddings() is None:
        raise TypeError(
            f"language_model must be a causal-LM directory or model with an LM head, got {type(language_model).__name__}."
        )
    decoder = language_model.get_decoder()
    text_config = language_model.config.get_text_config() if hasattr(language_model.config, "get_text_config") else language_model.config
    decoder_state = {k: v.detach() for k, v in decoder.state_dict().items()}
    lm_head = language_model.get_output_embeddings().weight.detach()
    return text_config, decoder_state, lm_head, tokenizer


# ------------------------------------------------------------------------------------------- tokenizer / vocab
def _qwen_audio_tokenizer(language_model: Any):
    """The Qwen-Audio tokenizer, from the Qwen directory's own qwen.tiktoken when it has one."""
    from ..processing.tokenization_qwen_audio import QwenAudioTokenizer

    if isinstance(language_model, (str, os.PathLike)):
        vocab_file = os.path.join(os.fspath(language_model), "qwen.tiktoken")
        if os.path.isfile(vocab_file):
            return QwenAudioTokenizer(vocab_file=vocab_file)
    return QwenAudioTokenizer()


def extend_tokenizer(tokenizer):
    """Add the ChatML and audio special tokens (canonical order) that `tokenizer` lacks.

    Returns (tokenizer, known_rows): the ids below known_rows are the tokenizer's own vocabulary, whose embedding
    rows a pretrained language model has learnt; the audio specials (new or already present) lie at or above it."""
    vocab = tokenizer.get_vocab()
    present_audio_ids = [vocab[token] for token in AUDIO_SPECIAL_TOKENS if token in vocab]
    known = min([len(tokenizer), *present_audio_ids])
    missing = [token for token in (IM_START, IM_END, *AUDIO_SPECIAL_TOKENS) if token not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    for name, token in (
        ("audio_token", AUDIO_PAD),
        ("audio_start_token", AUDIO_START),
        ("audio_end_token", AUDIO_END),
    ):
        if not hasattr(tokenizer, name):
            setattr(tokenizer, name, token)
    return tokenizer, known


def _has_qwen_audio_ids(tokenizer) -> bool:
    """True for the Qwen-Audio vocabulary itself (then the model keeps the release's 155947 rows)."""
    return len(tokenizer) == VOCAB_SIZE and tokenizer.convert_tokens_to_ids(AUDIO_END) == AUDIO_END_ID


def initialise_new_rows(weight: torch.Tensor, known_rows: int, generator: torch.Generator) -> None:
    """Set rows >= known_rows to the mean of the known rows plus small noise (in place)."""
    if known_rows >= weight.shape[0]:
        return
    with torch.no_grad():
        known = weight[:known_rows].float()
        mean, std = known.mean(0), known.std(0)
        noise = torch.randn((weight.shape[0] - known_rows, weight.shape[1]), generator=generator)
        weight[known_rows:] = (mean + NEW_ROW_NOISE * std * noise).to(weight.dtype)


def _resized(weight: torch.Tensor, rows: int) -> torch.Tensor:
    if weight.shape[0] >= rows:
        return weight[:rows].clone()
    return torch.cat([weight, weight.new_zeros(rows - weight.shape[0], weight.shape[1])])


# ------------------------------------------------------------------------------------------- assembly
def _load_part(module: torch.nn.Module, state: Dict[str, torch.Tensor], what: str, ignore: str) -> None:
    """Load `state` into `module`; any missing/unexpected/misshaped tensor raises one clear ValueError."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise ValueError(f"{what} do not fit the {type(module).__name__}: {error}") from error
    missing = [key for key in missing if ignore not in key]
    if missing or unexpected:
        raise ValueError(f"{what} do not fit the {type(module).__name__}: missing {missing}, unexpected {unexpected}.")


def register(model_class) -> None:
    """Make `build_from_components` the `from_components` of `model_class` (QwenAudioForConditionalGeneration)."""
    model_class.components_builder = staticmethod(build_from_components)


def build_from_components(
    cls,
    audio_encoder: Any,
    language_model: Any,
    tokenizer: Any = None,
    *,
    vocab_size: Optional[int] = None,
    seed: int = 0,
    return_processor: bool = False,
    dtype: Optional[torch.dtype] = None,
    **config_kwargs,
):
    """Build `cls` (QwenAudioForConditionalGeneration) from a Whisper encoder and a causal LM; see module doc.

    `dtype` (e.g. torch.bfloat16) builds the model directly in that dtype, so a 7B model never needs an fp32 copy;
    the default builds in torch's default dtype (float32).
    """
    from ..processing.feature_extraction_qwen_audio import QwenAudioFeatureExtractor
    from ..processing.processing_qwen_audio import QwenAudioProcessor

    audio_config, encoder_state = load_audio_encoder(audio_encoder)
    text_config, decoder_state, lm_head, lm_tokenizer = load_language_model(language_model)

    # Tokenizer: given > the LM's own (extended with the audio specials) > the Qwen-Audio tokenizer.
    if tokenizer is None:
        tokenizer = lm_tokenizer
    if tokenizer is None:
        tokenizer = _qwen_audio_tokenizer(language_model)
    tokenizer, known_rows = extend_tokenizer(tokenizer)
    minimum_vocab = PADDED_VOCAB_SIZE if _has_qwen_audio_ids(tokenizer) else len(tokenizer)
    old_vocab = decoder_state["embed_tokens.weight"].shape[0]
    known_rows = min(known_rows, old_vocab)
    new_vocab = vocab_size or max(minimum_vocab, len(tokenizer), old_vocab)
    if new_vocab < len(tokenizer):
        raise ValueError(f"vocab_size={new_vocab} is smaller than the tokenizer ({len(tokenizer)} tokens).")
    text_config.vocab_size = new_vocab
    if text_config.hidden_size is None:
        raise ValueError("The language model's config has no hidden_size.")

    ids = {
        "audio_token_id": tokenizer.convert_tokens_to_ids(AUDIO_PAD),
        "audio_start_token_id": tokenizer.convert_tokens_to_ids(AUDIO_START),
        "audio_end_token_id": tokenizer.convert_tokens_to_ids(AUDIO_END),
    }
    tie = bool(getattr(text_config, "tie_word_embeddings", False))
    config = QwenAudioConfig(audio_config=audio_config, text_config=text_config, tie_word_embeddings=tie,
                             **ids, **config_kwargs)
    torch.manual_seed(seed)
    default_dtype = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        model = cls(config)
    finally:
        torch.set_default_dtype(default_dtype)
    model.eval()

    # Audio tower: Whisper weights 1:1, sinusoid positions recomputed.
    _check_sinusoid_positions(encoder_state.pop("embed_positions.weight", None))
    _load_part(model.model.audio_tower, encoder_state, "Whisper encoder weights", ignore="position")

    # Language model: decoder + LM head, vocabulary extended with mean-initialised rows.
    generator = torch.Generator().manual_seed(seed)
    decoder_state["embed_tokens.weight"] = _resized(decoder_state["embed_tokens.weight"], new_vocab)
    initialise_new_rows(decoder_state["embed_tokens.weight"], known_rows, generator)
    _load_part(model.model.language_model, decoder_state, "Language-model weights", ignore="rotary")
    if not tie:
        head = _resized(lm_head if lm_head is not None else decoder_state["embed_tokens.weight"], new_vocab)
        initialise_new_rows(head, known_rows, generator)
        with torch.no_grad():
            model.lm_head.weight.copy_(head)

    if not return_processor:
        return model
    feature_extractor = QwenAudioFeatureExtractor(feature_size=audio_config.num_mel_bins)
    return model, QwenAudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
