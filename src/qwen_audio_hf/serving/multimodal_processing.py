"""vLLM multimodal processing for Qwen-Audio: audio -> log-mel features, `<audio></audio>` -> a full audio span.

A prompt names each clip with an empty `<audio></audio>` placeholder (the chat template writes
`Audio N:<audio></audio>` per audio content part). Each clip goes through the processor's own checks, downmix
and soxr resampling to 16 kHz (`prepare_waveform`: a missing or invalid sampling rate, NaNs or an empty clip
are refused); our feature extractor turns it into the 80-bin log-mel the model was trained on; each
placeholder is replaced by `<audio>` + `[[[AUDIO:modality]]]` * n + `</audio>` whose every position
(bos, n frames, eos) takes an embedding from the audio tower, as in the transformers model.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from transformers import BatchFeature
from vllm.multimodal.inputs import MultiModalFieldConfig, MultiModalKwargsItems
from vllm.multimodal.parse import MultiModalDataItems, MultiModalDataParser
from vllm.multimodal.processing import (
    BaseDummyInputsBuilder,
    BaseMultiModalProcessor,
    BaseProcessingInfo,
    PromptReplacement,
    PromptUpdate,
    PromptUpdateDetails,
)

from ..core.audio_lengths import (
    AUDIO_SPAN_EXTRA_TOKENS,
    HOP_LENGTH,
    MAX_AUDIO_SAMPLES,
    MAX_AUDIO_SECONDS,
    TARGET_SAMPLING_RATE,
    audio_token_counts,
)
from ..core.token_ids import AUDIO_END, AUDIO_START
from ..processing import QwenAudioFeatureExtractor, QwenAudioProcessor
from ..processing.audio_io import prepare_waveform
from .configuration import QwenAudioServingConfig

PLACEHOLDER = AUDIO_START + AUDIO_END


class QwenAudioDataParser(MultiModalDataParser):
    """Audio items (waveform, sampling_rate) are prepared exactly as `QwenAudioProcessor` prepares them.

    A bare waveform is taken to be 16 kHz mono (vLLM's convention; vLLM also re-parses items it already prepared).
    """

    def _get_audio_with_sr(self, audio):
        waveform, sampling_rate = audio if isinstance(audio, tuple) else (audio, TARGET_SAMPLING_RATE)
        return prepare_waveform(waveform, sampling_rate, max_samples=None), None


class QwenAudioProcessingInfo(BaseProcessingInfo):
    def get_hf_config(self) -> QwenAudioServingConfig:
        return self.ctx.get_hf_config(QwenAudioServingConfig)

    def get_hf_processor(self, **kwargs: object) -> QwenAudioProcessor:
        return self.ctx.get_hf_processor(QwenAudioProcessor, **kwargs)

    def get_feature_extractor(self) -> QwenAudioFeatureExtractor:
        return self.get_hf_processor().feature_extractor

    def get_data_parser(self) -> MultiModalDataParser:
        return QwenAudioDataParser(target_sr=TARGET_SAMPLING_RATE, audio_resample_method="soxr")

    def get_supported_mm_limits(self) -> Mapping[str, int | None]:
        return {"audio": None}

    def get_mm_max_tokens_per_item(self, seq_len: int, mm_counts: Mapping[str, int] | None = None):
        if (mm_counts or {}).get("audio", 0) <= 0:
            return {}
        return {"audio": audio_token_counts(MAX_AUDIO_SAMPLES // HOP_LENGTH) + AUDIO_SPAN_EXTRA_TOKENS}


class QwenAudioDummyInputsBuilder(BaseDummyInputsBuilder[QwenAudioProcessingInfo]):
    def get_dummy_text(self, mm_counts: Mapping[str, int]) -> str:
        return PLACEHOLDER * mm_counts.get("audio", 0)

    def get_dummy_mm_data(self, seq_len: int, mm_counts: Mapping[str, int], mm_options=None):
        overrides = (mm_options or {}).get("audio")
        audios = self._get_dummy_audios(
            length=MAX_AUDIO_SAMPLES, num_audios=mm_counts.get("audio", 0), overrides=overrides
        )
        return {"audio": [(audio, TARGET_SAMPLING_RATE) for audio in audios]}


def count_placeholders(token_ids: Sequence[int], start_id: int, end_id: int) -> int:
    """Empty `<audio></audio>` pairs in a token sequence."""
    return sum(1 for a, b in zip(token_ids, token_ids[1:]) if a == start_id and b == end_id)


class QwenAudioMultiModalProcessor(BaseMultiModalProcessor[QwenAudioProcessingInfo]):
    def _call_hf_processor(self, hf_data: Mapping[str, object], hf_kwargs: Mapping[str, object]) -> BatchFeature:
        """Features of the (already 16 kHz mono) clips; longer than 30 s is refused, never cut."""
        waveforms = []
        for index, clip in enumerate(hf_data.get("audio") or []):
            waveform = np.asarray(clip, dtype=np.float32).reshape(-1)
            seconds = waveform.shape[0] / TARGET_SAMPLING_RATE
            if seconds > MAX_AUDIO_SECONDS:
                raise ValueError(
                    f"audio {index} is {seconds:.1f} s long; Qwen-Audio takes at most {MAX_AUDIO_SECONDS} s per "
                    "clip. Split it into windows of at most 30 s (qwen-audio-hf's long-form window planning) and send "
                    "each window as its own request."
                )
            waveforms.append(waveform)
        features = self.info.get_feature_extractor().extract(waveforms)
        return BatchFeature(
            {key: torch.as_tensor(np.asarray(value)) for key, value in features.items()}, tensor_type=None
        )

    def _get_mm_fields_config(self, hf_inputs: BatchFeature, hf_processor_mm_kwargs: Mapping[str, object]):
        return dict(
            input_features=MultiModalFieldConfig.batched("audio"),
            feature_attention_mask=MultiModalFieldConfig.batched("audio"),
        )

    def _get_prompt_updates(
        self,
        mm_items: MultiModalDataItems,
        hf_processor_mm_kwargs: Mapping[str, object],
        out_mm_kwargs: MultiModalKwargsItems,
    ) -> Sequence[PromptUpdate]:
        config = self.info.get_hf_config()
        start_id, end_id, pad_id = config.audio_start_token_id, config.audio_end_token_id, config.audio_token_id
        masks = out_mm_kwargs.get_data().get("feature_attention_mask")
        mel_frames = [] if masks is None else [int(row.sum()) for row in masks]

        def span(item_index: int) -> PromptUpdateDetails:
            # Every position of the span (bos, frames, eos) is an audio embedding.
            count = audio_token_counts(mel_frames[item_index])
            return PromptUpdateDetails.from_seq([start_id] + [pad_id] * count + [end_id])

        return [PromptReplacement(modality="audio", target=[start_id, end_id], replacement=span)]

    def _maybe_apply_prompt_updates(self, mm_items, mm_res):
        config = self.info.get_hf_config()
        audios = mm_items.get_all_counts().get("audio", 0)
        placeholders = count_placeholders(mm_res.prompt_ids, config.audio_start_token_id, config.audio_end_token_id)
        if placeholders != audios:
            raise ValueError(
                f"the prompt has {placeholders} empty {PLACEHOLDER} placeholder(s) but {audios} audio(s) were given; "
                f"put exactly one {PLACEHOLDER} per audio, in order (chat requests get one per audio content part; "
                "do not write <audio> tags in message text)."
            )
        return super()._maybe_apply_prompt_updates(mm_items, mm_res)


__all__ = [
    "QwenAudioDataParser",
    "QwenAudioDummyInputsBuilder",
    "QwenAudioMultiModalProcessor",
    "QwenAudioProcessingInfo",
    "count_placeholders",
]
