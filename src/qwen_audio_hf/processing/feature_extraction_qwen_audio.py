"""QwenAudioFeatureExtractor: Whisper 80-bin log-mel over clips padded to 30 s, plus per-frame validity masks.

The log-mel is Whisper's (400-point Hann STFT, hop 160, Slaney mel filters, log10 clamped at 1e-10, floor at
max - 8, then (x + 4) / 4) computed over the waveform zero-padded to 480000 samples, exactly what Qwen-Audio was
trained on. ``feature_attention_mask`` marks the first ``L // 160`` frames of a clip of ``L`` samples as valid.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from transformers import WhisperFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature

from ..core.audio_lengths import HOP_LENGTH, TARGET_SAMPLING_RATE, audio_span_length, mel_frames_for_samples
from ..core.original_config import is_original_config
from .audio_io import load_audio


def _read_json_object(path: str) -> dict:
    """The JSON object in ``path``; ``{}`` when the file is missing, unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _looks_like_original_checkpoint(directory: str) -> bool:
    """True for an original Qwen-Audio hub directory (remote-code layout without a preprocessor config)."""
    if os.path.isfile(os.path.join(directory, "mel_filters.npz")):
        return True
    return is_original_config(_read_json_object(os.path.join(directory, "config.json")))


class QwenAudioFeatureExtractor(WhisperFeatureExtractor):
    """Qwen-Audio log-mel features (80 bins, 16 kHz, 30 s windows) from arrays, file paths or URLs.

    Call with one clip or a list of clips; arrays need ``sampling_rate`` (any rate, resampled to 16 kHz),
    files are decoded and resampled. Returns ``input_features`` (N, 80, 3000) float32 and
    ``feature_attention_mask`` (N, 3000) int64.
    """

    model_input_names = ["input_features", "feature_attention_mask"]

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = TARGET_SAMPLING_RATE,
        hop_length: int = HOP_LENGTH,
        chunk_length: int = 30,
        n_fft: int = 400,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            hop_length=hop_length,
            chunk_length=chunk_length,
            n_fft=n_fft,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )

    @classmethod
    def get_feature_extractor_dict(cls, pretrained_model_name_or_path, **kwargs):
        """Like the base loader, but an original Qwen-Audio checkpoint directory yields the default settings."""
        path = os.fspath(pretrained_model_name_or_path)
        if (
            os.path.isdir(path)
            and not os.path.isfile(os.path.join(path, "preprocessor_config.json"))
            and not _processor_config_has_feature_extractor(path)
            and _looks_like_original_checkpoint(path)
        ):
            for key in ("cache_dir", "force_download", "proxies", "subfolder", "token", "local_files_only",
                        "revision", "_from_pipeline", "_from_auto"):
                kwargs.pop(key, None)
            return {"feature_extractor_type": cls.__name__}, kwargs
        return super().get_feature_extractor_dict(pretrained_model_name_or_path, **kwargs)

    def load_clips(self, audio: Any, sampling_rate: int | None = None, allow_urls: bool = False) -> list[np.ndarray]:
        """Turn one clip or a list of clips (arrays, paths, URLs) into 16 kHz mono float32 waveforms (<= 30 s)."""
        clips = as_clip_list(audio)
        if not clips:
            raise ValueError("No audio given: pass one clip or a non-empty list of clips.")
        waveforms = []
        for index, clip in enumerate(clips):
            name = None if isinstance(clip, (str, os.PathLike)) else f"audio #{index}"
            waveforms.append(
                load_audio(
                    clip,
                    sampling_rate,
                    allow_urls=allow_urls,
                    name=name,
                    target_sampling_rate=self.sampling_rate,
                    max_samples=self.n_samples,
                )
            )
        return waveforms

    def __call__(
        self,
        raw_speech: Any,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        allow_urls: bool = False,
        device: str = "cpu",
        **kwargs,
    ) -> BatchFeature:
        """Compute ``input_features`` and ``feature_attention_mask`` for one clip or a list of clips.

        A numpy array / tensor is ONE clip ((n,), (n, channels) or (channels, n)); pass a list for a batch.
        """
        waveforms = self.load_clips(raw_speech, sampling_rate, allow_urls=allow_urls)
        return self.extract(waveforms, return_tensors=return_tensors, device=device)

    def extract(self, waveforms: list[np.ndarray], return_tensors: str | None = None, device: str = "cpu"):
        """Features for already-loaded 16 kHz mono float32 waveforms of at most 30 s each."""
        waveforms = [np.asarray(waveform, dtype=np.float32)[: self.n_samples] for waveform in waveforms]
        # Frames whose STFT window lies wholly in the zero padding have zero power (log-mel floor -10 before the
        # per-clip normalisation): compute the spectrogram only up to them and fill the rest (same numbers).
        longest = max((waveform.shape[0] for waveform in waveforms), default=0)
        computed = min(self.n_samples, (longest // self.hop_length + 4) * self.hop_length)
        if self.dither:
            computed = self.n_samples
        padded = np.zeros((len(waveforms), computed), dtype=np.float32)
        mask = np.zeros((len(waveforms), self.nb_max_frames), dtype=np.int64)
        for row, waveform in enumerate(waveforms):
            padded[row, : waveform.shape[0]] = waveform
            mask[row, : waveform.shape[0] // self.hop_length] = 1
        head = np.asarray(self._torch_extract_fbank_features(padded, device), dtype=np.float32)
        features = np.empty((len(waveforms), self.feature_size, self.nb_max_frames), dtype=np.float32)
        features[..., : head.shape[-1]] = head
        if head.shape[-1] < self.nb_max_frames:
            log_max = 4.0 * head.max(axis=(1, 2), keepdims=True) - 4.0  # undo (x + 4) / 4 of the clip's maximum
            features[..., head.shape[-1] :] = (np.maximum(np.float32(-10.0), log_max - 8.0) + 4.0) / 4.0
        data = {"input_features": features, "feature_attention_mask": mask}
        return BatchFeature(data, tensor_type=return_tensors)

    @staticmethod
    def span_lengths(feature_attention_mask) -> list[int]:
        """``<audio>``...``</audio>`` span length of each clip, from its mask."""
        frames = np.asarray(feature_attention_mask).sum(-1).reshape(-1)
        return [audio_span_length(int(count)) for count in frames]


def _processor_config_has_feature_extractor(directory: str) -> bool:
    return "feature_extractor" in _read_json_object(os.path.join(directory, "processor_config.json"))


def as_clip_list(audio: Any) -> list:
    """A list of clips: a list/tuple of clips as is, a list of plain numbers as ONE clip, anything else as one."""
    if isinstance(audio, (list, tuple)):
        if audio and all(isinstance(value, (int, float, np.number)) and not isinstance(value, bool) for value in audio):
            return [np.asarray(audio, dtype=np.float32)]  # one clip given as a list of samples
        return list(audio)
    return [audio]


__all__ = [
    "QwenAudioFeatureExtractor",
    "audio_span_length",
    "mel_frames_for_samples",
]
