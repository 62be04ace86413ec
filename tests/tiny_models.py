"""The tiny random Qwen-Audio every test builds (one builder, sized by arguments), and token-level inputs for it."""

import torch
from transformers import LogitsProcessor

from qwen_audio_hf.core.audio_lengths import audio_token_counts
from qwen_audio_hf.core.token_ids import AUDIO_END_ID as AUDIO_END
from qwen_audio_hf.core.token_ids import AUDIO_PAD_ID as AUDIO_PAD
from qwen_audio_hf.core.token_ids import AUDIO_START_ID as AUDIO_START
from qwen_audio_hf.core.token_ids import ENDOFTEXT_ID, PADDED_VOCAB_SIZE
from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioEncoder, QwenAudioEncoderConfig, QwenAudioForConditionalGeneration

TEXT_IDS = [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]


def tiny_config(*, layers: int = 2, hidden: int = 64, heads: int = 4, audio_d_model: int = 32,
                audio_heads: int | None = None, audio_ffn: int | None = None, **text_overrides) -> QwenAudioConfig:
    """Encoder `audio_d_model` wide and a `hidden`-wide decoder, `layers` layers on each side, `heads` heads (the
    encoder `audio_heads` if given; its FFN `audio_ffn`, default 2 * hidden); `text_overrides` go to the decoder."""
    text = dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=heads,
                seq_length=2048)
    text.update(text_overrides)
    return QwenAudioConfig(
        audio_config=dict(d_model=audio_d_model, encoder_layers=layers, encoder_attention_heads=audio_heads or heads,
                          encoder_ffn_dim=audio_ffn or 2 * hidden, num_mel_bins=80),
        text_config=text,
    )


def tiny_model(seed: int = 0, *, layers: int = 2, hidden: int = 64, heads: int = 4, init_std: float | None = 0.08,
               **config_overrides) -> QwenAudioForConditionalGeneration:
    """A random model in eval mode (`config_overrides`: see `tiny_config`). `init_std`: redraw the weight matrices
    with this std (larger than the default init, so tokens/logits differ visibly between inputs); None keeps
    transformers' init."""
    torch.manual_seed(seed)
    model = QwenAudioForConditionalGeneration(tiny_config(layers=layers, hidden=hidden, heads=heads,
                                                          **config_overrides)).eval()
    return redraw_weights(model, init_std) if init_std is not None else model


def tiny_encoder(seed: int = 0, *, init_std: float = 0.1, **config) -> QwenAudioEncoder:
    """The audio tower alone (d_model 32, 2 layers, 4 heads unless `config` says otherwise), weights redrawn with
    `init_std`, eval mode."""
    torch.manual_seed(seed)
    config = {"d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 4, **config}
    return redraw_weights(QwenAudioEncoder(QwenAudioEncoderConfig(**config)).eval(), init_std)


def redraw_weights(model, std: float):
    """Redraw every weight matrix (not the 1-D norms and biases) from N(0, std) in place; returns the model."""
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, std)
    return model


def tiny_decoding_model(seed: int = 0) -> QwenAudioForConditionalGeneration:
    """One layer each side, 32 wide, default init: the fast model the evaluation and long-form tests decode with."""
    return tiny_model(seed, layers=1, hidden=32, heads=2, init_std=None)


def tiny_training_model(seed: int = 0) -> QwenAudioForConditionalGeneration:
    """Two layers each side (encoder 32 wide, 2 heads; decoder 64 wide), the full 155947-row vocabulary, default
    init, train mode: the model the training, Hub-path and pipeline tests fine-tune and save."""
    return tiny_model(seed, layers=2, hidden=64, heads=4, audio_heads=2, audio_ffn=64, init_std=None,
                      vocab_size=PADDED_VOCAB_SIZE, max_position_embeddings=4096).train()


def audio_features(mel_frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(80, 3000) random log-mel with frames past `mel_frames` set like padding, and its (3000,) mask."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(80, 3000, generator=generator) * 0.5
    features[:, mel_frames:] = -0.5
    mask = torch.zeros(3000, dtype=torch.long)
    mask[:mel_frames] = 1
    return features, mask


def audio_span(mel_frames: int) -> list[int]:
    count = audio_token_counts(mel_frames)
    return [AUDIO_START] + [AUDIO_PAD] * count + [AUDIO_END]


def prompt_ids(mel_frames: int | None, n_text: int, offset: int = 0) -> list[int]:
    text = [TEXT_IDS[(offset + i) % len(TEXT_IDS)] + i for i in range(n_text)]
    return (audio_span(mel_frames) if mel_frames else []) + text


def left_pad_batch(rows: list[list[int]], pad_id: int = ENDOFTEXT_ID) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask


class ForceResponse(LogitsProcessor):
    """Make generate() emit ``token_ids`` (distinct ids) after any prompt: the next token follows the last one."""

    def __init__(self, token_ids):
        self.token_ids = list(token_ids)
        self.next = {a: b for a, b in zip(self.token_ids, self.token_ids[1:])}

    def __call__(self, input_ids, scores):
        forced = torch.tensor([self.next.get(int(last), self.token_ids[0]) for last in input_ids[:, -1]])
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(scores.shape[0]), forced] = 0.0
        return out
