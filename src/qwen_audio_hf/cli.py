"""`qwen-audio-hf` command line: one subcommand per job, each owned by the module that does the work.

Each module named in `_SUBCOMMANDS` exposes `add_cli_arguments(parser)` and `run_cli(args) -> int`.
"""

import argparse
import importlib
import sys

_SUBCOMMANDS = {
    "convert": ("qwen_audio_hf.modeling.conversion", "Convert an original Qwen-Audio checkpoint to the native layout."),
    "demo": ("qwen_audio_hf.demo.run", "Train and evaluate a tiny Qwen-Audio on synthetic audio (offline, CPU)."),
    "eval": ("qwen_audio_hf.evaluation.cli", "Evaluate a model on one of the paper's benchmark protocols."),
    "transcribe": ("qwen_audio_hf.long_form.cli", "Transcribe, translate or caption recordings of any length."),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen-audio-hf", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_cli_arguments(sub)
        sub.set_defaults(_run=module.run_cli)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
