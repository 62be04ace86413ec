"""Foundations shared by every layer: special-token ids (`token_ids`) and audio-length arithmetic (`audio_lengths`).

Pure Python: nothing here imports torch, transformers or any other qwen_audio_hf subpackage.
"""
