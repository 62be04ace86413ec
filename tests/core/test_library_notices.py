"""The bitsandbytes kernel notice is dropped from training runs; that logger's other records still pass."""

import subprocess
import sys

from qwen_audio_hf.core.library_notices import KERNEL_NOTICE


def test_peft_import_after_the_package_prints_no_kernel_notice_but_other_records_pass():
    code = (
        "import logging, qwen_audio_hf, transformers, peft\n"
        "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('another bitsandbytes warning')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert KERNEL_NOTICE not in run.stderr
    assert "another bitsandbytes warning" in run.stderr
