"""Every Auto class reads a folder in the released layout like a converted one: no remote code, no prompt."""

import json
import shutil
import sys

import numpy as np
import pytest
import torch
import transformers
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
)

from qwen_audio_hf import (
    QwenAudioConfig,
    QwenAudioFeatureExtractor,
    QwenAudioForConditionalGeneration,
    QwenAudioModel,
    QwenAudioProcessor,
    QwenAudioTokenizer,
)

from .original_layout import REMOTE_CODE_TRAP, released_and_converted_folders

EXPECTED = {
    AutoConfig: QwenAudioConfig,
    AutoModel: QwenAudioModel,
    AutoModelForCausalLM: QwenAudioForConditionalGeneration,
    AutoProcessor: QwenAudioProcessor,
    AutoTokenizer: QwenAudioTokenizer,
    AutoFeatureExtractor: QwenAudioFeatureExtractor,
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return released_and_converted_folders(tmp_path_factory.mktemp("layouts"))


def _no_remote_code_loaded():
    return not [name for name in sys.modules if name.startswith("transformers_modules")]


@pytest.mark.parametrize("layout", ["original", "converted"])
@pytest.mark.parametrize("auto_class", list(EXPECTED), ids=lambda cls: cls.__name__)
def test_auto_class_loads_the_folder_locally(folders, layout, auto_class):
    loaded = auto_class.from_pretrained(folders[layout])  # pytest's stdin cannot answer a prompt: it would raise
    assert type(loaded) is EXPECTED[auto_class]
    assert _no_remote_code_loaded()


def test_auto_model_gives_the_logits_of_the_explicit_class(folders):
    processor = AutoProcessor.from_pretrained(folders["original"])
    clip = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    inputs = processor(text="<audio></audio><|startoftranscript|><|en|>", audio=[clip], sampling_rate=16000,
                       return_tensors="pt")
    logits = {}
    for name, load in (("explicit", QwenAudioForConditionalGeneration.from_pretrained),
                       ("auto", AutoModelForCausalLM.from_pretrained)):
        for layout, folder in folders.items():
            with torch.no_grad():
                logits[name, layout] = load(folder).eval()(**inputs).logits
    reference = logits["explicit", "original"]
    for key, value in logits.items():
        torch.testing.assert_close(value, reference, rtol=0, atol=0, msg=str(key))


def test_pipelines_take_the_released_folder(folders):
    for task in ("any-to-any", "qwen-audio-long-form"):
        pipe = transformers.pipeline(task, model=folders["original"])
        assert type(pipe.model) is QwenAudioForConditionalGeneration
    assert _no_remote_code_loaded()


def test_long_form_pipeline_gives_the_same_result_on_both_layouts(folders):
    clip = np.random.default_rng(1).standard_normal(3 * 16000).astype(np.float32) * 0.1
    results = [transformers.pipeline("qwen-audio-long-form", model=folder)(clip, max_new_tokens=3)
               for folder in (folders["original"], folders["converted"])]
    assert results[0] == results[1] and results[0]["chunks"]


def _other_qwen(folders, folder, extra=None):
    shutil.copytree(folders["original"], folder)
    config = json.loads((folder / "config.json").read_text())
    del config["audio"]
    config.update(extra or {})
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


@pytest.fixture
def text_only_qwen(folders, tmp_path):
    """A Qwen-7B-like folder: model_type "qwen", no "audio" section, its remote code (a trap here)."""
    return _other_qwen(folders, tmp_path / "Qwen-7B")


@pytest.mark.parametrize("auto_class", list(EXPECTED), ids=lambda cls: cls.__name__)
def test_a_text_only_qwen_folder_is_named_not_taken_for_qwen_audio(text_only_qwen, auto_class):
    with pytest.raises(ValueError, match=r"Qwen text model.*no \"audio\" section.*trust_remote_code=True"):
        auto_class.from_pretrained(text_only_qwen)


@pytest.mark.parametrize("explicit_class", [QwenAudioConfig, QwenAudioForConditionalGeneration],
                         ids=lambda cls: cls.__name__)
def test_the_explicit_classes_name_a_text_only_qwen_folder_too(text_only_qwen, explicit_class):
    with pytest.raises(ValueError, match=r"Qwen text model.*no \"audio\" section"):
        explicit_class.from_pretrained(text_only_qwen)


def test_a_qwen_vl_folder_is_named(folders, tmp_path):
    folder = _other_qwen(folders, tmp_path / "Qwen-VL", {"visual": {"image_size": 448, "layers": 48}})
    with pytest.raises(ValueError, match=r"Qwen-VL checkpoint"):
        AutoModelForCausalLM.from_pretrained(folder)


def test_trust_remote_code_keeps_transformers_remote_code_path(text_only_qwen, folders):
    """With trust_remote_code=True transformers runs the folder's own code (here a trap, so it raises)."""
    assert "raise RuntimeError" in REMOTE_CODE_TRAP
    for folder in (text_only_qwen, folders["original"]):
        with pytest.raises(RuntimeError, match="remote code must never be imported"):
            AutoConfig.from_pretrained(folder, trust_remote_code=True)
