"""The built-in demo (`qwen-audio-hf demo`) and its stages."""
