"""Drop the third-party log lines that every LoRA run would otherwise print, and nothing else.

bitsandbytes (imported by peft) tries, at import, to fetch an optional CPU 4-bit kernel from the Hub
(kernels-community/quantization-bitsandbytes, through the `kernels` library) and logs "Failed to load CPU
gemm_4bit_forward from kernels-community: ..." when it cannot (offline, `kernels` first logs "Skipping publisher
trust check for 'kernels-community/quantization-bitsandbytes' ..."); bitsandbytes then uses its built-in CPU path,
so nothing is lost. Each filter matches only its message on only its logger; `import qwen_audio_hf` installs them
(logging only, nothing else is imported).
"""

import logging

KERNEL_NOTICES = {
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community",
    "kernels._internals.hf_hub": "Skipping publisher trust check for 'kernels-community/quantization-bitsandbytes'",
}
"""logger name -> start of the one message dropped from it."""


class _DropNotice(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def drop_bitsandbytes_kernel_notice() -> None:
    """Install the filters (idempotent)."""
    for name, prefix in KERNEL_NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, _DropNotice) for existing in logger.filters):
            logger.addFilter(_DropNotice(prefix))


__all__ = ["KERNEL_NOTICES", "drop_bitsandbytes_kernel_notice"]
