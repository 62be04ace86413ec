"""transformers' common model tests (ModelTesterMixin, ConfigTester from its sdist) on a tiny Qwen-Audio.

As in transformers' own tests/models/qwen2_audio: a tester builds a tiny config and inputs (each row holds one
audio span), the mixins run their checks. See tests/transformers_common.py for where the mixins come from.
"""

import unittest

import torch

from qwen_audio_hf.modeling import QwenAudioConfig, QwenAudioForConditionalGeneration, QwenAudioModel
from qwen_audio_hf.modeling.modeling_qwen_audio_encoder import audio_token_counts

from ..transformers_common import common_tests

common_tests()
import hf_common_tests.test_modeling_common as modeling_common  # noqa: E402
from hf_common_tests.test_configuration_common import ConfigTester  # noqa: E402
from hf_common_tests.test_modeling_common import ModelTesterMixin, floats_tensor, ids_tensor  # noqa: E402

# The mixins pick per-class behaviour (which classes get labels, which are base models without a loss) from
# transformers' static auto-class name tables, which only know in-tree models. List ours in the mixin module's view
# of those tables, as an in-tree model would be listed (transformers' own tables are left untouched).
modeling_common.MODEL_MAPPING_NAMES = {**modeling_common.MODEL_MAPPING_NAMES, "qwen_audio": "QwenAudioModel"}
modeling_common.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES = {
    **modeling_common.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, "qwen_audio": "QwenAudioForConditionalGeneration"
}

# Token ids of the tiny vocabulary (99). The mixins' random extra rows use ids < 5 and the resize test clamps ids
# to < 83, so the audio ids lie in between.
PAD, BOS_EOS, AUDIO_START, AUDIO_END, AUDIO_PAD = 0, 1, 5, 6, 7
AUDIO_MARKERS = (AUDIO_START, AUDIO_END, AUDIO_PAD)


def text_ids_tensor(shape, vocab_size, *args, **kwargs):
    """The mixins' random token ids, with the audio markers replaced by a text id: random text never holds an
    `<audio>` span (the processor writes those), and QwenAudio rejects a span that comes without its audio."""
    ids = ids_tensor(shape, vocab_size, *args, **kwargs)
    if vocab_size > max(AUDIO_MARKERS) + 1:
        ids = ids.masked_fill(torch.isin(ids, torch.tensor(AUDIO_MARKERS, device=ids.device)), max(AUDIO_MARKERS) + 1)
    return ids


modeling_common.ids_tensor = text_ids_tensor


class QwenAudioModelTester:
    def __init__(self, parent, batch_size=7, seq_length=25, mel_frames=60):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.mel_frames = mel_frames
        self.text_config = dict(
            vocab_size=99, hidden_size=32, intermediate_size=36, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, seq_length=64, pad_token_id=PAD,
            bos_token_id=BOS_EOS, eos_token_id=BOS_EOS,
        )
        self.audio_config = dict(d_model=16, encoder_attention_heads=4, encoder_ffn_dim=16, encoder_layers=2,
                                 num_mel_bins=80, max_source_positions=30)
        self.num_hidden_layers = 2
        self.hidden_size = 32
        self.num_attention_heads = 4
        self.vocab_size = 99
        self.is_training = True
        self.encoder_seq_length = seq_length

    def get_config(self):
        return QwenAudioConfig(text_config=self.text_config, audio_config=self.audio_config,
                               audio_start_token_id=AUDIO_START, audio_end_token_id=AUDIO_END,
                               audio_token_id=AUDIO_PAD)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        features = floats_tensor([self.batch_size, 80, self.mel_frames])
        feature_mask = torch.ones(self.batch_size, self.mel_frames, dtype=torch.long)
        input_ids = ids_tensor([self.batch_size, self.seq_length], 83 - 8) + 8
        tokens = int(audio_token_counts(self.mel_frames))
        input_ids[:, 1] = AUDIO_START
        input_ids[:, 2 : 2 + tokens] = AUDIO_PAD
        input_ids[:, 2 + tokens] = AUDIO_END
        attention_mask = torch.ones_like(input_ids)
        attention_mask[:, :1] = 0
        return config, dict(input_ids=input_ids, attention_mask=attention_mask, input_features=features,
                            feature_attention_mask=feature_mask)


class QwenAudioCommonTest(ModelTesterMixin, unittest.TestCase):
    all_model_classes = (QwenAudioModel, QwenAudioForConditionalGeneration)
    additional_model_inputs = ["input_features", "feature_attention_mask"]
    _is_composite = True

    def setUp(self):
        self.model_tester = QwenAudioModelTester(self)
        self.config_tester = ConfigTester(self, config_class=QwenAudioConfig, has_text_modality=False)

    def test_config(self):
        self.config_tester.run_common_tests()

    @unittest.skip("transformers' GenerationTesterMixin is not in its sdist; QwenAudioGenerationTest below runs the "
                   "equivalent generate() checks")
    def test_generation_tester_mixin_inheritance(self):
        pass
