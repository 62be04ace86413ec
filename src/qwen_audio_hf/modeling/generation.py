"""Greedy generation from prompts and clips: the one decoding path of evaluation, long form, the demo and examples.

``generate_texts`` renders batches (left-padded, 16 kHz clips), runs ``model.generate`` with a fresh greedy
``GenerationConfig`` whose end and pad ids come from ``core.token_ids``, cuts each row's new tokens at the first
end token and decodes them with the special tokens kept (tags stay visible to the parsers), stripped.
``generate_batch`` does the same for a batch the caller built (e.g. with ``apply_chat_template``);
``stream_batch`` runs ``generate_batch`` on a one-row batch and yields the response as it grows (the web chat).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..core.audio_lengths import TARGET_SAMPLING_RATE
from ..core.token_ids import BASE_END_TOKENS, END_TOKENS, until_end


def greedy_generation_config(tokenizer, max_new_tokens: int, end_tokens: Sequence[str] = BASE_END_TOKENS,
                             min_new_tokens: int | None = 1):
    """The original's decoding settings as a fresh ``GenerationConfig`` (no sampling defaults inherited).

    ``end_tokens``: where generation stops (base-model prompts at ``<|endoftext|>``, see ``core.token_ids``); the
    first one is also the pad token. ``min_new_tokens=1`` as the original evaluation (``None``: the model may end
    at once).
    """
    from transformers import GenerationConfig

    end_ids = tokenizer.convert_tokens_to_ids(list(end_tokens))
    return GenerationConfig(
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens,
        repetition_penalty=1.0,
        eos_token_id=end_ids[0] if len(end_ids) == 1 else end_ids,
        pad_token_id=end_ids[0],
    )


def decode_new_tokens(tokenizer, new_tokens, end_tokens: Sequence[str] = BASE_END_TOKENS) -> list[str]:
    """Cut each row at its first end token and decode it with the special tokens kept, stripped."""
    end_ids = tokenizer.convert_tokens_to_ids(list(end_tokens))
    return [tokenizer.decode(until_end(row, end_ids), skip_special_tokens=False).strip() for row in new_tokens.tolist()]


def generate_batch(model, processor, inputs: Mapping[str, Any], *, max_new_tokens: int,
                   end_tokens: Sequence[str] = BASE_END_TOKENS, min_new_tokens: int | None = 1,
                   generate_kwargs: Mapping[str, Any] | None = None) -> list[str]:
    """Greedy responses to one prepared batch (``input_ids`` left-padded), one text per row.

    ``generate_kwargs``: generation settings (e.g. ``num_beams=4``) go into the config, anything else (e.g.
    ``logits_processor``) to ``generate()`` itself.
    """
    import torch

    config = greedy_generation_config(processor.tokenizer, max_new_tokens, end_tokens, min_new_tokens)
    extra = config.update(**dict(generate_kwargs or {}))
    inputs = inputs.to(next(model.parameters()).device)  # the encoder casts the features
    with torch.inference_mode():
        output = model.generate(**inputs, generation_config=config, **extra)
    return decode_new_tokens(processor.tokenizer, output[:, inputs["input_ids"].shape[1] :], end_tokens)


def stream_batch(model, processor, inputs: Mapping[str, Any], *, max_new_tokens: int,
                 end_tokens: Sequence[str] = BASE_END_TOKENS, min_new_tokens: int | None = 1,
                 generate_kwargs: Mapping[str, Any] | None = None, timeout_s: float = 600.0) -> Iterator[str]:
    """The response of a one-row batch as it is generated: each yield is the text so far (special tokens kept,
    cut at the first end token, stripped); the last one is exactly ``generate_batch``'s response. An error in
    ``generate`` is raised here."""
    import threading

    from transformers import TextIteratorStreamer

    if inputs["input_ids"].shape[0] != 1:
        raise ValueError(f"stream_batch streams one row, got a batch of {inputs['input_ids'].shape[0]}")
    streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=False,
                                    timeout=timeout_s)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["texts"] = generate_batch(model, processor, inputs, max_new_tokens=max_new_tokens,
                                              end_tokens=end_tokens, min_new_tokens=min_new_tokens,
                                              generate_kwargs={**dict(generate_kwargs or {}), "streamer": streamer})
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            outcome["error"] = error
            streamer.end()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    text, shown, ended = "", None, False
    for piece in streamer:
        if ended:  # generation stops at the end token by itself; the rest is drained
            continue
        text += piece
        positions = [text.find(end) for end in end_tokens if end in text]
        ended = bool(positions)
        partial = (text[: min(positions)] if positions else text).strip()
        if partial != shown:
            shown = partial
            yield partial
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    if outcome["texts"][0] != shown:
        yield outcome["texts"][0]


def generate_texts(model, processor, prompts: Sequence[str], audios: Sequence, *, max_new_tokens: int,
                   end_tokens: Sequence[str] = BASE_END_TOKENS, min_new_tokens: int | None = 1, batch_size: int = 8,
                   zero_audio_features: bool = False, generate_kwargs: Mapping[str, Any] | None = None,
                   progress: bool = False, desc: str = "generate") -> list[str]:
    """Greedy responses to ``prompts`` (each with its 16 kHz clips in ``audios``), in order, batched and left-padded.

    ``zero_audio_features``: replace the log-mel features by zeros (an ablation: how much the answers use the audio).
    """
    import torch
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    responses: list[str] = []
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, unit="batch", disable=not progress):
        inputs = processor(text=list(prompts[start : start + batch_size]), audio=list(audios[start : start + batch_size]),
                           sampling_rate=TARGET_SAMPLING_RATE, padding=True, padding_side="left", return_tensors="pt")
        if zero_audio_features:
            inputs["input_features"] = torch.zeros_like(inputs["input_features"])
        responses += generate_batch(model, processor, inputs, max_new_tokens=max_new_tokens, end_tokens=end_tokens,
                                    min_new_tokens=min_new_tokens, generate_kwargs=generate_kwargs)
    return responses


def set_generation_defaults(model, tokenizer, end_tokens: Sequence[str] = END_TOKENS) -> None:
    """Greedy decoding ending at ``end_tokens`` (the first also pads) as the model's own ``generation_config``, so
    a saved and reloaded model, or a pipeline around it, decodes the same way."""
    ids = tokenizer.convert_tokens_to_ids(list(end_tokens))
    model.generation_config.eos_token_id = ids
    model.generation_config.pad_token_id = ids[0]
    model.generation_config.do_sample = False


__all__ = ["decode_new_tokens", "generate_batch", "generate_texts", "greedy_generation_config",
           "set_generation_defaults", "stream_batch"]
