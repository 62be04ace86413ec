"""/v1/audio/transcriptions and /v1/audio/translations on vLLM's server (serving/transcription.py): the same text,
windows and files as `qwen-audio-hf transcribe` on the same checkpoint; bad requests get 400/413 naming the field,
and the server goes on answering."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from .conftest import UPLOAD_LIMIT_MB

pytest.importorskip("vllm")
requests = pytest.importorskip("requests")


def _post(server, reference, path="transcriptions", data=None, file=None, **fields):
    transcription = reference["transcription"]
    body = {"model": reference["checkpoint"], "max_completion_tokens": transcription["max_new_tokens"], **fields}
    content = file if file is not None else open(transcription["path"], "rb").read()
    return requests.post(f"{server}/v1/audio/{path}", data=body, files={"file": ("talk.wav", content)}, timeout=300)


def test_json_text_srt_vtt_equal_the_cli(server, reference):
    cli = reference["transcription"]
    response = _post(server, reference)
    assert response.status_code == 200, response.text
    assert response.json()["text"] == cli["json"]["text"] and cli["json"]["text"]
    assert _post(server, reference, response_format="text").text == cli["txt"]
    assert _post(server, reference, response_format="srt").text == cli["srt"]
    assert _post(server, reference, response_format="vtt").text == cli["vtt"]


def test_verbose_json_segments_are_the_cli_windows(server, reference):
    cli = reference["transcription"]
    response = _post(server, reference, response_format="verbose_json", **{"timestamp_granularities[]": "segment"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == cli["json"]["text"] and body["duration"] == pytest.approx(cli["json"]["duration_s"])
    expected = [(w["start_s"], w["end_s"], w["text"]) for w in cli["json"]["windows"] if w["text"]]
    assert [(s["start"], s["end"], s["text"]) for s in body["segments"]] == expected
    assert len(expected) > 1  # a long recording: several windows, absolute times
    words = _post(server, reference, response_format="verbose_json", **{"timestamp_granularities[]": "word"})
    assert words.status_code == 200, words.text
    assert words.json()["text"] == cli["words"]["text"]
    assert [(w["word"], w["start"], w["end"]) for w in words.json()["words"]] == [
        (w["text"], w["start_s"], w["end_s"]) for w in cli["words"]["words"]]


def test_stream_sends_the_windows_in_order(server, reference):
    response = _post(server, reference, stream="true")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [line[len("data: "):] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1])
    assert text == reference["transcription"]["json"]["text"]


def test_concurrent_requests_get_the_same_answer(server, reference):
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _post(server, reference).json()["text"], range(4)))
    assert answers == [reference["transcription"]["json"]["text"]] * 4


def test_translation_route_uses_the_translation_prompt(server, reference):
    transcribed = _post(server, reference, language="de").json()["text"]
    translated = _post(server, reference, "translations", language="de")
    assert translated.status_code == 200, translated.text
    assert set(translated.json()) == {"text"} and translated.json()["text"] != transcribed


@pytest.mark.parametrize("fields, file, status, named", [
    ({}, b"this is not audio", 400, "file"),
    ({"language": "klingon"}, None, 400, "language"),
    ({"response_format": "docx"}, None, 400, "response_format"),
    ({"timestamp_granularities[]": "char"}, None, 400, "timestamp_granularities[]"),
    ({"response_format": "srt", "stream": "true"}, None, 400, "stream"),
    ({"prompt": "Names: Qwen"}, None, 400, "prompt"),
    ({"temperature": "hot"}, None, 400, "temperature"),
    ({"segmentation": "silence"}, None, 400, "segmentation"),
], ids=["unreadable", "language", "format", "granularity", "stream_srt", "prompt_on_base", "temperature",
        "segmentation"])
def test_bad_requests_name_the_field_and_the_server_stays_up(server, reference, fields, file, status, named):
    response = _post(server, reference, file=file, **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == named and named.rstrip("[]") in error["message"]
    assert _post(server, reference).json()["text"] == reference["transcription"]["json"]["text"]


def test_upload_over_the_limit_gets_413_naming_it(server, reference):
    big = np.random.default_rng(0).integers(0, 255, int((UPLOAD_LIMIT_MB + 0.5) * 1024 * 1024), dtype=np.uint8)
    response = _post(server, reference, file=big.tobytes())
    assert response.status_code == 413, response.text
    assert f"{UPLOAD_LIMIT_MB:g} MB" in response.json()["error"]["message"]
    assert requests.get(f"{server}/health", timeout=10).status_code == 200


def test_silent_recording_gives_empty_text(server, reference):
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(3 * 16000, np.float32), 16000, format="WAV")
    response = _post(server, reference, file=buffer.getvalue(), response_format="verbose_json")
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "" and response.json()["segments"] == []


def test_vad_segmentation_equals_the_cli(server, reference):
    cli = reference["transcription"]["vad"]
    with open(cli["path"], "rb") as handle:
        response = _post(server, reference, file=handle.read(), segmentation="vad", response_format="verbose_json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == cli["text"] and cli["text"]
    assert [(s["start"], s["end"]) for s in body["segments"]] == [(w["start_s"], w["end_s"]) for w in cli["windows"]]
