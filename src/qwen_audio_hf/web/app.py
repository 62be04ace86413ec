"""The page: a Chat tab and a Transcribe tab over one loaded model (``build_app``). Gradio is imported here only.

Every handler turns bad input into a message in the tab's status line (``#chat-status``, ``#tr-status``) and
leaves the server and the tab's state usable for the next request.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass

import gradio as gr

from ..core.audio_lengths import MAX_AUDIO_SECONDS, TARGET_SAMPLING_RATE
from ..core.command_options import LONG_FORM_TASKS, SEGMENTATIONS
from ..processing.tags import LANGUAGE_CODES
from . import chat, transcription
from .inputs import AudioInputError, read_upload


@dataclass
class WebSettings:
    """What the command line sets (``qwen-audio-hf web --help``)."""

    max_audio_s: float = 3600.0
    max_new_tokens: int = chat.DEFAULT_MAX_NEW_TOKENS
    chunk_length_s: float = 30.0
    batch_size: int = 8
    title: str = "Qwen-Audio"


def _work_dir(kind: str) -> str:
    directory = os.path.join(tempfile.gettempdir(), "qwen-audio-web", kind, uuid.uuid4().hex)
    os.makedirs(directory, exist_ok=True)
    return directory


def _error(text: str) -> str:
    return f"**Error:** {text}"


# ------------------------------------------------------------------------------------------------ chat view
def chat_view(history: list[dict], pending: list[str]) -> list[dict]:
    """Chatbot messages for the conversation and the audios waiting for the next message."""
    view, number = [], 1

    def add_audios(paths):
        nonlocal number
        for path in paths:
            view.append({"role": "user", "content": f"Audio {number}: {os.path.basename(path)}"})
            view.append({"role": "user", "content": {"path": path}})
            number += 1

    for turn in history:
        add_audios(turn["audios"])
        if turn["text"]:
            view.append({"role": "user", "content": turn["text"]})
        if turn["answer"] is not None:
            view.append({"role": "assistant", "content": chat.display_text(turn["answer"]) or "…"})
        for start, end, path in turn["clips"]:
            view.append({"role": "assistant", "content": f"Clip {start:.2f}-{end:.2f} s"})
            view.append({"role": "assistant", "content": {"path": path}})
    add_audios(pending)
    return view


def build_app(model, processor, settings: WebSettings | None = None) -> gr.Blocks:
    settings = settings or WebSettings()
    chat_model = chat.ChatModel(model, processor, max_new_tokens=settings.max_new_tokens)

    # -------------------------------------------------------------------------------------------- chat handlers
    def add_audio(path, history, pending):
        try:
            waveform = read_upload(path, settings.max_audio_s)
        except AudioInputError as error:
            return chat_view(history, pending), pending, None, _error(str(error))
        pending = [*pending, path]
        number = sum(len(turn["audios"]) for turn in history) + len(pending)
        seconds = waveform.shape[0] / TARGET_SAMPLING_RATE
        note = f"Audio {number} added ({seconds:.1f} s); type a message and press Send."
        if seconds > MAX_AUDIO_SECONDS:
            note += f" The model hears its first {MAX_AUDIO_SECONDS} s only (use the Transcribe tab for all of it)."
        return chat_view(history, pending), pending, None, note

    def answer(history, pending, status_prefix=""):
        """Stream the answer of the last turn of ``history``; on failure drop that turn, keep its audios pending."""
        turn = history[-1]
        try:
            for partial in chat_model.stream(history):
                turn["answer"] = partial
                yield chat_view(history, pending), history, pending, status_prefix + "Answering…"
            turn["answer"] = turn["answer"] or ""
            latest = next((p for t in reversed(history) for p in reversed(t["audios"])), None)
            turn["clips"] = chat.cut_clips(turn["answer"], latest, _work_dir("clips"))
        except Exception as error:  # noqa: BLE001 - shown in the page; the server and the tab go on
            history = history[:-1]
            pending = [*turn["audios"], *pending]
            yield chat_view(history, pending), history, pending, _error(f"the model could not answer: {error}")
            return
        yield chat_view(history, pending), history, pending, status_prefix + "Done."

    def send(text, history, pending):
        text = (text or "").strip()
        if not text and not pending:
            yield chat_view(history, pending), history, pending, _error(
                "nothing to send: type a message or add an audio first."), ""
            return
        history = [*history, chat.new_turn(pending, text)]
        for view, history_now, pending_now, status in answer(history, []):
            yield view, history_now, pending_now, status, ""

    def regenerate(history, pending):
        if not history or history[-1]["answer"] is None:
            yield chat_view(history, pending), history, pending, _error("no answer to regenerate yet: send a message.")
            return
        history = [*history[:-1], chat.new_turn(history[-1]["audios"], history[-1]["text"])]
        for view, history_now, pending_now, status in answer(history, pending):
            yield view, history_now, pending_now, status.replace("Done.", "Regenerated.")

    def clear():
        return [], [], [], None, "Conversation cleared."

    # -------------------------------------------------------------------------------------------- transcribe handlers
    def run_transcription(path, task, language, target_language, timestamps, segmentation,
                          progress=gr.Progress(track_tqdm=True)):
        empty = ([], None, None, None)  # segments, timeline, files, selected
        try:
            waveform = read_upload(path, settings.max_audio_s, what="recording")
            progress(0, desc="decoding windows")
            result = transcription.transcribe(model, processor, path, task, language or "en", target_language or None,
                                              bool(timestamps), chunk_length_s=settings.chunk_length_s,
                                              batch_size=settings.batch_size, segmentation=segmentation or "energy",
                                              progress=True)
        except AudioInputError as error:  # the unusable file is taken out, so the next upload can go in
            return (_error(str(error)), *empty, None)
        except (ValueError, ImportError) as error:  # a setting refused, or VAD not installed: the recording stays
            return (_error(str(error)), *empty, gr.update())
        except Exception as error:  # noqa: BLE001 - shown in the page; the server and the tab go on
            return (_error(f"the model could not transcribe {os.path.basename(path)!r}: {error}"), *empty, gr.update())
        files = transcription.write_files(result, _work_dir("transcripts"), timestamps=bool(timestamps))
        rows = transcription.segments(result)
        status = (f"{result.audio}: {result.duration_s:.1f} s, {len(result.windows)} windows, {len(rows)} segments "
                  f"with text ({segmentation} segmentation). Click a segment to play it.")
        figure = transcription.timeline(waveform, result)
        return status, rows, figure, files, {"path": path, "segments": rows}, gr.update()

    def play_segment(selected, event: gr.SelectData):
        if not selected or not selected["segments"]:
            return None
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        start, end, _ = selected["segments"][row]
        out = os.path.join(_work_dir("segments"), f"segment{row + 1}_{start:.2f}-{end:.2f}.wav")
        return transcription.cut_segment(selected["path"], start, end, out)

    # -------------------------------------------------------------------------------------------- layout
    with gr.Blocks(title=settings.title, analytics_enabled=False) as app:
        gr.Markdown(f"# {settings.title}\nChat about audio, or transcribe a recording of any length.")
        with gr.Tab("Chat", elem_id="tab-chat"):
            history = gr.State([])
            pending = gr.State([])
            chatbot = gr.Chatbot(label="Conversation", elem_id="chatbot", height=460, feedback_options=None)
            with gr.Row():
                audio_in = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="chat-audio",
                                    label="Add audio (upload or record); several per conversation")
                with gr.Column():
                    text_in = gr.Textbox(label="Message", placeholder="Ask about the audio…", elem_id="chat-text",
                                         lines=2)
                    with gr.Row():
                        send_button = gr.Button("Send", variant="primary", elem_id="chat-send")
                        regenerate_button = gr.Button("Regenerate", elem_id="chat-regenerate")
                        clear_button = gr.Button("Clear history", elem_id="chat-clear")
            chat_status = gr.Markdown(elem_id="chat-status")

            for event in (audio_in.upload, audio_in.stop_recording):
                event(add_audio, [audio_in, history, pending], [chatbot, pending, audio_in, chat_status])
            answering = [trigger(send, [text_in, history, pending], [chatbot, history, pending, chat_status, text_in])
                         for trigger in (send_button.click, text_in.submit)]
            answering.append(regenerate_button.click(regenerate, [history, pending],
                                                     [chatbot, history, pending, chat_status]))
            # clearing stops an answer still streaming, so it cannot write into the cleared conversation
            clear_button.click(clear, None, [chatbot, history, pending, audio_in, chat_status], cancels=answering)

        with gr.Tab("Transcribe", elem_id="tab-transcribe"):
            selected = gr.State(None)
            with gr.Row():
                recording = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="tr-audio",
                                     label="Recording (any length)")
                with gr.Column():
                    task = gr.Radio(list(LONG_FORM_TASKS), value="asr", label="Task", elem_id="tr-task",
                                    info="asr: transcription; s2tt: speech translation; caption: one per window")
                    language = gr.Dropdown(list(LANGUAGE_CODES), value="en", label="Language", elem_id="tr-language",
                                           allow_custom_value=True)
                    target = gr.Dropdown(["", *LANGUAGE_CODES], value="", label="Target language (s2tt)",
                                         elem_id="tr-target", allow_custom_value=True)
                    timestamps = gr.Checkbox(label="Word timestamps (asr)", elem_id="tr-timestamps")
                    segmentation = gr.Radio(list(SEGMENTATIONS), value="energy", label="Segmentation",
                                            elem_id="tr-segmentation",
                                            info="energy: windows cut at pauses; vad: only the speech a voice "
                                                 "detector finds (music or noise between utterances is skipped)")
                    run_button = gr.Button("Transcribe", variant="primary", elem_id="tr-run")
            tr_status = gr.Markdown(elem_id="tr-status")
            plot = gr.Plot(label="Timeline", elem_id="tr-timeline")
            table = gr.Dataframe(headers=["start (s)", "end (s)", "text"], datatype=["number", "number", "str"],
                                 interactive=False, label="Segments (click one to play it)", elem_id="tr-segments",
                                 wrap=True)
            clip = gr.Audio(label="Selected segment", autoplay=True, interactive=False, elem_id="tr-clip")
            files = gr.File(label="Downloads (json, txt, srt, vtt)", file_count="multiple", elem_id="tr-files")

            run_button.click(run_transcription, [recording, task, language, target, timestamps, segmentation],
                             [tr_status, table, plot, files, selected, recording])
            table.select(play_segment, [selected], [clip])
    return app


__all__ = ["WebSettings", "build_app", "chat_view"]
