"""The demo's tasks as Qwen-Audio data: tagged prompts and targets, chat conversations, scoring.

Sound tasks (`synthetic`): note pitch, beep count, event times, noise colour. Speech tasks (`speech`): ``asr``
(tagged transcription prompt, target the words), ``srwt`` (tagged word-timestamp prompt, ending in ``<|0.00|>``;
target ``<|sil|><|t|> word<|t|> word<|t|>...`` with eSpeak's word starts), and two chat-only questions on speech:
``spoken_number`` (digit-only utterances, answer the digits as a number) and ``word_count``.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Dict, List, Sequence

from ..core import token_ids as st
from ..core.token_ids import SILENCE
from ..evaluation.timestamp_shift import matched_spans, read_timed_text
from ..processing import tags
from ..processing.tags import TaskPrompt
from . import speech, synthetic

CHAT_QUESTIONS = {
    "asr": "What was said?",
    "spoken_number": "What number was said?",
    "word_count": "How many words were said?",
    "note_analysis": "What is the MIDI pitch of this note?",
    "beep_counting": "How many beeps do you hear?",
    "event_timestamps": "When does the noise burst start and end (in seconds)?",
    "noise_colour": "What colour is this noise?",
}
CHAT_SPEECH_TASKS = ("asr", "spoken_number", "word_count")
BEEP_QUESTION = "How many beeps are there?"

GROUNDING_PHRASE = "noise burst"
DIGIT_VALUES = {word: value for value, word in enumerate(speech.DIGITS)}


def task_prompt(example: Dict):
    """The tagged base-model prompt for an example (`processing.tags.TaskPrompt`)."""
    task = example["task"]
    if task == "asr":
        return TaskPrompt.asr("en")
    if task == "srwt":
        return TaskPrompt.timestamped_asr("en")
    if task == "note_analysis":
        return TaskPrompt.note_analysis()
    if task == "beep_counting":
        return TaskPrompt.aqa(BEEP_QUESTION, audio_language="unknown")
    if task == "event_timestamps":
        return TaskPrompt(task="keyword", text_language="en", timestamps=True, output_instruction="audio_grounding",
                          suffix=f"{st.START_OF_WORD}{GROUNDING_PHRASE}{st.END_OF_WORD}")
    if task == "noise_colour":
        return TaskPrompt.scene()
    raise ValueError(f"unknown synthetic task {task!r}")


def tagged_target(example: Dict) -> str:
    """The base-model answer in the tag grammar (words, timed words, midi pitch tag, count, timestamp pair, scene
    word). Spoken words are written with a leading space each (one Qwen token per word)."""
    task = example["task"]
    if task == "asr":
        return "".join(f" {word}" for word in example["words"])
    if task == "srwt":
        timed = [tags.TimedWord(SILENCE, 0.0, example["starts"][0])] + [
            tags.TimedWord(f" {w}", start, end) for w, start, end in zip(example["words"], example["starts"], example["ends"])]
        return tags.format_timestamped_words(timed)[len(tags.timestamp_token(0.0)):]  # the prompt ends with <|0.00|>
    if task == "note_analysis":
        return tags.format_note_analysis(tags.NoteAnalysis(pitch=example["pitch"]))
    if task == "event_timestamps":
        span = tags.TimeSpan(example["onset"], example["offset"])
        return tags.format_grounding([tags.GroundedPhrase("", (span,))])
    return example["label"]


def chat_answer(example: Dict) -> str:
    """The chat answer: the plain label ("60", "3", "0.10-0.30", "pink", "307", "two words said")."""
    return example["label"]


def speech_tasks(utterances: Sequence[Dict], task: str) -> List[Dict]:
    """Speech examples of one task from eSpeak utterances (`speech.make_utterances`): ``asr``/``srwt`` keep the
    transcript as label; ``word_count`` labels the number of words; ``spoken_number`` (digit-only utterances)
    labels the digits as one number ("three zero seven" -> "307")."""
    out = []
    for utterance in utterances:
        example = dict(utterance, task=task)
        if task == "word_count":
            example["label"] = str(len(utterance["words"]))
        elif task == "spoken_number":
            example["label"] = "".join(str(DIGIT_VALUES[w]) for w in utterance["words"])
        elif task not in ("asr", "srwt"):
            raise ValueError(f"unknown speech task {task!r}")
        out.append(example)
    return out


def _audio_value(example: Dict) -> Dict:
    return {"array": example["audio"], "sampling_rate": synthetic.SAMPLE_RATE}


def pretraining_rows(examples: Sequence[Dict]) -> List[Dict]:
    """Rows of the pretraining schema (`training/data.py`): audio, tag fields, target."""
    rows = []
    for example in examples:
        fields = {k: v for k, v in asdict(task_prompt(example)).items() if v is not None}
        suffix = fields.pop("suffix", "")
        rows.append({"audio": _audio_value(example), "tags": fields, "prompt": suffix, "target": tagged_target(example)})
    return rows


def chat_messages(example: Dict, with_answer: bool = True) -> List[Dict]:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "audio", "audio": _audio_value(example)},
                                     {"type": "text", "text": CHAT_QUESTIONS[example["task"]]}]},
    ]
    if with_answer:
        messages.append({"role": "assistant", "content": chat_answer(example)})
    return messages


def sft_rows(examples: Sequence[Dict]) -> List[Dict]:
    """Rows of the SFT schema: chat conversations with one audio and one short answer."""
    return [{"messages": chat_messages(example)} for example in examples]


_AUDIO_SPAN = re.compile(r"<audio>.*?</audio>", re.DOTALL)


def prompt_text(example: Dict, style: str, processor) -> str:
    """The generation prompt (audio as an empty placeholder span) for the 'tagged' or 'chat' style."""
    if style == "tagged":
        return task_prompt(example).to_text(audio="")
    messages = chat_messages(example, with_answer=False)
    messages[1]["content"][0] = {"type": "audio", "path": "clip"}
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return _AUDIO_SPAN.sub("<audio></audio>", text)


def word_start_errors(example: Dict, output: str) -> List[float]:
    """|start error| in seconds of every word of an SRWT answer that the edit-distance alignment of the evaluation's
    word-timestamp metric pairs with a truth word (``<|sil|>`` not counted)."""
    start = tags.timestamp_token(0.0)
    truth = read_timed_text(start + tagged_target(example))
    hypothesis = read_timed_text(start + tags.response_text(output))
    if truth is None or hypothesis is None:
        return []
    pairs = matched_spans(truth, hypothesis)
    words = dict(zip(truth.spans, truth.words))
    return [abs(ref[0] - hyp[0]) for ref, hyp in pairs if words.get(ref) != SILENCE]


def answer_label(example: Dict, output: str) -> str:
    """The answer in ``output`` written as the task's label ("63", "3", "0.10-0.50", "pink"): tagged answers
    (``<|pitch|><|midi_pitch_63|>``, a ``<|0.10|><|0.50|>`` grounding pair) are parsed, tags are stripped."""
    task = example["task"]
    text = tags.response_text(output)
    if task in ("asr", "srwt"):
        return " ".join(tags.strip_tags(text).split())
    if task == "note_analysis" and "<|" in text:
        pitch = tags.parse_note_analysis(text).pitch
        return "" if pitch is None else str(pitch)
    if task == "event_timestamps" and "<|" in text:
        spans = [span for phrase in tags.parse_grounding(text) for span in phrase.spans]
        return f"{spans[0].start:.2f}-{spans[0].end:.2f}" if len(spans) == 1 else ""
    return tags.strip_tags(text).strip()


def is_correct(example: Dict, output: str) -> bool:
    """Exact match of the parsed answer with the label (timestamps compared on the 0.01 s grid)."""
    return answer_label(example, output) == example["label"]
