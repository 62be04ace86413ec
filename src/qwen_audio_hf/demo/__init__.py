"""The built-in demo (`qwen-audio-hf demo`): a tiny Qwen-Audio trained and evaluated on synthetic audio.

`synthetic` makes the sound clips, `speech` the spoken words (eSpeak NG), `tasks` turns them into prompts/targets and scores answers, `training` builds the model
and runs the two training stages, `run` drives everything (held-out evaluation through the evaluation harness, `speech_eval` for speech,
the long-form stage of `long_form`) and holds the CLI.
"""

from . import speech, synthetic
from .run import accuracy_by_task, evaluate, generate_answers, run_cli, run_demo
from .tasks import (
    CHAT_QUESTIONS,
    CHAT_SPEECH_TASKS,
    answer_label,
    chat_messages,
    is_correct,
    pretraining_rows,
    prompt_text,
    sft_rows,
    speech_tasks,
    tagged_target,
    task_prompt,
    word_start_errors,
)
from .training import (
    DemoSettings,
    SupervisedWindowCollator,
    build_processor,
    build_tiny_model,
    pretrain_stage,
    sft_stage,
)

__all__ = [
    "CHAT_QUESTIONS",
    "CHAT_SPEECH_TASKS",
    "DemoSettings",
    "SupervisedWindowCollator",
    "accuracy_by_task",
    "answer_label",
    "build_processor",
    "build_tiny_model",
    "chat_messages",
    "evaluate",
    "generate_answers",
    "is_correct",
    "pretrain_stage",
    "pretraining_rows",
    "prompt_text",
    "run_cli",
    "run_demo",
    "sft_rows",
    "sft_stage",
    "speech",
    "speech_tasks",
    "synthetic",
    "tagged_target",
    "task_prompt",
    "word_start_errors",
]
