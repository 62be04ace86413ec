"""`datasets` Audio values as they come: torchcodec AudioDecoder (datasets >= 4) and {"array", "sampling_rate",
"path"} dicts (older datasets) give the same features and ids as the plain array with its rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from .signals import tone

PROMPT = "<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"


@dataclass
class AudioSamples:  # torchcodec.AudioSamples' fields
    data: torch.Tensor
    sample_rate: int


class FakeAudioDecoder:
    """What datasets >= 4 yields for a decoded Audio column (torchcodec.decoders.AudioDecoder's sample API)."""

    def __init__(self, array: np.ndarray, sample_rate: int):
        self._samples = AudioSamples(torch.from_numpy(np.atleast_2d(array)), sample_rate)  # (channels, n)

    def get_all_samples(self):
        return self._samples


def test_installed_datasets_decodes_through_torchcodec_or_dicts(tmp_path):
    """Record which form the installed datasets yields: a decoder with get_all_samples(), a dict, or (datasets
    >= 4 without torchcodec) an ImportError, which the training loaders avoid by casting to Audio(decode=False)."""
    import datasets
    import soundfile

    path = str(tmp_path / "a.wav")
    soundfile.write(path, tone(0.5), 16000)
    table = datasets.Dataset.from_dict({"audio": [path]}).cast_column("audio", datasets.Audio())
    try:
        value = table[0]["audio"]
    except ImportError as error:
        assert "torchcodec" in str(error)
        return
    assert callable(getattr(value, "get_all_samples", None)) or {"array", "sampling_rate"} <= set(value)


@pytest.mark.parametrize("form", ["decoder", "decoder_stereo", "dict"])
def test_processor_takes_datasets_audio_values(processor, form):
    array = tone(1.5, sampling_rate=22050)
    if form == "decoder":
        value = FakeAudioDecoder(array, 22050)
    elif form == "decoder_stereo":
        value = FakeAudioDecoder(np.stack([array, array]), 22050)
    else:
        value = {"array": array, "sampling_rate": 22050, "path": "clip.wav"}
    expected = processor(text=PROMPT, audio=array, sampling_rate=22050)
    actual = processor(text=PROMPT, audio=value)
    assert torch.equal(actual["input_ids"], expected["input_ids"])
    assert torch.allclose(actual["input_features"], expected["input_features"], atol=1e-6)
    alone = processor.feature_extractor(value, return_tensors="pt")
    assert torch.allclose(alone["input_features"], expected["input_features"], atol=1e-6)

    messages = [{"role": "user", "content": [{"type": "audio", "audio": value}, {"type": "text", "text": "hi"}]}]
    chat = processor.apply_chat_template(messages, tokenize=True, return_dict=True, add_generation_prompt=True)
    reference = [{"role": "user", "content": [{"type": "audio", "audio": array, "sampling_rate": 22050},
                                              {"type": "text", "text": "hi"}]}]
    reference = processor.apply_chat_template(reference, tokenize=True, return_dict=True, add_generation_prompt=True)
    assert torch.equal(chat["input_ids"], reference["input_ids"])
    assert torch.allclose(chat["input_features"], reference["input_features"], atol=1e-6)


def test_chat_sampling_rate_from_processor_kwargs(processor):
    array = tone(1.0, sampling_rate=8000)
    messages = [{"role": "user", "content": [{"type": "audio", "audio": array}, {"type": "text", "text": "hi"}]}]
    via_kwargs = processor.apply_chat_template(messages, tokenize=True, return_dict=True,
                                               processor_kwargs={"sampling_rate": 8000})
    direct = processor.apply_chat_template(messages, tokenize=True, return_dict=True, sampling_rate=8000)
    assert torch.equal(via_kwargs["input_features"], direct["input_features"])
    with pytest.raises(ValueError, match="'sampling_rate': rate"):
        processor.apply_chat_template(messages, tokenize=True, return_dict=True)


def test_processor_refuses_images(processor):
    assert processor(text="hello", images=None, videos=None)["input_ids"].shape[0] == 1
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['images'\\]"):
        processor(text="hello", images=[np.zeros((4, 4, 3))])
