"""One softphone call's websocket I/O: read audio, send results in order, publish them.

Kept apart from `SouffleurServer` (which admits calls and owns what they share)
because this is the per-call hot path: backpressure, rate limits, idle and
length limits, and the guarantee that a dead socket never stops the call's
transcript from reaching the bus.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import replace
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from assist.api import Redactor, redaction_kinds
from streaming.asr.base import DecodeRequest
from streaming.asr.scheduler import InferenceScheduler
from streaming.live.protocol import CloseCode, ErrorCode, error_message
from streaming.live.session import CallSession, Close, Out, Send
from streaming.options import SegmenterOptions, ServerOptions
from streaming.service.auth import OPEN, Principal
from streaming.service.bus import CallInfo, EventBus
from streaming.service.metrics import ServerMetrics
from streaming.service.pipeline import CallPipeline

log = logging.getLogger("souffleur")


class CallHost(Protocol):
    """What a call uses of the server that admitted it (`SouffleurServer`)."""

    options: ServerOptions
    segmenter: SegmenterOptions
    scheduler: InferenceScheduler
    bus: EventBus
    metrics: ServerMetrics
    assist_factory: Any
    node_id: str
    calls: dict[str, LiveCall]

    def count_assist_event(self, e: dict[str, Any]) -> None: ...

    def remember(self, pipeline: CallPipeline) -> None: ...


class LiveCall:
    """Adapter between one softphone connection and its `CallSession`."""

    def __init__(self, server: CallHost, ws: ServerConnection, session: CallSession,
                 principal: Principal = OPEN) -> None:
        self.server = server
        self.principal = principal
        self.started = time.monotonic()
        self._allowance = server.options.max_messages_per_s  # token bucket for audio frames
        self._control = server.options.max_control_per_s  # token bucket for text messages
        self._progress = asyncio.Event()  # a decode came back (a fast stream may read on)
        # (audio seconds received so far, wall time): when did the audio of a word arrive
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=3000)
        self.ws = ws
        self.session = session
        self.call_id = session.call_id
        self.pipeline: CallPipeline | None = None
        self._out: asyncio.Queue[Send | Close | None] = asyncio.Queue()
        self._decodes: set[asyncio.Task] = set()
        self._closed = asyncio.Event()
        self.close_code: Close | None = None
        self.last_activity = time.monotonic()
        self.connected = True
        # `redact=` (Deepgram's): this softphone's own results are redacted, one redactor
        # per call so a name it heard once is removed later too; the bus, and so the
        # desktops, still get the words as said (docs/security.md)
        self._redactor = (Redactor(kinds=redaction_kinds(session.options.redact))
                          if session.options.redact else None)
        # the audio of recent records, for field-aware decoding: by (channel, start) while
        # decoding, then by record id once the Record is out
        self._record_reqs: dict[tuple[int, float], DecodeRequest] = {}
        self._record_audio: OrderedDict[str, DecodeRequest] = OrderedDict()

    async def run(self) -> None:
        s = self.server
        lang = self.session.options.language or "en"
        self.pipeline = CallPipeline(self.call_id, s.bus, s.assist_factory, lang, on_event=s.count_assist_event,
                                     records=s.segmenter.record,
                                     redecode=self.redecode if s.options.field_decode != "off" else None,
                                     from_audio=True)
        await s.bus.start_call(CallInfo(self.call_id, node=s.node_id, meta={
            "encoding": self.session.options.encoding, "sample_rate": self.session.options.sample_rate,
            "channels": self.session.options.channels, "request_id": self.session.request_id}))
        writer = asyncio.create_task(self._writer())
        try:
            await self._read()
        finally:
            # Whatever ended the input, everything received is still transcribed.
            if self.session.closing is None:
                self.dispatch(self.session.close(CloseCode.NORMAL, "connection ended"))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout=60)
            self._out.put_nowait(None)
            await writer
            # The transcript is complete and the softphone released: free the call
            # slot now; the assistant finishes (summary) while new calls come in.
            self.release()
            await self.pipeline.finish()
            # The ended assistant is kept a while for feedback (`remember`); it must not
            # keep this call's audio alive through the bound `redecode` (a node ran with
            # the audio of its last 500 calls).
            self.pipeline.redecode = None
            self._record_audio.clear()
            self._record_reqs.clear()
            await s.bus.end_call(self.call_id, duration=round(self.session.audio_seconds, 3))

    async def _read(self) -> None:
        """Read until the stream is over; after CloseStream keep reading until the
        close handshake so late audio gets an Error instead of vanishing silently."""
        idle = self.server.options.idle_timeout_s
        while not self._closed.is_set():
            try:
                msg = await asyncio.wait_for(self.ws.recv(), timeout=idle)
            except TimeoutError:
                if self.session.closing is not None:
                    continue  # finishing decodes; the writer will close the socket
                self.dispatch([Send(error_message(
                    ErrorCode.IDLE, f"no audio or KeepAlive for {idle:g} s; closing the stream"))])
                self.dispatch(self.session.close(CloseCode.INTERNAL, "idle timeout"))
                continue
            except ConnectionClosed:
                self.connected = False
                return
            now = time.monotonic()
            if self.session.closing is None and (limit := self._limits(now)) is not None:
                code, text, close = limit
                self.dispatch([Send(error_message(code, text))])
                self.dispatch(self.session.close(close, text[:120]))
                continue
            elapsed = now - self.last_activity
            self.last_activity = now
            if isinstance(msg, bytes):
                await self._pace(elapsed)
                self.dispatch(self.session.receive_audio(msg))
                self._arrivals.append((self.session.audio_seconds, time.time()))
                await self._hold_fast_stream()
            elif self.session.closing is None and ("CloseStream" in msg or self._control_allowed(elapsed)):
                self.dispatch(self.session.receive_text(msg))

    async def _pace(self, elapsed: float) -> None:
        """Audio frames past `max_messages_per_s` are read later, not refused: the sender
        is slowed by TCP backpressure and nothing it sent is lost."""
        rate = self.server.options.max_messages_per_s
        self._allowance = min(2 * rate, self._allowance + elapsed * rate) - 1
        if self._allowance < 0:
            await asyncio.sleep(-self._allowance / rate)

    def _control_allowed(self, elapsed: float) -> bool:
        """Text messages are cheap to send and each costs a parse: past the budget one is
        refused with an Error (the call goes on), never silently dropped. CloseStream is
        always taken: it ends the stream."""
        rate = self.server.options.max_control_per_s
        self._control = min(2 * rate, self._control + elapsed * rate)
        if self._control < 1:
            self.dispatch([Send(error_message(
                "RATE_LIMITED", f"more than {rate:g} control messages per second; this one was ignored"))])
            return False
        self._control -= 1
        return True

    async def _hold_fast_stream(self) -> None:
        """A stream sent faster than real time is served after every real-time call
        (priority 1) and read only as fast as its decodes come back: it slows down, it is
        never refused mid-way, and it cannot make a live call late."""
        o = self.server.options
        s = self.session
        if not s.faster_than_real_time and s.audio_seconds - (time.monotonic() - self.started) > o.fast_ahead_s:
            s.mark_faster_than_real_time()
            log.info("call %s streams faster than real time: served after real-time calls", self.call_id)
        while s.faster_than_real_time and s.pending > o.max_fast_pending and not self._closed.is_set():
            self._progress.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._progress.wait(), timeout=1.0)

    def _limits(self, now: float) -> tuple[str, str, int] | None:
        """Call duration (rates are paced, not refused: `_pace`, `_control_allowed`)."""
        o = self.server.options
        if now - self.started > o.max_call_s:
            return ("CALL_TOO_LONG", f"calls are limited to {o.max_call_s:g} s", CloseCode.POLICY)
        return None

    def _observe_latency(self, msg: dict[str, Any]) -> None:
        """Final-word latency as the server sees it: now minus when the word's end arrived."""
        if not self._arrivals:
            return
        now = time.time()
        arr = self._arrivals
        for w in msg["channel"]["alternatives"][0]["words"]:
            i = bisect.bisect_left(arr, (float(w["end"]), 0.0))
            if i < len(arr):
                self.server.metrics.final_latency.observe(max(0.0, now - arr[i][1]))

    def release(self) -> None:
        """Free this call's slot: its transcript is complete."""
        if self.server.calls.get(self.call_id) is self:
            del self.server.calls[self.call_id]
            if self.pipeline is not None:  # feedback still reaches the assistant
                self.server.remember(self.pipeline)

    def drain(self, reason: str) -> None:
        """Node shutdown: stop taking audio, transcribe what was received, close with 1001.

        Returns at once; the call then ends as any other (finals, records, summary,
        `end_call`), and the server waits for that within its grace period (`drain.py`).
        """
        if self.session.closing is None:
            self.dispatch([Send(error_message(ErrorCode.SHUTTING_DOWN, reason))])
            self.dispatch(self.session.close(CloseCode.GOING_AWAY, reason[:120]))

    def dispatch(self, outs: list[Out]) -> None:
        """Route session outputs: messages to the writer, work to the scheduler."""
        for o in outs:
            if isinstance(o, DecodeRequest):
                t = asyncio.create_task(self._decode(o))
                self._decodes.add(t)
                t.add_done_callback(self._decodes.discard)
            else:
                self._out.put_nowait(o)

    async def redecode(self, record_id: str, prompt: str, language: str) -> list[list[tuple[str, float]]]:
        """Decode a record's audio again for a form field: the n best hypotheses as the
        record was decoded (with the channel's earlier text) and/or behind the field's
        prompt. Record priority: a value on the desktop is what the call is for."""
        req = self._record_audio.get(record_id)
        mode = self.server.options.field_decode
        if req is None or mode == "off":
            return []
        n = max(2, self.server.options.field_hypotheses)
        asks = []
        if mode in ("both", "nbest"):
            asks.append(replace(req, key=req.key + "/field", num_hypotheses=n, created=time.monotonic()))
        if mode in ("both", "prompt") and prompt:
            # behind the stream's key terms, if it has any (they stay in every decode)
            asks.append(replace(req, key=req.key + "/field", num_hypotheses=n,
                                prompt_text=" ".join(p for p in (req.prompt_text, prompt) if p),
                                prompt_tokens=(), created=time.monotonic()))
        hyps = await asyncio.gather(*(self.server.scheduler.decode(a) for a in asks))
        return [h.alternatives for h in hyps if h is not None and not h.rejected and h.alternatives]

    def _keep_record_audio(self, msg: dict[str, Any]) -> None:
        req = self._record_reqs.pop((int(msg["channel_index"][0]), round(float(msg["span"][0]), 3)), None)
        if req is None:
            return
        self._record_audio[msg["record_id"]] = req
        while len(self._record_audio) > 16:
            self._record_audio.popitem(last=False)

    async def _decode(self, req: DecodeRequest) -> None:
        if req.kind == "record" and self.pipeline is not None and self.pipeline.redecode is not None:
            self._record_reqs[(int(req.key.rsplit("/", 1)[-1]), round(req.offset, 3))] = req  # key: "<request>/<channel>"
            while len(self._record_reqs) > 64:  # records without a message (silence) are never claimed
                self._record_reqs.pop(next(iter(self._record_reqs)))
        hyp = await self.server.scheduler.decode(req)
        if hyp is not None:
            m = self.server.metrics
            m.queue_wait.labels(kind=req.kind).observe(hyp.queue_seconds)
            m.decode.observe(hyp.decode_seconds)
        self.dispatch(self.session.on_result(req, hyp))
        self._progress.set()

    async def _writer(self) -> None:
        """Send in order, publish to the bus; a dead socket never stops the bus side."""
        assert self.pipeline is not None
        while True:
            item = await self._out.get()
            if item is None:
                return
            if isinstance(item, Close):
                self.close_code = item
                self.release()
                if self.connected:
                    with contextlib.suppress(ConnectionClosed):
                        await self.ws.close(item.code, item.reason[:120])
                self._closed.set()
                continue
            msg = item.message
            if msg.get("type") == "Results" and msg.get("is_final") and msg["channel"]["alternatives"][0]["words"]:
                self.server.metrics.finals.inc()
                self._observe_latency(msg)
            if msg.get("type") == "Record" and msg.get("span"):
                self._keep_record_audio(msg)
            if msg.get("type") == "Error":
                self.server.metrics.error(msg.get("err_code", "?"))
            if self.connected and (not item.record or self.session.send_records):
                out = msg
                if self._redactor is not None and msg.get("type") in ("Results", "Record"):
                    out = self._redactor.event(msg)
                # `numerals` / `smart_format` / `punctuate` (as the session had them when it
                # made the message: `Configure` switches them): this softphone's own text
                if item.text_format is not None:
                    out = item.text_format.message(out)
                try:
                    await self.ws.send(json.dumps(out))
                except ConnectionClosed:
                    self.connected = False
            await self.pipeline.publish(msg)
