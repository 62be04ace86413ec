"""`qwen-audio-hf web [--model DIR]`: load the model once and serve the page (arguments declared in ``qwen_audio_hf.cli``)."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.model_sources import check_model_source

DEMO_MODEL_DIR = os.path.join("outputs", "demo", "model")
"""Where README command 1 (`qwen-audio-hf demo --output-dir outputs/demo`) leaves its final model."""


def resolve_model_dir(model: str | None) -> str:
    """``--model``, or the demo model when it is left out; raises ``ValueError`` saying how to get one."""
    if model is None:
        if os.path.isdir(DEMO_MODEL_DIR):
            return DEMO_MODEL_DIR
        raise ValueError(f"no --model given and no demo model at {DEMO_MODEL_DIR}; make one with "
                         "`qwen-audio-hf demo --output-dir outputs/demo` (README command 1), or pass --model DIR "
                         "(a converted or original Qwen-Audio folder)")
    check_model_source(model, hub=False)
    return model


def run_cli(args: argparse.Namespace) -> int:
    try:
        model_dir = resolve_model_dir(args.model)
        import gradio  # noqa: F401 - the optional extra, checked before the model is loaded
    except ImportError:
        print('error: the web app needs Gradio: pip install "qwen-audio-hf[web]"', file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from ..long_form.cli import load_model
    from .app import WebSettings, build_app

    try:
        model, processor = load_model(model_dir, args.device, args.dtype, args.quantization)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = WebSettings(max_audio_s=args.max_audio_s, max_new_tokens=args.max_new_tokens,
                           batch_size=args.batch_size, title=f"Qwen-Audio: {os.path.basename(os.path.normpath(model_dir))}")
    app = build_app(model, processor, settings)
    app.queue(default_concurrency_limit=args.concurrency, max_size=args.max_queue)
    print(f"serving {model_dir} on http://{args.host}:{args.port}", flush=True)
    app.launch(server_name=args.host, server_port=args.port, max_file_size=args.max_file_size, ssr_mode=False,
               show_error=True, quiet=True)
    return 0


__all__ = ["DEMO_MODEL_DIR", "resolve_model_dir", "run_cli"]
