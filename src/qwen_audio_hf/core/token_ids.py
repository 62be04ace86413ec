"""Special-token inventory of Qwen-Audio: the one definition of every special-token string and id.

Ids are assigned after the 151643 byte-level BPE ranks of ``qwen.tiktoken``, in the order of
:data:`SPECIAL_TOKENS` (chat/control tokens first, then the audio task vocabulary). Every group is
exposed as a tuple of strings so the tokenizer, tag grammar, processor, model config and tests share them.
Pure Python (no torch, no transformers): every layer of the package may import it.
"""

from __future__ import annotations

from types import MappingProxyType

NUM_BPE_RANKS = 151643
"""Number of byte-level BPE ranks in ``qwen.tiktoken``; the first special token takes this id."""

# --- chat / control tokens -------------------------------------------------------------------
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
NUM_EXTRAS = 205
EXTRAS = tuple(f"<|extra_{index}|>" for index in range(NUM_EXTRAS))
CONTROL_TOKENS = (ENDOFTEXT, IM_START, IM_END, *EXTRAS)


def _tag(name: str) -> str:
    return f"<|{name}|>"


# --- audio span tokens -----------------------------------------------------------------------
AUDIO_PAD = "[[[AUDIO:modality]]]"
"""Filler repeated inside an ``<audio>...</audio>`` span; its embeddings are replaced by audio features."""
AUDIO_START = "<audio>"
AUDIO_END = "</audio>"

# --- prompt grammar groups -------------------------------------------------------------------
TRANSCRIPTION_TAG = _tag("startoftranscript")
ANALYSIS_TAG = _tag("startofanalysis")
START_TAGS = (TRANSCRIPTION_TAG, ANALYSIS_TAG)

TASK_TAGS = tuple(_tag(name) for name in ("translate", "transcribe", "caption", "keyword"))

UNKNOWN_LANGUAGE = _tag("unknown")
LANGUAGES = MappingProxyType(
    {
        "en": "english",
        "zh": "chinese",
        "de": "german",
        "es": "spanish",
        "ko": "korean",
        "fr": "french",
        "ja": "japanese",
        "it": "italian",
    }
)
"""Language codes with a dedicated tag, in vocabulary order (code -> English name)."""
TRADITIONAL_CHINESE = _tag("zh_tr")
LANGUAGE_TAGS = (UNKNOWN_LANGUAGE, *(_tag(code) for code in LANGUAGES), TRADITIONAL_CHINESE)

NO_TIMESTAMPS = _tag("notimestamps")
SILENCE = _tag("sil")
TIMESTAMPS = _tag("timestamps")
TIMESTAMP_FLAG_TAGS = (NO_TIMESTAMPS, SILENCE, TIMESTAMPS)

TIMESTAMP_STEP_SECONDS = 0.01
NUM_TIMESTAMP_TOKENS = 3001
TIMESTAMP_TOKENS = tuple(_tag(f"{step / 100:.2f}") for step in range(NUM_TIMESTAMP_TOKENS))
"""``<|0.00|>`` ... ``<|30.00|>`` in 10 ms steps."""

CAPTION_STYLE_TAGS = tuple(
    _tag(name) for name in ("caption_audiocaps", "caption_clotho", "audioset_ontology", "caption_plain")
)
ITN = _tag("itn")
WITHOUT_ITN = _tag("wo_itn")
ENTITY_TAGS = tuple(
    _tag(name)
    for name in ("startofentityvalue", "endofentityvalue", "startofentitytype", "endofentitytype")
)
NAMED_ENTITY_RECOGNITION = _tag("named_entity_recognition")
AUDIO_GROUNDING = _tag("audio_grounding")
START_OF_WORD = _tag("startofword")
END_OF_WORD = _tag("endofword")
DELIM = _tag("delim")
EMOTION_RECOGNITION = _tag("emotion_recognition")
MUSIC_DESCRIPTION = _tag("music_description")
NOTE_ANALYSIS = _tag("note_analysis")
PITCH = _tag("pitch")
NUM_MIDI_VALUES = 128
MIDI_PITCH_TOKENS = tuple(_tag(f"midi_pitch_{value}") for value in range(NUM_MIDI_VALUES))
VELOCITY = _tag("velocity")
MIDI_VELOCITY_TOKENS = tuple(_tag(f"midi_velocity_{value}") for value in range(NUM_MIDI_VALUES))
SONIC = _tag("sonic")
INSTRUMENT = _tag("instrument")
SPEAKER_META = _tag("speaker_meta")
SONG_META = _tag("song_meta")
QUESTION = _tag("question")
ANSWER = _tag("answer")
CHOICE = _tag("choice")
SCENE = _tag("scene")
EVENT = _tag("event")
VOCAL_CLASSIFICATION = _tag("vocal_classification")
SPEECH_UNDERSTANDING = _tag("speech_understanding")
SCENARIO = _tag("scenario")
ACTION = _tag("action")
ENTITIES = _tag("entities")
SPEECH_EDIT = _tag("speech_edit")

OUTPUT_INSTRUCTIONS = (
    *CAPTION_STYLE_TAGS,
    ITN,
    WITHOUT_ITN,
    *ENTITY_TAGS,
    NAMED_ENTITY_RECOGNITION,
    AUDIO_GROUNDING,
    START_OF_WORD,
    END_OF_WORD,
    DELIM,
    EMOTION_RECOGNITION,
    MUSIC_DESCRIPTION,
    NOTE_ANALYSIS,
    PITCH,
    *MIDI_PITCH_TOKENS,
    VELOCITY,
    *MIDI_VELOCITY_TOKENS,
    SONIC,
    INSTRUMENT,
    SPEAKER_META,
    SONG_META,
    QUESTION,
    ANSWER,
    CHOICE,
    SCENE,
    EVENT,
    VOCAL_CLASSIFICATION,
    SPEECH_UNDERSTANDING,
    SCENARIO,
    ACTION,
    ENTITIES,
    SPEECH_EDIT,
)
"""Output-instruction and analysis tags, in vocabulary order (between the timestamps and ``<audio>``)."""

AUDIO_SPECIAL_TOKENS = (
    AUDIO_PAD,
    *START_TAGS,
    *TASK_TAGS,
    *LANGUAGE_TAGS,
    *TIMESTAMP_FLAG_TAGS,
    *TIMESTAMP_TOKENS,
    *OUTPUT_INSTRUCTIONS,
    AUDIO_START,
    AUDIO_END,
)
"""The 3314 audio-task special tokens, in vocabulary order."""

SPECIAL_TOKENS = CONTROL_TOKENS + AUDIO_SPECIAL_TOKENS
"""Every special token, in id order (first id = :data:`NUM_BPE_RANKS`)."""

SPECIAL_TOKEN_IDS = MappingProxyType(
    {token: NUM_BPE_RANKS + offset for offset, token in enumerate(SPECIAL_TOKENS)}
)
"""Special-token string -> id."""

VOCAB_SIZE = NUM_BPE_RANKS + len(SPECIAL_TOKENS)
"""``len(tokenizer)``: BPE ranks plus special tokens (155165)."""


def special_token_id(token: str) -> int:
    """Return the id of special token ``token``; raise ``KeyError`` naming it when unknown."""
    try:
        return SPECIAL_TOKEN_IDS[token]
    except KeyError:
        raise KeyError(f"{token!r} is not a Qwen-Audio special token (see SPECIAL_TOKENS)") from None


def timestamp_token(seconds: float) -> str:
    """Return the timestamp tag for ``seconds`` (rounded to 10 ms, 0 <= seconds <= 30)."""
    step = round(float(seconds) * 100)
    if not 0 <= step < NUM_TIMESTAMP_TOKENS:
        raise ValueError(f"timestamp {seconds!r} s is outside the tokenizable range 0.00-30.00 s")
    return TIMESTAMP_TOKENS[step]


ENDOFTEXT_ID = SPECIAL_TOKEN_IDS[ENDOFTEXT]
IM_START_ID = SPECIAL_TOKEN_IDS[IM_START]
IM_END_ID = SPECIAL_TOKEN_IDS[IM_END]
AUDIO_PAD_ID = SPECIAL_TOKEN_IDS[AUDIO_PAD]
AUDIO_START_ID = SPECIAL_TOKEN_IDS[AUDIO_START]
AUDIO_END_ID = SPECIAL_TOKEN_IDS[AUDIO_END]
FIRST_TIMESTAMP_ID = SPECIAL_TOKEN_IDS[TIMESTAMP_TOKENS[0]]
LAST_TIMESTAMP_ID = SPECIAL_TOKEN_IDS[TIMESTAMP_TOKENS[-1]]

# --- where generation stops (the first token of each list is also the pad token) ------------------
BASE_END_TOKENS = (ENDOFTEXT,)
"""End of a base-model (tagged-prompt) response: the original evaluation stops here."""
END_TOKENS = (ENDOFTEXT, IM_END)
"""End of a base-model or a chat response: what mixed or unknown prompts (demo, long form, examples) stop at."""
END_TOKEN_IDS = tuple(SPECIAL_TOKEN_IDS[token] for token in END_TOKENS)
CHAT_STOP_TOKENS = (IM_END, IM_START, ENDOFTEXT)
"""The original chat model's stop words (``generation_config.json`` of Qwen-Audio-Chat, ChatML)."""
CHAT_STOP_TOKEN_IDS = tuple(SPECIAL_TOKEN_IDS[token] for token in CHAT_STOP_TOKENS)

if len(AUDIO_SPECIAL_TOKENS) != 3314 or len(SPECIAL_TOKEN_IDS) != len(SPECIAL_TOKENS):
    raise RuntimeError("Qwen-Audio special-token inventory is inconsistent (expected 3314 unique audio tokens)")

PADDED_VOCAB_SIZE = 155947
"""Embedding / LM-head rows of the released Qwen-Audio (the :data:`VOCAB_SIZE` token ids plus unused padding rows)."""


def until_end(ids, end_ids=END_TOKEN_IDS) -> list[int]:
    """``ids`` up to (without) the first of ``end_ids``: a generated response cut where it ends."""
    ids, end_ids = list(ids), set(end_ids)
    return ids[: next((i for i, token in enumerate(ids) if token in end_ids), len(ids))]
