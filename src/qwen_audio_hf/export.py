"""Hub export: a saved repository that loads with this package (Auto classes) and without it (trust_remote_code).

`save_for_hub(model, processor, out_dir)` writes the native weights and processor files, copies the self-contained
modules (see SPEC, "Self-contained code rule") next to them as flat files with flat sibling imports, adds `auto_map`
entries to every config file and writes a model card. Only what loading and running need is copied: the modules the
entry points import at module level (imports inside functions are optional tools of the package, e.g.
`from_components`); the checkpoint build and conversion tools (`BUILD_TOOLS`) are never shipped. `push_to_hub(model, processor, repo_id)` does the same in a
temporary folder and uploads it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

PACKAGE_ROOT = Path(__file__).resolve().parent

# Entry points of the code a repository needs to run without this package (relative to the package root);
# their relative imports are followed, so every sibling module they use is bundled too.
REMOTE_CODE_ENTRY_POINTS = (
    "modeling/configuration_qwen_audio.py",
    "modeling/modeling_qwen_audio.py",
    "processing/tokenization_qwen_audio.py",
    "processing/feature_extraction_qwen_audio.py",
    "processing/processing_qwen_audio.py",
)

# Package tools a loaded model never runs; an export that would need one of them is refused.
BUILD_TOOLS = (
    "modeling/components.py",
    "modeling/conversion.py",
    "modeling/original_checkpoint.py",
)

MODEL_AUTO_MAP = {
    "AutoConfig": "configuration_qwen_audio.QwenAudioConfig",
    "AutoModel": "modeling_qwen_audio.QwenAudioModel",
    "AutoModelForCausalLM": "modeling_qwen_audio.QwenAudioForConditionalGeneration",
}
PROCESSOR_AUTO_MAP = {
    "AutoProcessor": "processing_qwen_audio.QwenAudioProcessor",
    "AutoFeatureExtractor": "feature_extraction_qwen_audio.QwenAudioFeatureExtractor",
}
TOKENIZER_AUTO_MAP = {"AutoTokenizer": [None, "tokenization_qwen_audio.QwenAudioTokenizer"]}

_RELATIVE_IMPORT = re.compile(r"^(\s*)from\s+(\.+)((?:\w+\.)*)(\w+)\s+import\s", flags=re.MULTILINE)
_PACKAGE_IMPORT = re.compile(r"^\s*(?:from|import)\s+qwen_audio_hf\b", flags=re.MULTILINE)
_BARE_RELATIVE_IMPORT = re.compile(r"^\s*from\s+\.+\s+import\s", flags=re.MULTILINE)


def _check_no_package_imports(source: str, file_name: str) -> None:
    if _PACKAGE_IMPORT.search(source) or _BARE_RELATIVE_IMPORT.search(source):
        raise ValueError(
            f"{file_name} imports the qwen_audio_hf package (or `from . import ...`); self-contained modules may only "
            "use `from .module import name` relative imports (see SPEC, 'Self-contained code rule')."
        )


def _module_level_relative_imports(source: str, relative_file: str) -> List[str]:
    """Package-relative paths of the modules `source` imports relatively at import time (not inside functions)."""
    parts = relative_file.split("/")[:-1]
    found: List[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.ImportFrom) and child.level:
                if child.level - 1 > len(parts):
                    raise ValueError(f"{relative_file}:{child.lineno}: a relative import climbs above the package.")
                base = parts[: len(parts) - (child.level - 1)]
                found.append("/".join(base + (child.module or "").split(".")) + ".py")
            visit(child)

    visit(ast.parse(source, filename=relative_file))
    return found


def remote_code_files(entry_points=REMOTE_CODE_ENTRY_POINTS) -> List[str]:
    """The entry modules plus every module they import relatively at module level (transitively)."""
    found, queue = [], [(entry, None) for entry in entry_points]
    while queue:
        relative, importer = queue.pop(0)
        if relative in found:
            continue
        if relative in BUILD_TOOLS:
            raise ValueError(
                f"{importer} imports the build tool {relative} at module level; Hub exports ship only what loading "
                "and running need: import it inside the function that uses it."
            )
        path = PACKAGE_ROOT / relative
        if not path.is_file():
            raise FileNotFoundError(f"Remote-code module {path} is missing from the installed package.")
        source = path.read_text(encoding="utf-8")
        _check_no_package_imports(source, relative)
        found.append(relative)
        queue += [(module, relative) for module in _module_level_relative_imports(source, relative)]
    stems = [Path(p).name for p in found]
    clashes = sorted({name for name in stems if stems.count(name) > 1})
    if clashes:
        raise ValueError(f"Remote-code modules {clashes} exist in several subpackages; flat files would collide.")
    return found


def flatten_relative_imports(source: str, file_name: str) -> str:
    """Rewrite `from .x import y` / `from ..pkg.x import y` into the flat sibling import `from .x import y`."""
    _check_no_package_imports(source, file_name)
    return _RELATIVE_IMPORT.sub(lambda m: f"{m.group(1)}from .{m.group(4)} import ", source)


def write_remote_code(out_dir: str | os.PathLike) -> List[str]:
    """Copy the self-contained modules into `out_dir` as flat files; returns their file names."""
    written = []
    for relative in remote_code_files():
        source_path = PACKAGE_ROOT / relative
        text = flatten_relative_imports(source_path.read_text(encoding="utf-8"), relative)
        (Path(out_dir) / source_path.name).write_text(text, encoding="utf-8")
        written.append(source_path.name)
    return written


def _update_json(path: Path, update) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    update(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _merge_auto_map(data: Dict, entries: Dict) -> None:
    data["auto_map"] = {**data.get("auto_map", {}), **entries}


def add_auto_maps(out_dir: str | os.PathLike) -> None:
    """Point every config file in `out_dir` at the flat remote-code modules."""
    out_dir = Path(out_dir)
    config = out_dir / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config} is missing: save the model into {out_dir} first.")
    _update_json(config, lambda d: _merge_auto_map(d, MODEL_AUTO_MAP))
    add_processor_auto_maps(out_dir)


def add_processor_auto_maps(out_dir: str | os.PathLike) -> None:
    """Point the processor, feature-extractor and tokenizer configs in `out_dir` at the flat modules."""
    out_dir = Path(out_dir)
    processor_entries = {**PROCESSOR_AUTO_MAP, **TOKENIZER_AUTO_MAP}

    def update_processor(data: Dict) -> None:
        _merge_auto_map(data, processor_entries)
        if isinstance(data.get("feature_extractor"), dict):
            _merge_auto_map(data["feature_extractor"], processor_entries)

    for name in ("processor_config.json", "preprocessor_config.json"):
        if (out_dir / name).is_file():
            _update_json(out_dir / name, update_processor)
    if (out_dir / "tokenizer_config.json").is_file():
        _update_json(out_dir / "tokenizer_config.json", lambda d: _merge_auto_map(d, processor_entries))


def _count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def write_model_card(model, out_dir: str | os.PathLike, repo_id: Optional[str] = None, description: str = "") -> Path:
    """Write README.md: what the model is, its sizes and how to load it with or without this package."""
    config = model.config
    text_config, audio_config = config.text_config, config.audio_config
    name = repo_id or "path/to/this/repo"
    card = f"""---
library_name: transformers
pipeline_tag: audio-text-to-text
tags:
- qwen-audio
- audio
- custom_code
license: other
---

# Qwen-Audio ({_count_parameters(model) / 1e6:.1f}M parameters)

{description or "A Qwen-Audio model in the native transformers layout, exported by qwen-audio-hf."}

| part | size |
|---|---|
| audio encoder | {audio_config.encoder_layers} layers, d_model {audio_config.d_model}, {audio_config.num_mel_bins} mel bins |
| language model | {text_config.num_hidden_layers} layers, hidden {text_config.hidden_size}, vocabulary {text_config.vocab_size} |

## Use with qwen-audio-hf installed

```python
import qwen_audio_hf  # registers the Auto classes
from transformers import AutoModelForCausalLM, AutoProcessor

model = AutoModelForCausalLM.from_pretrained("{name}")
processor = AutoProcessor.from_pretrained("{name}")
```

## Use without it (remote code)

The repository carries its own modeling and processing code:

```python
from transformers import AutoModelForCausalLM, AutoProcessor

model = AutoModelForCausalLM.from_pretrained("{name}", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("{name}", trust_remote_code=True)
```

## Prompting

Audio goes in as `<audio>path-or-placeholder</audio>` followed by task tags, for example
`<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>`;
the processor expands the audio span and computes the log-mel features.
"""
    path = Path(out_dir) / "README.md"
    path.write_text(card, encoding="utf-8")
    return path


def save_for_hub(model, processor, out_dir: str | os.PathLike, repo_id: Optional[str] = None,
                 description: str = "", safe_serialization: bool = True) -> Path:
    """Save model + processor into `out_dir` as a repository loadable with or without qwen_audio_hf."""
    if processor is None:
        raise ValueError("save_for_hub needs the processor too (pass the QwenAudioProcessor used with the model).")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=safe_serialization)
    processor.save_pretrained(out_dir)
    write_remote_code(out_dir)
    add_auto_maps(out_dir)
    write_model_card(model, out_dir, repo_id=repo_id, description=description)
    return out_dir


def write_model_hub_files(model, save_directory: str | os.PathLike) -> None:
    """`save_pretrained` hook: remote code + `auto_map` next to a saved model, so the standard
    `model.save_pretrained` / `model.push_to_hub` output loads through trust_remote_code too."""
    write_remote_code(save_directory)
    _update_json(Path(save_directory) / "config.json", lambda d: _merge_auto_map(d, MODEL_AUTO_MAP))


def write_processor_hub_files(processor, save_directory: str | os.PathLike) -> None:
    """`save_pretrained` hook: remote code + `auto_map` next to a saved processor (also what Trainer saves)."""
    write_remote_code(save_directory)
    add_processor_auto_maps(save_directory)


def install_save_pretrained_hooks() -> None:
    """Make every save_pretrained / push_to_hub of the model and processor classes write the Hub files (run when
    qwen_audio_hf is imported)."""
    from .modeling.modeling_qwen_audio import QwenAudioPreTrainedModel
    from .processing.processing_qwen_audio import QwenAudioProcessor

    for cls, hook in ((QwenAudioPreTrainedModel, write_model_hub_files),
                      (QwenAudioProcessor, write_processor_hub_files)):
        if hook not in cls.save_pretrained_hooks:
            cls.save_pretrained_hooks.append(hook)


def push_to_hub(model, processor, repo_id: str, private: bool = False, token: Optional[str] = None,
                commit_message: str = "Upload Qwen-Audio model", description: str = "") -> str:
    """Export to a temporary folder with `save_for_hub` and upload it to `repo_id`; returns the commit URL."""
    from huggingface_hub import HfApi

    if not repo_id or "/" not in repo_id:
        raise ValueError(f"repo_id must look like 'user/name', got {repo_id!r}.")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_for_hub(model, processor, tmp, repo_id=repo_id, description=description)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
