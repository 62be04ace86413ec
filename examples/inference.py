"""Run a Qwen-Audio checkpoint on a clip: a tagged base-model task, or a chat turn.

    # base model (Qwen-Audio), ASR in English: the original hub folder or a converted one
    python examples/inference.py --model /path/to/Qwen-Audio --audio clip.wav
    # other tasks through the tag grammar
    python examples/inference.py --model DIR --audio clip.wav --task caption
    # chat model (Qwen-Audio-Chat)
    python examples/inference.py --model /path/to/Qwen-Audio-Chat --audio clip.wav --chat "What do you hear?"
    # CPU: every linear layer in int8 (quantized while loading the bf16 folder)
    python examples/inference.py --model /path/to/Qwen-Audio-Chat --audio clip.wav --chat "..." --quantization int8
"""

import argparse

from qwen_audio_hf import QwenAudioForConditionalGeneration, QwenAudioProcessor, TaskPrompt
from qwen_audio_hf.core.command_options import INFERENCE_QUANTIZATIONS
from qwen_audio_hf.core.token_ids import BASE_END_TOKENS, END_TOKENS
from qwen_audio_hf.modeling.int8 import load_for_inference
from qwen_audio_hf.modeling.generation import generate_batch
from qwen_audio_hf.processing.tags import strip_tags

TASKS = {
    "asr": lambda: TaskPrompt.asr("en"),
    "caption": lambda: TaskPrompt.caption("clotho"),
    "scene": TaskPrompt.scene,
    "emotion": TaskPrompt.emotion,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="original or native checkpoint folder")
    parser.add_argument("--audio", required=True, help="audio file (wav, flac, ogg, mp3)")
    parser.add_argument("--task", choices=sorted(TASKS), default="asr")
    parser.add_argument("--chat", help="ask this question in a chat turn instead of a tagged task")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--quantization", choices=INFERENCE_QUANTIZATIONS,
                        help="int8: int8 weights for every linear layer (CPU; full size in ~9 GB)")
    args = parser.parse_args()

    model = load_for_inference(args.model, quantization=args.quantization,
                               model_class=QwenAudioForConditionalGeneration)
    processor = QwenAudioProcessor.from_pretrained(args.model)

    if args.chat:
        messages = [{"role": "user", "content": [{"type": "audio", "path": args.audio}, {"type": "text", "text": args.chat}]}]
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    else:
        prompt = TASKS[args.task]().to_text(audio=args.audio)  # <audio>PATH</audio><|startoftranscript|>...
        inputs = processor(text=prompt, return_tensors="pt")
    [answer] = generate_batch(model, processor, inputs, max_new_tokens=args.max_new_tokens, min_new_tokens=None,
                              end_tokens=END_TOKENS if args.chat else BASE_END_TOKENS)
    print(strip_tags(answer).strip())


if __name__ == "__main__":
    main()
