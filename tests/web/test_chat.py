"""web.chat without a browser: conversation -> processor messages (audios numbered across the conversation as the
original demo numbers them), timestamp pairs -> clips cut from the latest audio."""

import numpy as np
import soundfile

from qwen_audio_hf.web.chat import clip_spans, cut_clips, display_text, messages, new_turn


def test_audios_are_numbered_across_the_conversation(processor, tmp_path):
    first, second = new_turn(["a.wav"], "What is this?"), new_turn(["b.wav", "c.wav"], "And these?")
    first["answer"] = "A dog."
    rendered = messages([first, second])
    assert rendered == [
        {"role": "user", "content": "Audio 1: <audio>a.wav</audio>\nWhat is this?"},
        {"role": "assistant", "content": "A dog."},
        {"role": "user", "content": "Audio 2: <audio>b.wav</audio>\nAudio 3: <audio>c.wav</audio>\nAnd these?"},
    ]
    text = processor.apply_chat_template(rendered, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nAudio 2: <audio>b.wav</audio>\nAudio 3: <audio>c.wav</audio>\n"
                         "And these?<|im_end|>\n<|im_start|>assistant\n")


def test_timestamp_pairs_become_clips_of_the_latest_audio(tmp_path):
    wave = np.linspace(-1, 1, 3 * 16000, dtype=np.float32)
    soundfile.write(tmp_path / "latest.wav", wave, 16000)
    answer = "a dog <|0.50|><|1.25|> barks, then <|2.00|><|2.50|>"
    assert display_text(answer) == "a dog [0.50][1.25] barks, then [2.00][2.50]"
    assert clip_spans(answer) == [(0.5, 1.25), (2.0, 2.5)]
    assert clip_spans("one <|0.50|> only") == []  # an odd count cuts nothing
    clips = cut_clips(answer, str(tmp_path / "latest.wav"), str(tmp_path / "clips"))
    assert [(start, end) for start, end, _ in clips] == [(0.5, 1.25), (2.0, 2.5)]
    piece, rate = soundfile.read(clips[0][2], dtype="float32")
    assert rate == 16000
    np.testing.assert_allclose(piece, wave[8000:20000], atol=1e-4)
    assert cut_clips(answer, None, str(tmp_path / "none")) == []
