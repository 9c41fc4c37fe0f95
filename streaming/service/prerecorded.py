"""`POST /v1/listen`: Deepgram's pre-recorded API, on the live server's model.

A recording in the body (WAV, FLAC, OGG, MP3: whatever soundfile reads; raw
G.711 or PCM with `encoding=` and `sample_rate=`), Deepgram's query parameters
(the live ones plus `utterances`, `utt_split`, `redact`), Deepgram's JSON back
(`prerecorded_response.py`). Each utterance is decoded once as its transcript
of record through the server's shared scheduler, behind live calls
(`recording.py`).

Same doors as live: credentials from `auth.py` (`Authorization: Token …` or
`?token=`; roles softphone, worker, admin; a per-call token only for its call),
the call length limit (`max_call_s`) for the recording's duration, a size limit
and a per-node limit on concurrent requests (`PrerecordedLimits`). The body is
streamed to a temporary file as it arrives (hashed on the way), read back half
a second at a time and deleted when the answer is sent: neither the upload nor
the decoded audio is held whole in memory. Nothing is stored or published and
no transcript is logged; `redact=` (Deepgram's kinds) removes what it names from
the answer itself, as it does from a live call's own results. `{"url": …}` bodies are refused: the
server fetches nothing from outside (it may run where nothing outside can be
reached, and fetching would make it an open proxy).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

from streaming.asr.scheduler import InferenceScheduler
from streaming.audio.files import AudioFileError, AudioStream
from streaming.live.formatting import TextFormat
from streaming.live.protocol import ErrorCode, new_request_id
from streaming.live.session import CallSession
from streaming.options import (
    AsrOptions,
    OptionError,
    SegmenterOptions,
    ServerOptions,
    StreamOptions,
    parse_stream_query,
)
from streaming.service.auth import Authenticator, AuthError
from streaming.service.http_front import (
    HttpError,
    HttpRequest,
    read_body,
    respond,
    send_continue,
)
from streaming.service.metrics import ServerMetrics
from streaming.service.prerecorded_response import (
    DEFAULT_UTT_SPLIT_S,
    ResponseShape,
    prerecorded_response,
)
from streaming.service.recording import (
    FEED_S,
    RecordingError,
    RecordingRun,
    recording_options,
    recording_segmenter,
)

log = logging.getLogger("souffleur")

JSON_PEEK_BYTES = 64 * 1024  # a JSON body ({"url": …}) is read this far to say why it is refused
PRERECORDED_PARAMS = frozenset({"utterances", "utt_split"})  # read here, beside the live ones


@dataclass(frozen=True)
class PrerecordedLimits:
    """Per node. The recording's duration is limited by `ServerOptions.max_call_s`, as a call is."""

    max_bytes: int = 1 << 30  # 1 GiB: 4 hours of 16 kHz stereo WAV is 0.9 GB
    concurrent: int = 2  # requests transcribed at once; more get 429 (they queue behind live calls anyway)
    spool_dir: str | None = None  # where uploads are spooled (None: the system temp dir)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PrerecordedLimits:
        """`SOUFFLEUR_PRERECORDED_MAX_BYTES`, `…_CONCURRENT`, `…_SPOOL_DIR`."""
        env = os.environ if env is None else env
        p = "SOUFFLEUR_PRERECORDED_"
        return cls(max_bytes=int(env.get(p + "MAX_BYTES", cls.max_bytes)),
                   concurrent=int(env.get(p + "CONCURRENT", cls.concurrent)),
                   spool_dir=env.get(p + "SPOOL_DIR") or None)


class PrerecordedHost(Protocol):
    """What a pre-recorded request uses of the server (`SouffleurServer`)."""

    options: ServerOptions
    asr: AsrOptions
    segmenter: SegmenterOptions
    scheduler: InferenceScheduler
    auth: Authenticator
    metrics: ServerMetrics
    prerecorded_limits: PrerecordedLimits
    prerecorded_active: int
    draining: bool

    @property
    def model_name(self) -> str: ...

    def language_problem(self, opts: StreamOptions) -> str | None: ...


async def handle_prerecorded(host: PrerecordedHost, request: HttpRequest, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
    """Answer one `POST /v1/listen` (errors are raised as `HttpError`), counted in /metrics."""
    status = "500"
    try:
        await _handle(host, request, reader, writer)
        status = "200"
    except HttpError as e:
        status = str(e.status)
        raise
    except (ConnectionError, asyncio.IncompleteReadError):
        status = "client_gone"
        raise
    finally:
        host.metrics.prerecorded.labels(status=status).inc()


async def _handle(host: PrerecordedHost, request: HttpRequest, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    t0 = time.perf_counter()
    call_id = (parse_qs(request.query).get("call_id") or [None])[-1]
    principal = _authorize(host, request, call_id)  # first, as a websocket upgrade is
    opts, shape_args, raw = _options(host, request)
    limits = host.prerecorded_limits
    if host.draining:
        raise HttpError(503, ErrorCode.SHUTTING_DOWN, "server is shutting down; retry on another node")
    if host.prerecorded_active >= limits.concurrent:
        raise HttpError(429, "TOO_MANY_REQUESTS",
                        f"{limits.concurrent} pre-recorded requests are being transcribed here; retry later")
    if "json" in request.headers.get("Content-Type", "").lower():
        await _refuse_json(request, reader)
    length = request.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > limits.max_bytes:
        raise HttpError(413, "PAYLOAD_TOO_LARGE",
                        f"the body is {int(length)} bytes; this server takes recordings up to {limits.max_bytes} bytes")
    host.prerecorded_active += 1
    path: Path | None = None
    try:
        await send_continue(request, writer)
        path, sha256, size = await _spool(request, reader, limits)
        stream = await asyncio.to_thread(_open, path, raw, opts)
        try:
            doc = await _transcribe(host, stream, opts, shape_args, sha256, principal.call_id, reader)
        finally:
            stream.close()
    finally:
        host.prerecorded_active -= 1
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
    await respond(writer, 200, doc)
    wall = time.perf_counter() - t0
    meta = doc["metadata"]
    host.metrics.prerecorded_time.observe(wall)
    host.metrics.prerecorded_audio.inc(meta["duration"])
    log.info("pre-recorded %s for %s: %d bytes, %.1f s of audio x%d in %.2f s",
             meta["request_id"], principal.name, size, meta["duration"], meta["channels"], wall)


def _options(host: PrerecordedHost, request: HttpRequest) -> tuple[StreamOptions, dict[str, Any], bool]:
    """The live query parameters plus the pre-recorded ones; `raw`: headerless audio."""
    query = request.query
    q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    try:
        opts = parse_stream_query(query, also=PRERECORDED_PARAMS)
    except OptionError as e:
        raise HttpError(400, ErrorCode.BAD_PARAMETER, str(e)) from None
    if (problem := host.language_problem(opts)) is not None:  # as live: the model decides
        raise HttpError(400, ErrorCode.BAD_PARAMETER, problem)
    raw = "encoding" in q
    if raw and "sample_rate" not in q and opts.encoding in ("mulaw", "alaw"):
        opts.sample_rate = 8000  # G.711 is 8 kHz unless told otherwise
    shape: dict[str, Any] = {"utterances": False, "utt_split": DEFAULT_UTT_SPLIT_S, "redact": opts.redact,
                             "text_format": TextFormat.of(numerals=opts.numerals, smart_format=opts.smart_format,
                                                          punctuate=opts.punctuate)}
    try:
        if "utterances" in q:
            shape["utterances"] = _flag("utterances", q["utterances"])
        if "utt_split" in q:
            shape["utt_split"] = float(q["utt_split"])
            if not 0.05 <= shape["utt_split"] <= 60:
                raise ValueError
    except ValueError:
        raise HttpError(400, ErrorCode.BAD_PARAMETER,
                        "utterances must be true or false; utt_split seconds in 0.05..60") from None
    return opts, shape, raw


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("true", "1", "yes", ""):
        return True
    if v in ("false", "0", "no"):
        return False
    raise ValueError(name)


def _authorize(host: PrerecordedHost, request: HttpRequest, call_id: str | None):
    try:
        p = host.auth.authenticate(request.headers.get("Authorization"), request.query)
        host.auth.authorize(p, "transcribe", call_id)
    except AuthError as e:
        host.metrics.error(f"AUTH_{e.status}")
        log.warning("denied pre-recorded transcription: %s", e.reason)
        raise HttpError(e.status, "UNAUTHORIZED" if e.status == 401 else "FORBIDDEN", e.reason) from None
    return p


async def _refuse_json(request: HttpRequest, reader: asyncio.StreamReader) -> None:
    """A JSON body is Deepgram's `{"url": …}`: say plainly that we fetch nothing."""
    body = b""
    with contextlib.suppress(HttpError):
        async for chunk in read_body(request, reader, JSON_PEEK_BYTES):
            body += chunk
    try:
        url = json.loads(body).get("url")
    except (ValueError, AttributeError):
        url = None
    what = "a URL" if url else "a JSON body"
    raise HttpError(400, "REMOTE_URL_NOT_SUPPORTED",
                    f"this server does not fetch audio from {what}: it makes no outbound requests. "
                    "Send the recording itself as the request body (Content-Type: audio/* or "
                    "application/octet-stream), e.g. the SDK's transcribe_file")


async def _spool(request: HttpRequest, reader: asyncio.StreamReader,
                 limits: PrerecordedLimits) -> tuple[Path, str, int]:
    """The body into a temporary file as it arrives: (path, sha256, bytes)."""
    h = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="souffleur-upload-", dir=limits.spool_dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in read_body(request, reader, limits.max_bytes):
                h.update(chunk)
                f.write(chunk)
                size += len(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise HttpError(400, ErrorCode.BAD_AUDIO, "the request has no body: send the recording's bytes")
    return path, h.hexdigest(), size


async def _hangup(reader: asyncio.StreamReader) -> None:
    """Returns when the client closes its side (nothing more is expected after the body)."""
    while await reader.read(READ_AHEAD):
        pass


READ_AHEAD = 1 << 12


def _open(path: Path, raw: bool, opts: StreamOptions) -> AudioStream:
    try:
        if raw:
            return AudioStream(path, raw_encoding=opts.encoding, raw_rate=opts.sample_rate,
                               raw_channels=opts.channels)
        return AudioStream(path)
    except AudioFileError as e:
        raise HttpError(400, ErrorCode.BAD_AUDIO,
                        f"{e}; for headerless audio give encoding= and sample_rate=") from None


async def _transcribe(host: PrerecordedHost, stream: AudioStream, opts: StreamOptions,
                      shape_args: dict[str, Any], sha256: str, token_call: str | None,
                      reader: asyncio.StreamReader) -> dict[str, Any]:
    limit = host.options.max_call_s
    if stream.duration > limit:
        raise HttpError(413, "AUDIO_TOO_LONG",
                        f"the recording is {stream.duration:.0f} s long; calls are limited to {limit:g} s")
    if stream.frames == 0:
        raise HttpError(400, ErrorCode.BAD_AUDIO, "the recording holds no audio")
    multichannel = bool(opts.multichannel) and stream.channels > 1  # Deepgram's default: mixed
    if multichannel and stream.channels > 2:
        raise HttpError(400, ErrorCode.BAD_PARAMETER,
                        f"multichannel=true takes 1 or 2 channels; this recording has {stream.channels}")
    request_id = new_request_id()
    sopts = recording_options(stream, multichannel=multichannel, language=opts.language,
                              call_id=opts.call_id or token_call or request_id, roles=opts.roles,
                              keyterms=opts.keyterms)
    session = CallSession(sopts, recording_segmenter(host.segmenter), model_name=host.model_name,
                          final_beam=host.asr.final_beam_size, record_beam=host.asr.record_beam_size,
                          max_frame_bytes=1 << 26, request_id=request_id)
    run = RecordingRun(host.scheduler, session)
    work = asyncio.create_task(run.run(stream.blocks(FEED_S)))
    gone = asyncio.create_task(_hangup(reader))  # the client hung up: stop decoding for it
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            await asyncio.wait({work})  # its file read ends before the file is closed
            raise ConnectionResetError("client went away before the transcript was ready")
        messages = work.result()
    except (RecordingError, AudioFileError) as e:  # e.g. a truncated file: its decoder lost sync
        raise HttpError(400, ErrorCode.BAD_AUDIO, str(e)) from None
    finally:
        gone.cancel()
    shape = ResponseShape(channels=stream.channels if multichannel else 1, roles=opts.roles, **shape_args)
    warnings = {"warnings": [w.as_json() for w in opts.warnings]} if opts.warnings else None
    return prerecorded_response(messages, shape, request_id=request_id, sha256=sha256,
                                duration=stream.duration, model_name=host.model_name,
                                created=session.created, extra_metadata=warnings)
