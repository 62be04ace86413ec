"""`--no-progress` for model loading: transformers' "Loading weights" bar off for the duration, then as before."""

import contextlib


@contextlib.contextmanager
def progress_bars(enabled: bool):
    """Within the block, transformers' progress bars (weights loading, downloads) are shown only if ``enabled``."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    if was_enabled and not enabled:
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled and not enabled:
            transformers_logging.enable_progress_bar()


__all__ = ["progress_bars"]
