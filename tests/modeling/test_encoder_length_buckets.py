"""Audio tower with length buckets: same outputs as without, and one compiled graph for all clips of a bucket."""

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from qwen_audio_hf.modeling import QwenAudioEncoder

from ..tiny_models import audio_features, tiny_encoder


def _encoder(batch_invariant: bool = True) -> QwenAudioEncoder:
    return tiny_encoder(0, batch_invariant=batch_invariant)


def _clips(*mel_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [audio_features(frames, seed=i) for i, frames in enumerate(mel_frames)]
    return torch.stack([f for f, _ in pairs]), torch.stack([m for _, m in pairs])


@pytest.mark.parametrize("batch_invariant", [True, False])
def test_bucketed_frames_give_the_unbucketed_output(batch_invariant):
    encoder = _encoder(batch_invariant)
    features, mask = _clips(310, 97, 41)  # longest clip: 155 encoder frames, bucket 100 -> 200 run
    with torch.no_grad():
        plain = encoder(features, mask)
        encoder.length_bucket = 100
        bucketed = encoder(features, mask)
    assert bucketed.last_hidden_state.shape == plain.last_hidden_state.shape
    torch.testing.assert_close(bucketed.last_hidden_state, plain.last_hidden_state, rtol=1e-5, atol=1e-5)
    assert torch.equal(bucketed.output_lengths, plain.output_lengths)


def test_compiled_encoder_reuses_one_graph_for_clips_of_one_bucket():
    encoder = _encoder()
    batches = [_clips(310, 97), _clips(250, 300), _clips(399, 12)]  # longest: 155, 150, 200 frames: one bucket
    with torch.no_grad():
        expected = [encoder(*batch).last_hidden_state for batch in batches]
        torch._dynamo.reset()
        counters.clear()
        encoder.compile_with_length_buckets(bucket_frames=200, backend="eager", fullgraph=True)
        with torch._dynamo.config.patch(error_on_recompile=True):
            outputs = [encoder(*batch).last_hidden_state for batch in batches]
    assert counters["stats"]["unique_graphs"] == 1  # both blocks and all three batches share it
    for output, reference in zip(outputs, expected):
        torch.testing.assert_close(output, reference, rtol=1e-5, atol=1e-5)


def test_bucket_size_is_checked():
    with pytest.raises(ValueError, match="bucket_frames"):
        _encoder().compile_with_length_buckets(bucket_frames=0)
