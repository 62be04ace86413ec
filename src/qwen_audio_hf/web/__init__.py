"""`qwen-audio-hf web`: Qwen-Audio in the browser (Gradio; `pip install "qwen-audio-hf[web]"`).

``chat`` (conversation state and streaming answers), ``transcription`` (long recordings to segments, timeline and
files), ``inputs`` (checks of uploaded audio) hold the work and import no Gradio; ``app`` lays out the page and
``cli`` loads the model once and serves it.
"""
