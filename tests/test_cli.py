"""The command line: its parser is built from torch-free modules and offers exactly what the handlers accept."""

import json
import subprocess
import sys

import pytest

from qwen_audio_hf.cli import build_parser
from qwen_audio_hf.demo.training import DemoSettings
from qwen_audio_hf.evaluation.protocols import FAMILY_DEFAULTS, PROTOCOLS
from qwen_audio_hf.long_form.decoding import TASKS
from qwen_audio_hf.long_form.formats import FORMATS
from qwen_audio_hf.modeling.conversion import _DTYPES as CONVERT_DTYPES

HEAVY = ("torch", "transformers", "numpy", "qwen_audio_hf.modeling", "qwen_audio_hf.processing")


def _subcommand(name):
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[name]


def _choices(subparser, dest):
    return next(action.choices for action in subparser._actions if action.dest == dest)


@pytest.mark.parametrize("argv", [[], ["convert"], ["demo"], ["eval"], ["transcribe"]])
def test_help_imports_no_torch_transformers_or_model_code(argv):
    code = (
        "import sys\nfrom qwen_audio_hf.cli import main\n"
        f"try:\n    main({argv + ['--help']!r})\nexcept SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        f"print('\\n' + __import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert "usage: qwen-audio-hf" in run.stdout
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


def test_the_parser_offers_what_the_handlers_take():
    transcribe, evaluate, convert = (_subcommand(name) for name in ("transcribe", "eval", "convert"))
    assert tuple(_choices(transcribe, "task")) == TASKS
    assert tuple(_choices(transcribe, "format")) == FORMATS
    assert set(_choices(evaluate, "task")) == set(PROTOCOLS) | set(FAMILY_DEFAULTS)
    assert set(_choices(convert, "dtype")) == set(CONVERT_DTYPES) == set(_choices(evaluate, "dtype"))


def test_demo_flags_are_demo_settings():
    demo = _subcommand("demo")
    fields = set(DemoSettings.__dataclass_fields__)
    flags = {action.dest for action in demo._actions if action.dest not in ("help", "output_dir")}
    assert flags <= fields, flags - fields
