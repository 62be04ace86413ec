"""The bitsandbytes kernel notices are dropped once the package is imported; those loggers' other records pass."""

import os
import subprocess
import sys

import pytest

from qwen_audio_hf.core.library_notices import KERNEL_NOTICES


@pytest.mark.parametrize("offline", ["0", "1"])
def test_peft_import_prints_no_kernel_notice_but_other_records_pass(offline):
    code = (
        "import logging, qwen_audio_hf, transformers, peft\n"
        f"for name in {list(KERNEL_NOTICES)!r}:\n"
        "    logging.getLogger(name).warning('another warning from ' + name)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         env={**os.environ, "HF_HUB_OFFLINE": offline})
    assert run.returncode == 0, run.stderr
    for name, notice in KERNEL_NOTICES.items():
        assert notice not in run.stderr
        assert f"another warning from {name}" in run.stderr
