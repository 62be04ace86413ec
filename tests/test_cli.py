"""The command line: a torch-free parser offering exactly what the handlers accept; every command takes the released
layout and a converted folder alike, with stdin closed and without library noise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_audio_hf.cli import build_parser
from qwen_audio_hf.demo.training import DemoSettings
from qwen_audio_hf.evaluation.protocols import FAMILY_DEFAULTS, PROTOCOLS
from qwen_audio_hf.long_form.decoding import TASKS
from qwen_audio_hf.long_form.formats import FORMATS
from qwen_audio_hf.modeling.conversion import _DTYPES as CONVERT_DTYPES

from .modeling.original_layout import released_and_converted_folders

HEAVY = ("torch", "transformers", "numpy", "qwen_audio_hf.modeling", "qwen_audio_hf.processing")


def _subcommand(name):
    parser = build_parser()
    return parser._subparsers._group_actions[0].choices[name]


def _choices(subparser, dest):
    return next(action.choices for action in subparser._actions if action.dest == dest)


SUBCOMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("argv", [[]] + [[name] for name in SUBCOMMANDS], ids=["top"] + SUBCOMMANDS)
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


# --------------------------------------------------------------------- the released layout: commands and examples
AUDIO = Path(__file__).resolve().parent / "fixtures" / "original" / "audio" / "tone_1p3s.wav"
NOISE = ("gemm_4bit", "trust_remote_code", "Do you wish to run the custom code", "Repo id must be")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return released_and_converted_folders(tmp_path_factory.mktemp("layouts"))


def _cli(*args):
    """`qwen-audio-hf ARGS` in a fresh process with stdin closed (a prompt would fail it)."""
    return subprocess.run([sys.executable, "-m", "qwen_audio_hf.cli", *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


@pytest.mark.parametrize("layout", ["original", "converted"])
def test_transcribe_takes_the_folder_quietly(folders, layout, tmp_path):
    run = _cli("transcribe", AUDIO, "--model", folders[layout], "--output-dir", tmp_path, "--max-new-tokens", 2,
               "--no-progress")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "tone_1p3s.json").read_text())["windows"]
    assert "1.3 s, 1 window)" in run.stdout
    output = run.stdout + run.stderr
    assert not [noise for noise in NOISE if noise in output], output
    assert "Loading weights" not in output and "it/s" not in output  # --no-progress: no bar at all


@pytest.mark.parametrize("layout", ["original", "converted"])
def test_eval_takes_the_folder(folders, layout, tmp_path):
    data = tmp_path / "meld.jsonl"
    data.write_text(json.dumps({"audio": str(AUDIO), "gt": "neutral", "source": "meld_test"}) + "\n")
    run = _cli("eval", "--task", "meld", "--data", data, "--model", folders[layout], "--output-dir", tmp_path / "out",
               "--max-new-tokens", 2, "--no-progress")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "meld_scores.json").is_file()
    assert not [noise for noise in NOISE if noise in run.stdout + run.stderr], run.stderr


def test_convert_takes_the_released_folder(folders, tmp_path):
    run = _cli("convert", folders["original"], tmp_path / "native")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "native" / "config.json").read_text())["model_type"] == "qwen_audio"


@pytest.mark.parametrize("command", ["transcribe", "eval", "convert"])
def test_a_missing_model_folder_is_named(command, tmp_path):
    missing = tmp_path / "no-such-model"
    args = {"transcribe": ["transcribe", AUDIO, "--model", missing],
            "eval": ["eval", "--task", "meld", "--data", AUDIO, "--model", missing],
            "convert": ["convert", missing, tmp_path / "out"]}[command]
    run = _cli(*args)
    assert run.returncode != 0 and f"no such folder: {missing}" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and "Repo id" not in run.stderr


@pytest.mark.parametrize("layout", ["original", "converted"])
def test_inference_example_takes_the_folder(folders, layout):
    script = Path(__file__).resolve().parent.parent / "examples" / "inference.py"
    run = subprocess.run([sys.executable, str(script), "--model", folders[layout], "--audio", str(AUDIO),
                          "--max-new-tokens", "2"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert run.returncode == 0, run.stderr
    assert not [noise for noise in NOISE if noise in run.stdout + run.stderr], run.stderr
