"""The fixed choices the command line offers, kept torch-free so `qwen-audio-hf --help` imports nothing heavy.

The modules that do the work import these same names (long-form tasks, output formats, dtypes), so the parser and
the code that runs agree by construction; the protocol names are checked against `evaluation.protocols` in tests.
"""

LONG_FORM_TASKS = ("asr", "s2tt", "caption")
"""`qwen-audio-hf transcribe --task`: transcription, speech translation, one caption per window."""
LONG_FORM_MAX_NEW_TOKENS = 256
"""Default decoding length of one long-form window."""
SEGMENTATIONS = ("energy", "vad")
"""How long recordings are cut into windows: at pauses (energy) or around the speech Silero VAD finds (vad)."""
OUTPUT_FORMATS = ("json", "txt", "srt", "vtt")
"""`qwen-audio-hf transcribe --format`."""
DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")
"""Weight dtypes a command accepts by name ("auto": as stored in the checkpoint)."""
QUANTIZATION_NAMES = ("4bit", "8bit", "int8")
"""`--quantization`: bitsandbytes 4-bit / 8-bit (QLoRA training, GPU) or int8 CPU inference (modeling.int8)."""
INFERENCE_QUANTIZATIONS = ("int8",)
"""`transcribe` / `eval --quantization`: the CPU inference path."""
PROTOCOL_NAMES = ("librispeech", "aishell1", "aishell2", "covost2", "clotho", "srwt", "cochlscene", "tut2017",
                  "meld", "vocalsound", "nsynth", "clothoaqa")
"""The paper's evaluation protocols (`evaluation.protocols.PROTOCOLS`, same order)."""
TASK_FAMILIES = ("asr", "s2tt", "aac", "asc", "ser", "vsc", "mna", "aqa", "industrial_srwt")
"""Task families `qwen-audio-hf eval --task` also takes (`evaluation.protocols.FAMILY_DEFAULTS`, same order)."""

__all__ = ["DTYPE_NAMES", "INFERENCE_QUANTIZATIONS", "QUANTIZATION_NAMES", "LONG_FORM_MAX_NEW_TOKENS",
           "LONG_FORM_TASKS", "OUTPUT_FORMATS", "PROTOCOL_NAMES", "SEGMENTATIONS", "TASK_FAMILIES"]
