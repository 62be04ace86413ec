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
    """Tiny config (2+2 layers) and a batch of 7 rows (the size the eager/SDPA checks use), one audio span per row."""

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

    # A configured rope_scaling is refused together with the original's dynamic NTK (clear error, see
    # tests/modeling/test_long_context.py); the mixin's rope-scaling checks run where it is valid: use_dynamic_ntk off.
    def _without_dynamic_ntk(self, test_name):
        self.model_tester.text_config["use_dynamic_ntk"] = False
        getattr(ModelTesterMixin, test_name)(self)

    def test_model_rope_scaling_frequencies(self):
        self._without_dynamic_ntk("test_model_rope_scaling_frequencies")

    def test_model_rope_scaling_from_config_0_linear(self):
        self._without_dynamic_ntk("test_model_rope_scaling_from_config_0_linear")

    def test_model_rope_scaling_from_config_1_dynamic(self):
        self._without_dynamic_ntk("test_model_rope_scaling_from_config_1_dynamic")

    def test_model_rope_scaling_from_config_2_yarn(self):
        self._without_dynamic_ntk("test_model_rope_scaling_from_config_2_yarn")

    @unittest.skip("transformers' GenerationTesterMixin is not in its sdist; QwenAudioGenerationTest below runs the "
                   "equivalent generate() checks")
    def test_generation_tester_mixin_inheritance(self):
        pass


class QwenAudioGenerationTest(unittest.TestCase):
    """generate() checks in place of transformers' GenerationTesterMixin (missing from its sdist): greedy, sampling
    and beam search give the same tokens with and without the KV cache, left padding does not change a row, a
    prompt passed as inputs_embeds generates like its input_ids, and the requested generate outputs come back."""

    NEW_TOKENS = 5

    def setUp(self):
        tester = QwenAudioModelTester(self, batch_size=2)
        config, self.inputs = tester.prepare_config_and_inputs_for_common()
        torch.manual_seed(0)
        self.model = QwenAudioForConditionalGeneration(config).eval()
        with torch.no_grad():  # larger weights than the init, so that different inputs lead to different tokens
            for name, param in self.model.named_parameters():
                if param.dim() >= 2:
                    param.normal_(0.0, 0.3)

    def generate(self, inputs=None, **kwargs):
        # The random model must not emit audio markers: without the cache the whole text is re-read every step,
        # and a generated lone <audio> would be a malformed span.
        options = dict(max_new_tokens=self.NEW_TOKENS, pad_token_id=PAD, eos_token_id=None,
                       return_dict_in_generate=True, output_scores=True, suppress_tokens=list(AUDIO_MARKERS))
        options.update(kwargs)
        with torch.no_grad():
            return self.model.generate(**(self.inputs if inputs is None else inputs), **options)

    def assert_cache_changes_nothing(self, **kwargs):
        seed = kwargs.pop("seed", None)
        outputs = []
        for use_cache in (True, False):
            if seed is not None:
                torch.manual_seed(seed)
            outputs.append(self.generate(use_cache=use_cache, **kwargs))
        cached, plain = outputs
        self.assertEqual(cached.sequences.tolist(), plain.sequences.tolist())
        return cached

    def test_greedy_with_and_without_cache(self):
        out = self.assert_cache_changes_nothing(do_sample=False)
        plain = self.generate(use_cache=False, do_sample=False)
        torch.testing.assert_close(torch.stack(out.scores), torch.stack(plain.scores), rtol=1e-4, atol=1e-4)
        self.assertEqual(len({tuple(row) for row in out.sequences[:, -self.NEW_TOKENS :].tolist()}), 2)

    def test_sampling_with_and_without_cache(self):
        self.assert_cache_changes_nothing(do_sample=True, top_k=0, temperature=1.0, seed=3)

    def test_beam_search_with_and_without_cache(self):
        out = self.assert_cache_changes_nothing(do_sample=False, num_beams=3, num_return_sequences=2)
        self.assertEqual(out.sequences.shape[0], 4)

    def test_left_padding_does_not_change_a_row(self):
        alone = {key: value[:1] for key, value in self.inputs.items()}
        alone["input_ids"], alone["attention_mask"] = alone["input_ids"][:, 1:], alone["attention_mask"][:, 1:]
        padded = {key: value[:1] for key, value in self.inputs.items()}
        pad = 4
        padded["input_ids"] = torch.cat([torch.full((1, pad), PAD), alone["input_ids"]], 1)
        padded["attention_mask"] = torch.cat([torch.zeros(1, pad, dtype=torch.long), alone["attention_mask"]], 1)
        single, batch_row = self.generate(alone, do_sample=False), self.generate(padded, do_sample=False)
        self.assertEqual(single.sequences[0, -self.NEW_TOKENS :].tolist(), batch_row.sequences[0, -self.NEW_TOKENS :].tolist())
        torch.testing.assert_close(torch.stack(single.scores), torch.stack(batch_row.scores), rtol=1e-4, atol=1e-4)

    def test_inputs_embeds_generate_like_input_ids(self):
        embeds_inputs = dict(self.inputs)
        embeds_inputs["inputs_embeds"] = self.model.get_input_embeddings()(embeds_inputs.pop("input_ids"))
        from_ids, from_embeds = self.generate(do_sample=False), self.generate(embeds_inputs, do_sample=False)
        self.assertEqual(from_ids.sequences[:, -self.NEW_TOKENS :].tolist(), from_embeds.sequences.tolist())

    def test_requested_generate_outputs_are_returned(self):
        self.model.set_attn_implementation("eager")  # attention weights exist only there
        out = self.generate(do_sample=False, output_logits=True, output_hidden_states=True, output_attentions=True)
        layers = self.model.config.text_config.num_hidden_layers
        self.assertEqual(len(out.scores), self.NEW_TOKENS)
        self.assertEqual(len(out.logits), self.NEW_TOKENS)
        self.assertEqual([len(step) for step in out.hidden_states], [layers + 1] * self.NEW_TOKENS)
        self.assertEqual([len(step) for step in out.attentions], [layers] * self.NEW_TOKENS)
        prompt_length = self.inputs["input_ids"].shape[1]
        self.assertEqual(out.attentions[0][0].shape[-1], prompt_length)
        self.assertEqual(out.attentions[-1][0].shape[-1], prompt_length + self.NEW_TOKENS - 1)
