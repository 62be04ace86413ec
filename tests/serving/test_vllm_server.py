"""OpenAI-compatible server (`vllm serve DIR`): chat with audio equals generate(); bad requests get HTTP 400."""

import base64
from pathlib import Path

import pytest

pytest.importorskip("vllm")
requests = pytest.importorskip("requests")


def _b64(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def _chat(server, reference, content, **extra):
    body = {
        "model": reference["checkpoint"],
        "messages": [{"role": "user", "content": content}],
        "max_tokens": len(reference["chat"]["tokens"]),
        "temperature": 0.0,
        "ignore_eos": True,
        "return_token_ids": True,
        **extra,
    }
    return requests.post(f"{server}/v1/chat/completions", json=body, timeout=300)


def _audio_parts(reference):
    """First clip as `input_audio` (base64 wav), second as an `audio_url` data URL."""
    first, second = (reference["clips"][name]["path"] for name in reference["chat"]["clips"])
    return [
        {"type": "input_audio", "input_audio": {"data": _b64(first), "format": "wav"}},
        {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{_b64(second)}"}},
    ]


def test_chat_with_audio_equals_generate(server, reference):
    chat = reference["chat"]
    response = _chat(server, reference, _audio_parts(reference) + [{"type": "text", "text": chat["text"]}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prompt_token_ids"] == chat["prompt_ids"]
    assert body["choices"][0]["token_ids"] == chat["tokens"]


@pytest.mark.parametrize(
    "bad_part, message",
    [
        ({"type": "input_audio", "input_audio": {"data": base64.b64encode(b"not audio at all").decode(),
                                                 "format": "wav"}}, "Invalid or corrupted audio data"),
        ({"type": "text", "text": "and here <audio></audio> too"}, "placeholder"),
    ],
    ids=["unreadable_audio", "more_placeholders_than_audios"],
)
def test_bad_requests_get_400_and_the_server_stays_up(server, reference, bad_part, message):
    parts = _audio_parts(reference)[:1] + [bad_part]
    response = _chat(server, reference, parts)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert requests.get(f"{server}/health", timeout=10).status_code == 200


def test_audio_over_30_seconds_gets_400(server, reference, tmp_path):
    import numpy as np
    import soundfile

    path = tmp_path / "long.wav"
    soundfile.write(path, np.zeros(31 * 16000, dtype=np.float32), 16000)
    response = _chat(server, reference, [{"type": "input_audio", "input_audio": {"data": _b64(path), "format": "wav"}}])
    assert response.status_code == 400, response.text
    assert "at most 30 s" in response.json()["error"]["message"]
