"""Qwen-Audio: audio tower + projector + Qwen language model, as a native transformers model."""

import os
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import can_return_tuple

from .configuration_qwen_audio import QwenAudioConfig, QwenAudioTextConfig
from .modeling_qwen_audio_encoder import QwenAudioEncoder, QwenAudioEncoderOutput, init_encoder_positions
from .modeling_qwen_audio_text import QwenAudioTextModel


@dataclass
class QwenAudioModelOutputWithPast(BaseModelOutputWithPast):
    """Decoder output of `QwenAudioModel`: transformers' standard fields (`cache`, hidden states, attentions) and
    `ntk_alpha` (B,), the dynamic-NTK alpha chosen at the prefill (pass it back with `cache` to continue it)."""

    ntk_alpha: torch.Tensor | None = None


@dataclass
class QwenAudioCausalLMOutputWithPast(CausalLMOutputWithPast):
    """Output of `QwenAudioForConditionalGeneration`: standard causal-LM fields (loss, logits, `cache`, ...) and
    `ntk_alpha` (B,), the dynamic-NTK alpha chosen at the prefill (pass it back with `cache` to continue it)."""

    ntk_alpha: torch.Tensor | None = None


class QwenAudioPreTrainedModel(PreTrainedModel):
    config: QwenAudioConfig
    base_model_prefix = "model"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["QwenAudioEncoderLayer", "Qwen2DecoderLayer"]
    _skip_keys_device_placement = ["cache", "past_key_values"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = False
    _supports_attention_backend = True
    # A decode step (static cache, `ntk_alpha` passed back by generate) has no graph break and no host sync.
    _can_compile_fullgraph = True
    # Buffers and leftovers of the original layout that are recomputed, never loaded.
    _keys_to_ignore_on_load_unexpected = [
        r"positional_embedding",
        r"rotary_emb\.inv_freq",
        r"masked_bias",
        r"logn_tensor",
    ]

    # Callables (model, save_directory) run after save_pretrained on the main process; the package's export module
    # adds one that writes the remote-code files + auto_map, so save_pretrained/push_to_hub output loads without it.
    save_pretrained_hooks: list = []

    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            for hook in type(self).save_pretrained_hooks:
                hook(self, save_directory)
        if push_to_hub:  # push_to_hub saves again (into a temporary folder, hooks included) and uploads that
            repo_id = kwargs.get("repo_id") or os.path.basename(os.path.normpath(save_directory))
            return self.push_to_hub(repo_id, token=kwargs.get("token"), private=kwargs.get("private"))

    def _init_weights(self, module):
        super()._init_weights(module)
        init_encoder_positions(module)

    # Reader of other checkpoint layouts, registered by the loader that provides it: importing the modeling package
    # registers `original_checkpoint.OriginalLayoutReader` (ORIGINAL hub checkpoints). It offers two context
    # managers, `loading(path, kwargs)` around `from_pretrained` (yields the kwargs to use and a function to call on
    # the loaded model) and `weight_mapping(model, load_config)` around `_load_pretrained_model` (yields the load
    # config). None (a Hub export's remote code): the native layout only.
    checkpoint_layout_reader = None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load a native checkpoint, or an ORIGINAL Qwen-Audio hub checkpoint (translated at load time)."""
        reader = QwenAudioPreTrainedModel.checkpoint_layout_reader
        if reader is None:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        with reader.loading(pretrained_model_name_or_path, kwargs) as (kwargs, adapt_loaded_model):
            loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        adapt_loaded_model(loaded[0] if isinstance(loaded, tuple) else loaded)
        return loaded

    @classmethod
    def _load_pretrained_model(cls, model, state_dict, checkpoint_files, load_config, expected_keys=None):
        reader = QwenAudioPreTrainedModel.checkpoint_layout_reader
        if reader is None:
            return super()._load_pretrained_model(model, state_dict, checkpoint_files, load_config, expected_keys)
        with reader.weight_mapping(model, load_config) as load_config:
            return super()._load_pretrained_model(model, state_dict, checkpoint_files, load_config, expected_keys)


class QwenAudioMultiModalProjector(nn.Module):
    """Audio frames -> text hidden size, plus the learned audio <bos>/<eos> embeddings of each span."""

    def __init__(self, config: QwenAudioConfig):
        super().__init__()
        hidden_size = config.text_config.hidden_size
        self.linear = nn.Linear(config.audio_config.d_model, hidden_size, bias=True)
        self.audio_bos_eos_embedding = nn.Embedding(2, hidden_size)

    def forward(self, audio_features: torch.Tensor) -> torch.Tensor:
        return self.linear(audio_features)

    def span_embeddings(self, projected: torch.Tensor, token_counts: torch.Tensor) -> list[torch.Tensor]:
        """Per audio i: [bos, projected[i, :token_counts[i]], eos]."""
        bos, eos = self.audio_bos_eos_embedding.weight[0:1], self.audio_bos_eos_embedding.weight[1:2]
        bos, eos = bos.to(projected.dtype), eos.to(projected.dtype)
        return [torch.cat([bos, projected[i, : int(n)], eos]) for i, n in enumerate(token_counts.tolist())]


def find_audio_spans(input_ids: torch.Tensor, start_id: int, end_id: int) -> list[tuple[int, int, int]]:
    """(row, start, end) of every `<audio>`..`</audio>` span, inclusive, in batch order (row by row, left to right)."""
    starts = (input_ids == start_id).nonzero().tolist()
    ends = (input_ids == end_id).nonzero().tolist()
    if len(starts) != len(ends):
        raise ValueError(
            f"input_ids hold {len(starts)} audio start tokens (id {start_id}) but {len(ends)} end tokens "
            f"(id {end_id}); every <audio> needs a matching </audio>."
        )
    spans = []
    for (row, start), (end_row, end) in zip(starts, ends):
        if row != end_row or end <= start:
            raise ValueError(
                f"malformed audio span in row {row}: <audio> at {start} is not closed by a </audio> in the same row."
            )
        if spans and spans[-1][0] == row and start <= spans[-1][2]:
            raise ValueError(f"nested or overlapping audio spans in row {row}.")
        spans.append((row, start, end))
    return spans


class QwenAudioModel(QwenAudioPreTrainedModel):
    """Audio tower + projector + language model (no LM head). Audio spans are written into the token embeddings."""

    def __init__(self, config: QwenAudioConfig):
        super().__init__(config)
        self.audio_tower = QwenAudioEncoder(config.audio_config)
        self.multi_modal_projector = QwenAudioMultiModalProjector(config)
        # Compare by model_type: under trust_remote_code the config class may come from another module copy.
        if getattr(config.text_config, "model_type", None) == QwenAudioTextConfig.model_type:
            self.language_model = QwenAudioTextModel(config.text_config)
        else:
            self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    @can_return_tuple
    def get_audio_features(
        self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor | None = None, **kwargs
    ) -> QwenAudioEncoderOutput:
        """Encode audios: `last_hidden_state` (N, T_pool, d_model) are the audio tower's frames, `pooler_output` the
        embeddings written into the text, one (audio_tokens_i + 2, hidden) tensor [bos, tokens..., eos] per audio;
        `output_hidden_states` / `output_attentions` give the audio tower's."""
        audio_outputs = self.audio_tower(input_features, feature_attention_mask, **kwargs)
        projected = self.multi_modal_projector(audio_outputs.last_hidden_state)
        audio_outputs.pooler_output = self.multi_modal_projector.span_embeddings(projected, audio_outputs.output_lengths)
        return audio_outputs

    def get_placeholder_spans(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor
    ) -> list[tuple[int, int, int]]:
        """(row, start, end) of every `<audio>`..`</audio>` span, read from `input_ids`, or without them from
        `inputs_embeds` by comparing each position with the embeddings of `<audio>` and `</audio>` (as llava's
        `get_placeholder_mask` does; this is what lets PEFT prompt tuning pass embeddings only)."""
        start_id, end_id = self.config.audio_start_token_id, self.config.audio_end_token_id
        if input_ids is None:
            embed = self.get_input_embeddings()
            markers = torch.tensor([start_id, end_id], dtype=torch.long, device=inputs_embeds.device)
            start_embed, end_embed = embed(markers).to(inputs_embeds.dtype)
            if torch.equal(start_embed, end_embed):
                raise ValueError(
                    "the <audio> and </audio> embeddings are identical, so audio spans cannot be located from "
                    "inputs_embeds; pass input_ids."
                )
            input_ids = torch.zeros(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
            input_ids = input_ids.masked_fill((inputs_embeds == start_embed).all(-1), start_id)
            input_ids = input_ids.masked_fill((inputs_embeds == end_embed).all(-1), end_id)
        return find_audio_spans(input_ids, start_id, end_id)

    def merge_audio_embeddings(
        self,
        spans: list[tuple[int, int, int]],
        inputs_embeds: torch.Tensor,
        input_features: torch.Tensor,
        feature_attention_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Overwrite each `<audio>`..`</audio>` span of `inputs_embeds` with its audio's span embedding."""
        if len(spans) != input_features.shape[0]:
            raise ValueError(
                f"the prompts contain {len(spans)} audio spans but {input_features.shape[0]} audios were given; "
                "pass exactly one audio per <audio>...</audio> span (in order of appearance)."
            )
        span_embeds = self.get_audio_features(input_features, feature_attention_mask, return_dict=True).pooler_output
        span_mask = torch.zeros(inputs_embeds.shape[:2], dtype=torch.bool, device=inputs_embeds.device)
        for index, ((row, start, end), embeds) in enumerate(zip(spans, span_embeds)):
            if end - start + 1 != embeds.shape[0]:
                raise ValueError(
                    f"audio {index}: its span in the prompt has {end - start + 1} tokens (<audio>..</audio>) but the "
                    f"audio gives {embeds.shape[0]}; build the prompt with the processor so span lengths match."
                )
            span_mask[row, start : end + 1] = True
        values = torch.cat(span_embeds).to(inputs_embeds.device, inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(span_mask[..., None], values)

    @can_return_tuple
    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        input_features: torch.Tensor | None = None,
        feature_attention_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> QwenAudioModelOutputWithPast:
        """Audio spans are located in `input_ids`, or without them in `inputs_embeds` (see get_placeholder_spans)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if input_features is not None:
            continuing = cache is not None and cache.get_seq_length() > 0
            # A span needs >= 2 tokens: a 1-token decode step never searches for one (no host sync there).
            spans = [] if continuing and inputs_embeds.shape[1] < 2 else self.get_placeholder_spans(input_ids, inputs_embeds)
            if spans or not continuing:  # else: a decode step that re-sends the prompt's audio, already used
                inputs_embeds = self.merge_audio_embeddings(
                    spans, inputs_embeds, input_features, feature_attention_mask
                )
        elif input_ids is not None and input_ids.shape[1] > 1 and bool((input_ids == self.config.audio_start_token_id).any()):
            raise ValueError(
                "input_ids contain <audio> spans but no input_features were given; pass the processor's "
                "input_features and feature_attention_mask."
            )
        kwargs.pop("cache_position", None)
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return QwenAudioModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            ntk_alpha=getattr(outputs, "ntk_alpha", None),
        )


class QwenAudioForConditionalGeneration(QwenAudioPreTrainedModel, GenerationMixin):
    """Qwen-Audio with a language-modeling head; `generate()` takes the processor's outputs.

    Example (an original hub checkpoint loads directly, no remote code):

    ```python
    >>> model = QwenAudioForConditionalGeneration.from_pretrained("Qwen/Qwen-Audio", dtype="auto")
    >>> processor = QwenAudioProcessor.from_pretrained("Qwen/Qwen-Audio")
    >>> prompt = "<audio>clip.wav</audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"
    >>> inputs = processor(text=prompt, return_tensors="pt")
    >>> output = model.generate(**inputs, max_new_tokens=64, do_sample=False)
    >>> processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    ```
    """

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}
    # As Qwen2ForCausalLM: the head is sharded like the embedding it may be tied to (which the text plan shards).
    _tp_plan = {"lm_head": "colwise_gather_output"}
    _pp_plan = {"lm_head": (["hidden_states"], ["logits"])}

    def __init__(self, config: QwenAudioConfig):
        super().__init__(config)
        self.model = QwenAudioModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.loss_type = "ForCausalLM"
        self.post_init()

    # `build_from_components(cls, **kwargs)`, registered by the modeling package (components.py). A build tool:
    # Hub exports (remote code) ship without it.
    components_builder = None

    @classmethod
    def from_components(cls, **kwargs):
        """Build a model from separately pretrained parts, a Whisper encoder and a causal LM (see components.py)."""
        builder = QwenAudioForConditionalGeneration.components_builder
        if builder is None:
            raise NotImplementedError(
                "from_components is a build tool of the qwen-audio-hf package and is not part of a Hub export: "
                "pip install qwen-audio-hf and call from_components on the model class of that package."
            )
        return builder(cls, **kwargs)

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    @property
    def audio_tower(self) -> QwenAudioEncoder:
        return self.model.audio_tower

    @property
    def language_model(self) -> nn.Module:
        return self.model.language_model

    def get_audio_features(self, input_features, feature_attention_mask=None, **kwargs) -> QwenAudioEncoderOutput:
        return self.model.get_audio_features(input_features, feature_attention_mask, **kwargs)

    def _expand_inputs_for_generation(self, expand_size=1, is_encoder_decoder=False, input_ids=None, **model_kwargs):
        """Beams / multiple return sequences: repeat each row's audios with its row, not audio by audio.

        The generic expansion repeats every tensor along dim 0, but audios are not one per row (a row may hold
        several spans, or none), so the audio tensors are reordered here to follow the repeated rows.
        """
        audio = {key: model_kwargs.pop(key, None) for key in ("input_features", "feature_attention_mask")}
        input_ids, model_kwargs = super()._expand_inputs_for_generation(
            expand_size, is_encoder_decoder, input_ids, **model_kwargs
        )
        if audio["input_features"] is not None and expand_size > 1 and input_ids is not None:
            per_row = (input_ids[::expand_size] == self.config.audio_start_token_id).sum(-1).tolist()
            order, offset = [], 0
            for count in per_row:
                order.extend(list(range(offset, offset + count)) * expand_size)
                offset += count
            if offset == audio["input_features"].shape[0]:  # else the forward reports the mismatch
                index = torch.tensor(order, dtype=torch.long, device=audio["input_features"].device)
                audio = {k: v.index_select(0, index.to(v.device)) if v is not None else None for k, v in audio.items()}
        model_kwargs.update({key: value for key, value in audio.items() if value is not None})
        return input_ids, model_kwargs

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, is_encoder_decoder=False, num_new_tokens=1):
        """Also carry the prefill's dynamic-NTK alpha to every later step (as a tensor: works with every cache
        class and keeps the compiled decode step free of host syncs)."""
        model_kwargs = super()._update_model_kwargs_for_generation(
            outputs, model_kwargs, is_encoder_decoder=is_encoder_decoder, num_new_tokens=num_new_tokens
        )
        if outputs.get("ntk_alpha") is not None:
            model_kwargs["ntk_alpha"] = outputs["ntk_alpha"]
        return model_kwargs

    @can_return_tuple
    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        input_features: torch.Tensor | None = None,
        feature_attention_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> QwenAudioCausalLMOutputWithPast:
        """Standard causal-LM forward; audio is used only where the prompt holds its `<audio>`..`</audio>` span."""
        outputs = self.model(
            input_ids=input_ids,
            input_features=input_features,
            feature_attention_mask=feature_attention_mask,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            return_dict=True,
            **kwargs,
        )
        logits = self.lm_head(slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep))

        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
        return QwenAudioCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            ntk_alpha=outputs.ntk_alpha,
        )


__all__ = [
    "QwenAudioCausalLMOutputWithPast",
    "QwenAudioForConditionalGeneration",
    "QwenAudioModel",
    "QwenAudioModelOutputWithPast",
    "QwenAudioMultiModalProjector",
    "QwenAudioPreTrainedModel",
]
