"""The vLLM plugin's check: a released-layout folder is refused at config time with the convert command."""

import subprocess
import sys

import pytest

from qwen_audio_hf.serving.original_layout import check_not_released_layout, convert_command

from ..modeling.original_layout import released_and_converted_folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return released_and_converted_folders(tmp_path_factory.mktemp("layouts"))


def test_the_released_layout_is_refused_naming_the_convert_command(folders):
    with pytest.raises(ValueError, match="released") as error:
        check_not_released_layout(folders["original"])
    assert f"`{convert_command(folders['original'])}`" in str(error.value)
    check_not_released_layout(folders["converted"])  # passes


def test_the_check_runs_in_front_of_autoconfig(folders):
    """As the plugin installs it in vLLM's process: AutoConfig itself stops, before any remote-code prompt."""
    code = (
        "from transformers import AutoConfig\n"
        "from qwen_audio_hf.serving.original_layout import install_released_layout_check\n"
        "install_released_layout_check()\n"
        f"AutoConfig.from_pretrained({folders['original']!r})\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode != 0 and "qwen-audio-hf convert" in run.stderr and "trust_remote_code" not in run.stderr
