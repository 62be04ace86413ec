"""`qwen-audio-hf` command line: one subcommand per job, each run by the module that does the work.

The parser is built here from torch-free pieces only (`core.command_options`), so `--help` is instant; each
handler imports its module (`run_cli(args) -> int`) when the subcommand actually runs.
"""

import argparse
import sys

from .core.command_options import (
    DTYPE_NAMES,
    INFERENCE_QUANTIZATIONS,
    LONG_FORM_MAX_NEW_TOKENS,
    LONG_FORM_TASKS,
    SEGMENTATIONS,
    OUTPUT_FORMATS,
    PROTOCOL_NAMES,
    TASK_FAMILIES,
)


# ------------------------------------------------------------------------------------------------ convert
def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="original hub checkpoint (directory or repo id) or a native checkpoint")
    parser.add_argument("dst", help="output directory for the native checkpoint")
    parser.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard (default: 5GB)")
    parser.add_argument(
        "--dtype", choices=sorted(DTYPE_NAMES), default="auto", help="weight dtype to write (default: as stored in SRC)"
    )
    parser.add_argument("--no-processor", action="store_true", help="write the model only, not the processor")


def _convert(args: argparse.Namespace) -> int:
    from .modeling.conversion import run_cli

    return run_cli(args)


# ------------------------------------------------------------------------------------------------ demo
def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    # defaults (None here) come from demo.training.DemoSettings when the demo runs
    parser.add_argument("--output-dir", required=True, help="where the model, logs and metrics.json go")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--pretrain-steps", type=int)
    parser.add_argument("--sft-steps", type=int)
    parser.add_argument("--eval-per-task", type=int)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def _demo(args: argparse.Namespace) -> int:
    from .demo.run import run_cli

    return run_cli(args)


# ------------------------------------------------------------------------------------------------ eval
_EVAL_EXAMPLES = """
    qwen-audio-hf eval --task librispeech --data data/asr/librispeech_eval.jsonl --model ./qwen-audio --output-dir out
    qwen-audio-hf eval --task clotho --predictions out/clotho_predictions.jsonl   # scoring only, no model
    accelerate launch -m qwen_audio_hf eval --task meld --data meld_eval.jsonl --model ./qwen-audio   # several GPUs"""


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EVAL_EXAMPLES + "\n\nProtocols and their scoring: docs/EVALUATION.md"
    tasks = [*PROTOCOL_NAMES, *(k for k in TASK_FAMILIES if k not in PROTOCOL_NAMES)]
    parser.add_argument("--task", required=True, choices=tasks, metavar="TASK",
                        help=f"protocol ({', '.join(PROTOCOL_NAMES)}) or family ({', '.join(TASK_FAMILIES)})")
    parser.add_argument("--data", help="evaluation data: a .jsonl in the original's format (audio, gt, source, ...) "
                                       "or a datasets directory saved with save_to_disk")
    parser.add_argument("--model", help="model directory (native, or an original Qwen-Audio checkpoint)")
    parser.add_argument("--processor", help="processor directory (default: --model)")
    parser.add_argument("--predictions", help="score this predictions file instead of generating "
                                              "(ours, or the original's results .json)")
    parser.add_argument("--output-dir", default="eval_results", help="where predictions and scores are written")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, help="override the protocol's decoding length")
    parser.add_argument("--language", help="speech/text language for asr and srwt (e.g. en, zh)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N examples")
    parser.add_argument("--split", help="split to use when --data is a DatasetDict directory")
    parser.add_argument("--device", help="device for a single-process run (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_NAMES, help="model dtype")
    parser.add_argument("--quantization", choices=INFERENCE_QUANTIZATIONS,
                        help="int8: int8 weights for every linear layer, CPU (fastest on CPUs without native bf16)")
    parser.add_argument("--spice", default="auto", choices=("auto", "require", "skip"),
                        help="captioning: compute SPICE if its Stanford jars are installed (auto), fail without "
                             "them (require), or never (skip)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _eval(args: argparse.Namespace) -> int:
    from .evaluation.cli import run_cli

    return run_cli(args)


# ------------------------------------------------------------------------------------------------ transcribe
def _transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files of any length (wav, flac, ogg, mp3, ...)")
    parser.add_argument("--model", required=True, metavar="DIR", help="model directory (converted or original)")
    parser.add_argument("--task", choices=LONG_FORM_TASKS, default="asr",
                        help="asr: transcription; s2tt: speech translation; caption: one caption per window")
    parser.add_argument("--language", default="en", help="spoken language (asr/s2tt) or caption language")
    parser.add_argument("--target-language", default=None, help="output language of s2tt, e.g. zh")
    parser.add_argument("--timestamps", action="store_true", help="word timestamps (asr); adds 'words' to the JSON")
    parser.add_argument("--chunk-length-s", type=float, default=30.0, help="longest window in seconds (<= 30)")
    parser.add_argument("--batch-size", type=int, default=8, help="windows decoded together")
    parser.add_argument("--max-new-tokens", type=int, default=LONG_FORM_MAX_NEW_TOKENS, help="per window")
    parser.add_argument("--num-beams", type=int, default=1, help="beam search width (1: greedy)")
    parser.add_argument("--overlap-s", type=float, default=0.0,
                        help="extra audio decoded on both sides of each window; words repeated at seams are removed")
    parser.add_argument("--segmentation", choices=SEGMENTATIONS, default="energy",
                        help="energy: windows cut at pauses; vad: only the speech Silero VAD finds is decoded "
                             "(noise/music beds; needs pip install 'qwen-audio-hf[vad]')")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="json")
    parser.add_argument("--output-dir", default=".", metavar="D", help="where the output files go (default: .)")
    parser.add_argument("--device", default=None, help="e.g. cuda, cpu (default: cuda when available)")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_NAMES,
                        help="weight dtype (auto: bf16 on a GPU, fp32 on a CPU; with --quantization int8: bf16)")
    parser.add_argument("--quantization", choices=INFERENCE_QUANTIZATIONS,
                        help="int8: int8 weights for every linear layer, CPU (a full-size model in ~9 GB)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _transcribe(args: argparse.Namespace) -> int:
    from .long_form.cli import run_cli

    return run_cli(args)


# ------------------------------------------------------------------------------------------------ web
def _web_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="model directory, converted or original (default: outputs/demo/model, README command 1)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument("--device", default=None, help="e.g. cuda, cpu (default: cuda when available)")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_NAMES,
                        help="weight dtype (auto: bf16 on a GPU, fp32 on a CPU; with --quantization int8: bf16)")
    parser.add_argument("--quantization", choices=INFERENCE_QUANTIZATIONS,
                        help="int8: int8 weights for every linear layer, CPU (as transcribe --quantization int8)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests the model serves at once (default: 1)")
    parser.add_argument("--max-queue", type=int, default=None, help="longest request queue (default: unbounded)")
    parser.add_argument("--max-audio-s", type=float, default=3600.0,
                        help="longest upload or recording accepted, in seconds (default: 3600)")
    parser.add_argument("--max-file-size", default="500mb", help="largest upload in bytes or e.g. 500mb")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="longest chat answer (default: 512)")
    parser.add_argument("--batch-size", type=int, default=8, help="transcribe tab: windows decoded together")


def _web(args: argparse.Namespace) -> int:
    from .web.cli import run_cli

    return run_cli(args)


# ------------------------------------------------------------------------------------------------ the parser
_SUBCOMMANDS = {
    "convert": ("Convert an original Qwen-Audio checkpoint to the native layout.", _convert_arguments, _convert),
    "demo": ("Train and evaluate a tiny Qwen-Audio on synthetic audio (offline, CPU).", _demo_arguments, _demo),
    "eval": ("Evaluate a model on one of the paper's benchmark protocols.", _eval_arguments, _eval),
    "transcribe": ("Transcribe, translate or caption recordings of any length.", _transcribe_arguments, _transcribe),
    "web": ("Chat with a model and transcribe recordings in the browser (needs the [web] extra).", _web_arguments, _web),
}
"""name -> (help, add the subcommand's arguments, run it). A handler imports its module only when it runs."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen-audio-hf", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in _SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(_run=run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
