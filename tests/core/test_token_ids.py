"""The special-token inventory: order, counts and the ids measured on the original tokenizer."""

import pytest

from qwen_audio_hf.core import token_ids as st


# ids measured on the original QWenTokenizer (see shared ORIGINAL_FACTS)
MEASURED_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|extra_0|>": 151646,
    "<|extra_204|>": 151850,
    "[[[AUDIO:modality]]]": 151851,
    "<|startoftranscript|>": 151852,
    "<|startofanalysis|>": 151853,
    "<|transcribe|>": 151855,
    "<|unknown|>": 151858,
    "<|en|>": 151859,
    "<|zh_tr|>": 151867,
    "<|notimestamps|>": 151868,
    "<|sil|>": 151869,
    "<|timestamps|>": 151870,
    "<|0.00|>": 151871,
    "<|0.52|>": 151923,
    "<|29.99|>": 154870,
    "<|30.00|>": 154871,
    "<|note_analysis|>": 154889,
    "<|pitch|>": 154890,
    "<|midi_pitch_60|>": 154951,
    "<|velocity|>": 155019,
    "<|speech_edit|>": 155162,
    "<audio>": 155163,
    "</audio>": 155164,
}


@pytest.mark.parametrize("token,expected", sorted(MEASURED_IDS.items()))
def test_measured_ids(token, expected):
    assert st.special_token_id(token) == expected
    assert st.SPECIAL_TOKEN_IDS[token] == expected


def test_counts_and_layout():
    assert st.NUM_BPE_RANKS == 151643
    assert len(st.EXTRAS) == 205
    assert len(st.AUDIO_SPECIAL_TOKENS) == 3314
    assert len(st.SPECIAL_TOKENS) == 3 + 205 + 3314
    assert len(set(st.SPECIAL_TOKENS)) == len(st.SPECIAL_TOKENS)
    assert st.VOCAB_SIZE == 155165
    ids = [st.SPECIAL_TOKEN_IDS[token] for token in st.SPECIAL_TOKENS]
    assert ids == list(range(st.NUM_BPE_RANKS, st.VOCAB_SIZE))
    assert st.SPECIAL_TOKENS[: len(st.CONTROL_TOKENS)] == st.CONTROL_TOKENS
    assert st.AUDIO_SPECIAL_TOKENS[0] == st.AUDIO_PAD
    assert st.AUDIO_SPECIAL_TOKENS[-2:] == (st.AUDIO_START, st.AUDIO_END)


def test_named_ids_match_mapping():
    assert st.ENDOFTEXT_ID == 151643
    assert (st.IM_START_ID, st.IM_END_ID) == (151644, 151645)
    assert (st.AUDIO_PAD_ID, st.AUDIO_START_ID, st.AUDIO_END_ID) == (151851, 155163, 155164)
    assert (st.FIRST_TIMESTAMP_ID, st.LAST_TIMESTAMP_ID) == (151871, 154871)


def test_language_tags_in_vocabulary_order():
    assert tuple(st.LANGUAGES) == ("en", "zh", "de", "es", "ko", "fr", "ja", "it")
    assert st.LANGUAGE_TAGS[0] == "<|unknown|>" and st.LANGUAGE_TAGS[-1] == "<|zh_tr|>"
    ids = [st.special_token_id(tag) for tag in st.LANGUAGE_TAGS]
    assert ids == list(range(151858, 151868))


def test_groups_are_contiguous_in_id_space():
    for group in (
        st.TASK_TAGS,
        st.TIMESTAMP_TOKENS,
        st.MIDI_PITCH_TOKENS,
        st.MIDI_VELOCITY_TOKENS,
        st.OUTPUT_INSTRUCTIONS,
        st.EXTRAS,
    ):
        ids = [st.special_token_id(token) for token in group]
        assert ids == list(range(ids[0], ids[0] + len(group)))
    assert st.special_token_id(st.MIDI_PITCH_TOKENS[0]) == st.special_token_id(st.PITCH) + 1
    assert st.special_token_id(st.MIDI_VELOCITY_TOKENS[0]) == st.special_token_id(st.VELOCITY) + 1
    assert st.special_token_id(st.OUTPUT_INSTRUCTIONS[0]) == st.LAST_TIMESTAMP_ID + 1
    assert st.special_token_id(st.OUTPUT_INSTRUCTIONS[-1]) + 1 == st.AUDIO_START_ID


def test_timestamp_tokens():
    assert len(st.TIMESTAMP_TOKENS) == 3001
    assert st.TIMESTAMP_TOKENS[:3] == ("<|0.00|>", "<|0.01|>", "<|0.02|>")
    assert st.TIMESTAMP_TOKENS[-1] == "<|30.00|>"
    for step in range(3001):  # every label is the 2-decimal rendering of step * 10 ms
        assert st.TIMESTAMP_TOKENS[step] == f"<|{step // 100}.{step % 100:02d}|>"
    assert st.timestamp_token(0.52) == "<|0.52|>"
    assert st.timestamp_token(29.999) == "<|30.00|>"
    assert st.timestamp_token(3) == "<|3.00|>"
    with pytest.raises(ValueError, match="outside"):
        st.timestamp_token(30.01)
    with pytest.raises(ValueError, match="outside"):
        st.timestamp_token(-0.01)


def test_midi_tokens():
    assert st.MIDI_PITCH_TOKENS[60] == "<|midi_pitch_60|>"
    assert st.MIDI_VELOCITY_TOKENS[127] == "<|midi_velocity_127|>"
    assert len(st.MIDI_PITCH_TOKENS) == len(st.MIDI_VELOCITY_TOKENS) == 128


def test_unknown_token_error_names_it():
    with pytest.raises(KeyError, match="<\\|klingon\\|>"):
        st.special_token_id("<|klingon|>")


def test_end_token_lists_and_the_cut_at_the_first_end():
    assert st.END_TOKEN_IDS == (151643, 151645) and st.BASE_END_TOKENS == (st.ENDOFTEXT,)
    assert st.CHAT_STOP_TOKEN_IDS == (151645, 151644, 151643)  # Qwen-Audio-Chat's stop words: im_end, im_start, eot
    assert st.until_end([5, 6, 151645, 7, 151643]) == [5, 6]
    assert st.until_end([5, 151645, 6], end_ids=[151643]) == [5, 151645, 6]
    assert st.until_end(iter([151643])) == [] and st.until_end([]) == []
