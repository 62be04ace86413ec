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
- Memory: built on the meta device, allocated once in `dtype`, filled tensor by tensor from the parts' files
  (`component_sources`); `dtype="auto"` (default) is the language model's stored dtype.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Optional

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
from .component_sources import audio_encoder_source, language_model_source
from .configuration_qwen_audio import QwenAudioConfig

NEW_ROW_NOISE = 0.01  # std of the noise added to new rows, as a fraction of the per-dimension std of known rows
STATS_CHUNK_ROWS = 1024  # rows per chunk when computing the known rows' mean/std (no full-matrix fp32 copy)


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


# ------------------------------------------------------------------------------------------- tokenizer / vocab
def _qwen_audio_tokenizer(language_model: Any):
    """The Qwen-Audio tokenizer, from the Qwen directory's own qwen.tiktoken when it has one."""
    import os

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


def _known_row_stats(weight: torch.Tensor, known_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std of weight[:known_rows], accumulated in float64 over row chunks."""
    total = torch.zeros(weight.shape[1], dtype=torch.float64)
    squares = torch.zeros(weight.shape[1], dtype=torch.float64)
    for start in range(0, known_rows, STATS_CHUNK_ROWS):
        chunk = weight[start : min(start + STATS_CHUNK_ROWS, known_rows)].double()
        total += chunk.sum(0)
        squares += (chunk * chunk).sum(0)
    mean = total / known_rows
    variance = (squares - known_rows * mean * mean) / max(known_rows - 1, 1)
    return mean.float(), variance.clamp(min=0).sqrt().float()


def initialise_new_rows(weight: torch.Tensor, known_rows: int, generator: torch.Generator) -> None:
    """Set rows >= known_rows to the mean of the known rows plus small noise (in place)."""
    if known_rows >= weight.shape[0]:
        return
    with torch.no_grad():
        mean, std = _known_row_stats(weight, known_rows)
        rows = torch.randn((weight.shape[0] - known_rows, weight.shape[1]), generator=generator)
        weight[known_rows:] = rows.mul_(NEW_ROW_NOISE * std).add_(mean)  # in place: one temporary table


# ------------------------------------------------------------------------------------------- assembly
@contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _resolve_dtype(dtype: Any, stored: Optional[torch.dtype]) -> torch.dtype:
    """dtype=None / "auto": the language model's stored dtype (its config's `dtype`), else float32."""
    if dtype is None or dtype == "auto":
        return stored if stored is not None and stored.is_floating_point else torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype (or 'auto'), got {dtype!r}.")
    return dtype


class _Loader:
    """Copies streamed tensors into a model's (uninitialised) parameters and buffers, one tensor at a time."""

    def __init__(self, model: torch.nn.Module):
        self.targets = dict(model.named_parameters(remove_duplicate=False))
        self.targets.update(model.named_buffers(remove_duplicate=False))
        self.loaded: set[str] = set()
        self.unexpected: list[str] = []

    def load(self, name: str, tensor: torch.Tensor, what: str, rows: Optional[int] = None) -> None:
        target = self.targets.get(name)
        if target is None:
            self.unexpected.append(name)
            return
        if rows is not None:  # a vocabulary table: copy the rows both share
            rows = min(rows, tensor.shape[0], target.shape[0])
            tensor, destination = tensor[:rows], target[:rows]
        else:
            destination = target
        if tensor.shape != destination.shape:
            raise ValueError(
                f"{what} do not fit: {name} has shape {tuple(tensor.shape)} in the checkpoint but "
                f"{tuple(destination.shape)} in the model."
            )
        with torch.no_grad():
            destination.copy_(tensor)
        target._is_hf_initialized = True
        self.loaded.add(name)

    def check(self, prefix: str, what: str, ignore: tuple[str, ...]) -> None:
        missing = [n for n in self.targets if n.startswith(prefix) and n not in self.loaded
                   and not any(part in n for part in ignore)]
        unexpected = [n for n in self.unexpected if n.startswith(prefix)]
        if missing or unexpected:
            raise ValueError(f"{what} do not fit the model: missing {missing}, unexpected {unexpected}.")


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
    dtype: Any = "auto",
    **config_kwargs,
):
    """Build `cls` (QwenAudioForConditionalGeneration) from a Whisper encoder and a causal LM; see module doc.

    Memory: the model is created on the meta device and its storage allocated once, in `dtype`; the parts' weights
    are then copied in one tensor at a time, straight from their files (only the Whisper encoder's, never its
    decoder). Peak memory is about the model in `dtype` plus one tensor, never an fp32 copy of a bf16 model.
    `dtype`: "auto" (default, like transformers' from_pretrained) takes the language model's stored dtype (its
    config's `dtype`; the parameters' dtype for a model object), float32 when it declares none; or a torch dtype.
    """
    from ..processing.feature_extraction_qwen_audio import QwenAudioFeatureExtractor
    from ..processing.processing_qwen_audio import QwenAudioProcessor

    audio_config, encoder_tensors, _ = audio_encoder_source(audio_encoder)
    text_config, lm_tensors, lm_dtype, lm_tokenizer = language_model_source(language_model)
    dtype = _resolve_dtype(dtype, lm_dtype)

    # Tokenizer: given > the LM's own (extended with the audio specials) > the Qwen-Audio tokenizer.
    if tokenizer is None:
        tokenizer = lm_tokenizer
    if tokenizer is None:
        tokenizer = _qwen_audio_tokenizer(language_model)
    tokenizer, known_rows = extend_tokenizer(tokenizer)
    minimum_vocab = PADDED_VOCAB_SIZE if _has_qwen_audio_ids(tokenizer) else len(tokenizer)
    old_vocab = text_config.vocab_size
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
    with _default_dtype(dtype), torch.device("meta"):
        model = cls(config)
    model.to_empty(device="cpu")  # the one allocation of the model, uninitialised
    if tie:
        model.tie_weights()
    for module in model.modules():
        module._is_hf_initialized = False
    model.eval()
    loader = _Loader(model)

    # Audio tower: Whisper weights 1:1, sinusoid positions recomputed.
    for key, value in encoder_tensors:
        if key == "embed_positions.weight":
            _check_sinusoid_positions(value)
            continue
        loader.load(f"model.audio_tower.{key}", value, "Whisper encoder weights")
    loader.check("model.audio_tower.", "Whisper encoder weights", ignore=("embed_positions",))

    # Language model: decoder + LM head, vocabulary extended with mean-initialised rows.
    embed_name = "model.language_model.embed_tokens.weight"
    head_source = False
    for key, value in lm_tensors:
        if key == "lm_head.weight":
            if not tie:
                loader.load("lm_head.weight", value, "Language-model weights", rows=old_vocab)
                head_source = True
        elif key == "embed_tokens.weight":
            loader.load(embed_name, value, "Language-model weights", rows=old_vocab)
        else:
            loader.load(f"model.language_model.{key}", value, "Language-model weights")
    loader.check("model.language_model.", "Language-model weights", ignore=("rotary",))
    generator = torch.Generator().manual_seed(seed)
    embed = model.get_input_embeddings().weight
    initialise_new_rows(embed, known_rows, generator)
    if not tie:
        head = model.lm_head.weight
        if not head_source:  # the source LM ties its head to its embeddings
            with torch.no_grad():
                head[:known_rows].copy_(embed[:known_rows])
            head._is_hf_initialized = True
        initialise_new_rows(head, known_rows, generator)

    # What is new (projector, audio bos/eos) is initialised as in a fresh model; buffers are recomputed.
    torch.manual_seed(seed)
    model.initialize_weights()

    if not return_processor:
        return model
    feature_extractor = QwenAudioFeatureExtractor(feature_size=audio_config.num_mel_bins)
    return model, QwenAudioProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
