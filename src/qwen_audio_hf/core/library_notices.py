"""Drop one third-party log line that every LoRA run would otherwise print, and nothing else.

bitsandbytes (imported by peft) tries, at import, to fetch an optional CPU 4-bit kernel from the Hub
(kernels-community) and logs "Failed to load CPU gemm_4bit_forward from kernels-community: ..." when it cannot;
it then uses its built-in CPU path, so nothing is lost. The filter matches only that message on only that logger;
`import qwen_audio_hf` installs it (logging only, nothing else is imported).
"""

import logging

BITSANDBYTES_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"
KERNEL_NOTICE = "Failed to load CPU gemm_4bit_forward from kernels-community"


class _DropKernelNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(KERNEL_NOTICE)


def drop_bitsandbytes_kernel_notice() -> None:
    """Install the filter (idempotent)."""
    logger = logging.getLogger(BITSANDBYTES_CPU_LOGGER)
    if not any(isinstance(existing, _DropKernelNotice) for existing in logger.filters):
        logger.addFilter(_DropKernelNotice())


__all__ = ["BITSANDBYTES_CPU_LOGGER", "KERNEL_NOTICE", "drop_bitsandbytes_kernel_notice"]
