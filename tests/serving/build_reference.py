"""Build a tiny random converted checkpoint and this package's greedy `generate()` tokens for the vLLM checks.

Runs in the MAIN environment (transformers >= 5.24):
    python -m tests.serving.build_reference OUT_DIR
writes OUT_DIR/checkpoint (model + processor, native layout), OUT_DIR/original (same weights, original
`transformer.*` keys), the clips as WAV files and OUT_DIR/reference.json (prompts, clips, greedy tokens).
The vLLM environment then compares against it (tests/serving/test_vllm_*.py).
"""

import json
import sys
from pathlib import Path

import numpy as np
import soundfile
import torch

from qwen_audio_hf import QwenAudioForConditionalGeneration, QwenAudioProcessor, QwenAudioTokenizer

from ..tiny_models import tiny_model

MAX_NEW_TOKENS = 12
SEQ_LENGTH = 512
# Clips: (name, seconds, sampling rate). 44.1 kHz checks that vLLM's resampling matches the processor's.
CLIPS = [("tone", 2.5, 16000), ("chirp", 4.0, 16000), ("noise44k", 1.7, 44100)]


def tiny_checkpoint_model(seed: int = 0) -> QwenAudioForConditionalGeneration:
    """head_dim 32 (vLLM's CPU attention needs >= 32); larger random weights so tokens differ between inputs."""
    return tiny_model(seed, layers=2, hidden=128, heads=4, audio_d_model=64, init_std=0.08, seq_length=SEQ_LENGTH)


def make_clip(kind: str, seconds: float, rate: int) -> np.ndarray:
    generator = np.random.default_rng(len(kind) * 7919)
    t = np.arange(int(seconds * rate)) / rate
    if kind == "tone":
        wave = 0.4 * np.sin(2 * np.pi * 440 * t)
    elif kind == "chirp":
        wave = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)
    else:
        wave = 0.2 * generator.standard_normal(t.shape[0])
    return wave.astype(np.float32)


def cases() -> list[dict]:
    """Prompts with empty <audio></audio> placeholders (one per clip, in order)."""
    chat = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Audio 1:<audio></audio>\nAudio 2:<audio></audio>\nWhat do you hear?<|im_end|>\n<|im_start|>assistant\n"
    )
    return [
        {"prompt": "<audio></audio><|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>",
         "clips": ["tone"]},
        {"prompt": chat, "clips": ["chirp", "noise44k"]},
        {"prompt": "<audio></audio><|startofanalysis|><|en|><|caption|><|en|><|notimestamps|><|wo_itn|>",
         "clips": ["noise44k"]},
        {"prompt": "Hello, this prompt has no audio at all.", "clips": []},
    ]


def chat_reference(model, processor, clips: dict) -> dict:
    """One user turn with two audios and a question, through the processor's chat template."""
    chat = {"clips": ["tone", "noise44k"], "text": "What do you hear?"}
    content = []
    for name in chat["clips"]:
        wave = soundfile.read(clips[name]["path"], dtype="float32")[0]
        content.append({"type": "audio", "audio": wave, "sampling_rate": clips[name]["sampling_rate"]})
    content.append({"type": "text", "text": chat["text"]})
    inputs = processor.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    prompt_ids = inputs["input_ids"][0].tolist()
    return {**chat, "prompt_ids": prompt_ids, "tokens": output[0, len(prompt_ids):].tolist()}


TRANSCRIPTION_CHUNK_S = 5.0
"""Longest window of the transcription checks (a 5 s window fits the tiny checkpoint's 512-token context)."""


def transcription_reference(out: Path, checkpoint: Path) -> dict:
    """A 13 s recording with pauses, transcribed by `qwen-audio-hf transcribe` in every format (and with word
    timestamps): what the server's /v1/audio/transcriptions must answer for the same file."""
    import tempfile

    from qwen_audio_hf.cli import main as cli

    from ..long_form.signals import recording, speech_over_bed

    path = out / "talk.wav"
    soundfile.write(path, recording([(0.4, 3.1), (4.3, 7.9), (9.0, 12.4)], 13.0, seed=5), 16000, subtype="FLOAT")
    outputs = {}
    for fmt, extra in (("json", []), ("srt", []), ("vtt", []), ("txt", []), ("words", ["--timestamps"])):
        with tempfile.TemporaryDirectory() as directory:
            args = ["transcribe", str(path), "--model", str(checkpoint), "--chunk-length-s", str(TRANSCRIPTION_CHUNK_S),
                    "--max-new-tokens", str(MAX_NEW_TOKENS), "--format", "json" if fmt == "words" else fmt,
                    "--output-dir", directory, "--no-progress", "--device", "cpu", *extra]
            assert cli(args) == 0, args
            text = (Path(directory) / f"talk.{'json' if fmt == 'words' else fmt}").read_text()
        outputs[fmt] = json.loads(text) if fmt in ("json", "words") else text
    bed = out / "speech_over_music.wav"
    soundfile.write(bed, speech_over_bed([(1.0, 3.0), (6.5, 9.0), (14.0, 15.5)], 18.0), 16000, subtype="FLOAT")
    with tempfile.TemporaryDirectory() as directory:
        assert cli(["transcribe", str(bed), "--model", str(checkpoint), "--chunk-length-s", str(TRANSCRIPTION_CHUNK_S),
                    "--max-new-tokens", str(MAX_NEW_TOKENS), "--segmentation", "vad", "--output-dir", directory,
                    "--no-progress", "--device", "cpu"]) == 0
        outputs["vad"] = {"path": str(bed), **json.loads((Path(directory) / "speech_over_music.json").read_text())}
    return {"path": str(path), "chunk_length_s": TRANSCRIPTION_CHUNK_S, "max_new_tokens": MAX_NEW_TOKENS, **outputs}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    checkpoint = out / "checkpoint"
    model = tiny_checkpoint_model()
    processor = QwenAudioProcessor(tokenizer=QwenAudioTokenizer())
    model.save_pretrained(checkpoint)
    processor.save_pretrained(checkpoint)

    clips = {}
    for kind, seconds, rate in CLIPS:
        wave = make_clip(kind, seconds, rate)
        path = out / f"{kind}.wav"
        soundfile.write(path, wave, rate, subtype="FLOAT")
        clips[kind] = {"path": str(path), "sampling_rate": rate}

    results = []
    for case in cases():
        waves = [soundfile.read(clips[k]["path"], dtype="float32")[0] for k in case["clips"]]
        rates = [clips[k]["sampling_rate"] for k in case["clips"]]
        inputs = processor(text=case["prompt"], audio=waves or None, sampling_rate=rates or None)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        prompt_ids = inputs["input_ids"][0].tolist()
        results.append({**case, "prompt_ids": prompt_ids, "tokens": output[0, len(prompt_ids):].tolist()})
    reference = {"checkpoint": str(checkpoint), "seq_length": SEQ_LENGTH, "clips": clips, "cases": results}
    reference["chat"] = chat_reference(model, processor, clips)
    reference["transcription"] = transcription_reference(out, checkpoint)
    (out / "reference.json").write_text(json.dumps(reference, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
