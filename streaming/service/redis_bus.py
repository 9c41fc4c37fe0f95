"""`EventBus` on Redis: several `souffleur serve` nodes share every call.

Where things live in Redis is in `redis_layout`. Why a stream *and* a channel:
the stream is the source of truth (replay with `since`, reconnects, ended
calls); the channel gives one ordered live feed per call for interims and
durable events together, at pub/sub latency. Each durable message names the id
before it, so a subscriber notices a message it missed (pub/sub is
at-most-once) and reads the gap back from the stream (`redis_subscription`);
after a pub/sub reconnect (`redis_feed`) every subscriber re-reads from its
last id. Nothing is missed, nothing is delivered twice.

Publishing never waits on Redis: `publish` assigns the id locally (`ms-seq`,
increasing per call) and appends to a bounded in-memory buffer that one task
flushes in order (one pipeline round trip per batch). When Redis is away the
softphone's live transcript is unaffected; events wait in the buffer and are
flushed in order when Redis is back. A retried append that had reached Redis
before the connection died is recognised (same id, same payload) and not
written twice. What the buffer cannot hold is counted per call, reported in
`health()` and, once Redis is back, announced on the call as an `AssistNotice`
with code `events_lost`. Transient events are live-only: they are not kept
while Redis is unreachable (counted as `transient_dropped`).

What is stored holds no PII (docs/security.md): durable events are stored
redacted, retroactively too when the form captures a name said earlier
(`redis_redaction`); the live channel carries the event as said. Replays
(`since`, gap reads, `history`) return the redacted form.
`SOUFFLEUR_REDACT_STORED=0` turns this off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from streaming.live.protocol import ErrorCode
from streaming.service.bus import CallInfo, ControlsWatcher, stamp
from streaming.service.redis_controls import RedisControls
from streaming.service.redis_feed import LiveFeed
from streaming.service.redis_layout import (
    APPEND,
    END,
    READ,
    REWRITE,
    SYNC,
    UNAVAILABLE,
    KeyLayout,
    StreamId,
    format_id,
    info_from_hash,
    parse_id,
    redact,
)
from streaming.service.redis_redaction import RECENT_CALLS, RECENT_EVENTS, Learnt, StoredRedaction
from streaming.service.redis_subscription import LiveMessage, RedisSubscription

# names this module has always offered (scripts, id helpers, the subscription)
__all__ = [
    "APPEND", "END", "READ", "RECENT_CALLS", "RECENT_EVENTS", "REWRITE", "SYNC", "UNAVAILABLE",
    "BusStats", "FeedbackHandler", "LiveMessage", "RedisBus", "RedisSubscription", "StreamId",
    "format_id", "parse_id", "redact",
]

log = logging.getLogger(__name__)

FeedbackHandler = Callable[[str, dict[str, Any]], Awaitable[tuple[str, str] | None]]


@dataclass
class BusStats:
    """What the buffer did; `lost` and `transient_dropped` are never silent."""

    published: int = 0
    flushed: int = 0
    lost: int = 0  # durable events the buffer could not hold (announced per call)
    transient_dropped: int = 0  # interims etc. not kept while Redis was unreachable
    disconnects: int = 0
    notices: int = 0
    redacted_later: int = 0  # stored events redacted again when the form captured a value
    buffer_peak: int = 0
    connected: bool = True
    lost_by_call: dict[str, int] = field(default_factory=dict)


@dataclass
class _Op:
    kind: str  # event | transient | start | end
    call_id: str
    payload: str = ""  # as stored (redacted when the bus redacts)
    id: str = ""
    live: str = ""  # as live desktops get it, when it differs from `payload`
    info: CallInfo | None = None
    at: float = field(default_factory=time.monotonic)


class RedisBus:
    """The shared bus: same interface as `MemoryBus`, state in Redis."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str | None = None,
        retention_s: float | None = None,
        active_ttl_s: float = 24 * 3600,
        max_buffer: int | None = None,
        max_queue: int = 2000,
        max_calls_listed: int = 1000,
        redact: bool | None = None,
    ) -> None:
        env = os.environ
        self.url = url
        self.prefix = prefix if prefix is not None else env.get("SOUFFLEUR_REDIS_PREFIX", "souffleur:")
        self.keys = KeyLayout(self.prefix)
        self.retention_s = float(retention_s if retention_s is not None
                                 else env.get("SOUFFLEUR_CALL_RETENTION_S", 24 * 3600))
        self.active_ttl_s = max(active_ttl_s, self.retention_s)
        self.max_buffer = int(max_buffer if max_buffer is not None else env.get("SOUFFLEUR_BUS_BUFFER", 20000))
        self.max_queue = max_queue
        self.max_calls_listed = max_calls_listed
        # what is persisted holds no PII (docs/security.md); live desktops see what was said
        self.redact = (redact if redact is not None
                       else env.get("SOUFFLEUR_REDACT_STORED", "1").lower() not in ("0", "false", "no"))
        self._redaction = StoredRedaction()
        self.writer = uuid.uuid4().hex[:12]  # tells this bus's retried appends from others' entries
        self.stats = BusStats()
        self._feedback: FeedbackHandler | None = None
        self._r: aredis.Redis | None = None
        self._controls = RedisControls(self.keys, self._start)
        self._feed = LiveFeed(self.keys, f"bus-{uuid.uuid4().hex[:8]}", client=self._start,
                              on_control=self._on_control, on_controls=self._controls.reload)
        self._buffer: deque[_Op] = deque()
        self._inflight: list[_Op] = []
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._ids: OrderedDict[str, StreamId] = OrderedDict()  # last id assigned per call
        self._owned: OrderedDict[str, CallInfo] = OrderedDict()  # calls started on this node
        self._replies: dict[str, asyncio.Future] = {}
        self._lost_pending: dict[str, int] = {}
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def node_id(self) -> str:
        """The node whose control channel this bus listens on (`bind_node`)."""
        return self._feed.node_id

    # -- construction ----------------------------------------------------------
    @classmethod
    def connect_or_exit(cls, url: str, **kw: Any) -> RedisBus:
        """Check Redis before serving: a node that cannot share its calls must not start."""
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
            client.ping()
            client.close()
        except (redis.RedisError, OSError, ValueError) as e:
            print(f"souffleur: cannot reach Redis at {redact(url)}: {e}\n"
                  "  start Redis there, or fix --redis-url / REDIS_URL "
                  "(leave both unset for the embedded single-node bus)", file=sys.stderr)
            raise SystemExit(2) from None
        return cls(url, **kw)

    def _key(self, *parts: str) -> str:
        return self.keys.key(*parts)

    def _events_key(self, call_id: str) -> str:
        return self.keys.events(call_id)

    def _payloads_key(self, call_id: str) -> str:
        return self.keys.payloads(call_id)

    def _live_key(self, call_id: str) -> str:
        return self.keys.live(call_id)

    def _call_key(self, call_id: str) -> str:
        return self.keys.call(call_id)

    def _node_key(self, node: str) -> str:
        return self.keys.node(node)

    async def _start(self) -> aredis.Redis:
        """Clients and background tasks are bound to the running loop: created on first use."""
        if self._r is not None:
            return self._r
        self._loop = asyncio.get_running_loop()
        opts: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 2}
        # one quick retry replaces a pooled connection that died with a Redis restart;
        # everything sent through it is idempotent (appends are deduplicated by id)
        self._r = aredis.Redis.from_url(self.url, socket_timeout=5, retry=Retry(NoBackoff(), 1), **opts)
        self._feed.connect(self.url, **opts)
        self._tasks = [asyncio.create_task(self._flush_loop(), name="redis-bus-flush"),
                       asyncio.create_task(self._feed.run(), name="redis-bus-listen")]
        return self._r

    # -- publishing --------------------------------------------------------------
    def _next_id(self, call_id: str) -> str:
        ms = int(time.time() * 1000)
        last = self._ids.get(call_id, (0, 0))
        nid = (ms, 0) if ms > last[0] else (last[0], last[1] + 1)
        self._ids[call_id] = nid
        self._ids.move_to_end(call_id)
        if len(self._ids) > 20000:
            self._ids.popitem(last=False)
        return format_id(nid)

    async def publish(self, call_id: str, event: dict[str, Any], *, durable: bool = True) -> dict[str, Any]:
        """Never waits on Redis: the event is queued for the flusher and returned with its id."""
        await self._start()
        e = stamp(call_id, event)
        self.stats.published += 1
        if not durable:
            if not self.stats.connected or self._room() <= 0:
                self.stats.transient_dropped += 1
                return e
            self._push(_Op("transient", call_id, json.dumps(e)))
            return e
        eid = self._next_id(call_id)
        live = json.dumps(e)
        stored = self._redaction.stored(call_id, e) if self.redact else live
        said = dict(e)
        e["id"] = eid
        if self._room() <= 0 and not self._drop_a_transient():
            self._count_lost(call_id)
            return e
        self._push(_Op("event", call_id, stored, eid, live="" if stored == live else live))
        if self.redact:  # a name said before the form captured it: re-store what mentions it
            for rid, now in self._redaction.earlier(call_id, said, eid, stored):
                self._push(_Op("rewrite", call_id, now, rid))
                self.stats.redacted_later += 1
        return e

    def watch_learned(self, callback: Learnt) -> None:
        """`callback(call_id, names, values)` whenever the stored log's redactor learns a name
        or a captured value: the audit trail is redacted again with it (`audit_learning`)."""
        self._redaction.watch(callback)


    def _room(self) -> int:
        return self.max_buffer - len(self._buffer) - len(self._inflight)

    def _drop_a_transient(self) -> bool:
        for ops in (self._inflight, self._buffer):
            for i, op in enumerate(ops):
                if op.kind == "transient":
                    del ops[i]
                    self.stats.transient_dropped += 1
                    return True
        return False

    def _count_lost(self, call_id: str) -> None:
        self.stats.lost += 1
        self.stats.lost_by_call[call_id] = self.stats.lost_by_call.get(call_id, 0) + 1
        self._lost_pending[call_id] = self._lost_pending.get(call_id, 0) + 1
        if self.stats.lost == 1 or self.stats.lost % 1000 == 0:
            log.error("event buffer full (%d) while Redis is unreachable: %d events lost so far",
                      self.max_buffer, self.stats.lost)

    def _push(self, op: _Op) -> None:
        self._buffer.append(op)
        self._drained.clear()
        n = len(self._buffer) + len(self._inflight)
        self.stats.buffer_peak = max(self.stats.buffer_peak, n)
        self._wake.set()

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything published so far is in Redis (tests, shutdown)."""
        await self._start()
        if not self._buffer and not self._inflight:
            return True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)
        return not self._buffer and not self._inflight

    async def _flush_loop(self) -> None:
        backoff = 0.05
        while True:
            if not self._inflight:
                if not self._buffer:
                    self._drained.set()
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                while self._buffer and len(self._inflight) < 256:
                    self._inflight.append(self._buffer.popleft())
            try:
                await self._apply(self._inflight)
            except UNAVAILABLE as exc:
                live_only = [op for op in self._inflight if op.kind == "transient"]
                if live_only:  # stale by the time Redis is back: not worth a slot
                    self._inflight = [op for op in self._inflight if op.kind != "transient"]
                    self.stats.transient_dropped += len(live_only)
                if self.stats.connected:
                    self.stats.connected = False
                    self.stats.disconnects += 1
                    log.warning("Redis unreachable (%s); buffering call events (up to %d)", exc,
                                self.max_buffer)
                if self._closing and backoff >= 1.0:
                    log.error("closing with %d call events not written to Redis",
                              len(self._buffer) + len(self._inflight))
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the flusher: drop the batch, loudly
                log.exception("writing %d ops to Redis failed; counted as lost", len(self._inflight))
                for op in self._inflight:
                    if op.kind == "event":
                        self._count_lost(op.call_id)
            self.stats.flushed += sum(op.kind == "event" for op in self._inflight)
            self._inflight = []
            backoff = 0.05
            if not self.stats.connected:
                self.stats.connected = True
                log.warning("Redis reachable again; flushing %d buffered ops", len(self._buffer))
            self._announce_losses()

    async def _apply(self, ops: list[_Op]) -> None:
        r = await self._start()
        now = time.monotonic()
        pipe = r.pipeline(transaction=False)
        for op in ops:
            if op.kind == "event":
                pipe.eval(APPEND, 3, self._events_key(op.call_id), self._live_key(op.call_id),
                          self._payloads_key(op.call_id), op.id, op.payload, int(self._ttl(op.call_id)),
                          op.live, self.writer)
            elif op.kind == "rewrite":
                pipe.eval(REWRITE, 1, self._payloads_key(op.call_id), op.id, op.payload)
            elif op.kind == "transient":
                if now - op.at < 2.0:  # a stale interim is worse than none
                    pipe.publish(self._live_key(op.call_id), "\n\n" + op.payload)
                else:
                    self.stats.transient_dropped += 1
            elif op.kind == "start" and op.info is not None:
                i = op.info
                key = self._call_key(i.call_id)
                pipe.hset(key, mapping={"call_id": i.call_id, "status": "active", "started": i.started,
                                        "node": i.node, "meta": json.dumps(i.meta)})
                pipe.hdel(key, "ended", "end_meta")
                pipe.expire(key, int(self.active_ttl_s))
                pipe.zadd(self._key("calls"), {i.call_id: i.started})
                pipe.zremrangebyscore(self._key("calls"), "-inf", time.time() - self.active_ttl_s - self.retention_s)
            elif op.kind == "end" and op.info is not None:
                i = op.info
                ended_event = json.dumps({"type": "CallEnded", "call_id": i.call_id, "ts": i.ended})
                pipe.eval(END, 4, self._call_key(i.call_id), self._events_key(i.call_id),
                          self._live_key(i.call_id), self._payloads_key(i.call_id), i.ended or time.time(),
                          json.dumps(i.meta), int(self.retention_s), ended_event)
        if len(pipe):
            await pipe.execute()

    def _ttl(self, call_id: str) -> float:
        info = self._owned.get(call_id)
        return self.retention_s if info is not None and info.status == "ended" else self.active_ttl_s

    def _announce_losses(self) -> None:
        """Once Redis is back and the buffer has room: tell each affected call what it lost."""
        if not self._lost_pending or self._room() < self.max_buffer // 10:
            return
        pending, self._lost_pending = self._lost_pending, {}
        for call_id, n in pending.items():
            e = {"type": "AssistNotice", "level": "warning", "code": "events_lost", "lost": n,
                 "call_id": call_id, "ts": time.time(),
                 "message": f"{n} events of this call could not be kept while the shared event bus "
                            "(Redis) was unreachable; the transcript has a gap"}
            eid = self._next_id(call_id)
            self._push(_Op("event", call_id, json.dumps(e), eid))
            self.stats.notices += 1

    # -- reading -----------------------------------------------------------------
    async def _read_after(self, call_id: str, last: StreamId,
                          upto: StreamId | None = None) -> list[tuple[StreamId, dict[str, Any]]]:
        """Durable events in (last, upto], waiting out a Redis outage (subscribers)."""
        backoff = 0.1
        while True:
            try:
                return await self._xrange(call_id, last, upto)
            except UNAVAILABLE:
                if self._closing:
                    return []
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _xrange(self, call_id: str, last: StreamId,
                      upto: StreamId | None = None) -> list[tuple[StreamId, dict[str, Any]]]:
        r = await self._start()
        out: list[tuple[StreamId, dict[str, Any]]] = []
        end = format_id(upto) if upto is not None else "+"
        while True:
            start = "(" + format_id(last) if last != (0, 0) else "-"
            flat = await r.eval(READ, 2, self._events_key(call_id), self._payloads_key(call_id),
                                start, end, 1000)
            for sid, payload in zip(flat[::2], flat[1::2], strict=True):
                last = parse_id(sid)
                if payload:  # an entry without payload has expired: nothing to show
                    e = json.loads(payload)
                    e["id"] = sid
                    out.append((last, e))
            if len(flat) < 2000:
                return out

    async def history(self, call_id: str, since: str | None = None) -> list[dict[str, Any]]:
        events = [e for _, e in await self._xrange(call_id, parse_id(since))]
        # this node's events still waiting for Redis belong to the call's history too
        after = parse_id(events[-1]["id"]) if events else parse_id(since)
        pending = [op for op in [*self._inflight, *self._buffer] if op.call_id == call_id]
        for op in pending:
            if op.kind == "event" and parse_id(op.id) > after:
                events.append({**json.loads(op.payload), "id": op.id})
        rewrites = {op.id: op.payload for op in pending if op.kind == "rewrite"}
        return [{**json.loads(rewrites[e["id"]]), "id": e["id"]} if e["id"] in rewrites else e
                for e in events]

    async def subscribe(self, call_id: str, since: str | None = None) -> RedisSubscription:
        r = await self._start()
        last = parse_id(since)
        if since == "$":
            with contextlib.suppress(*UNAVAILABLE):
                top = await r.xrevrange(self._events_key(call_id), count=1)
                last = parse_id(top[0][0]) if top else (0, 0)
        sub = RedisSubscription(call_id, last, self.max_queue, read_after=self._read_after,
                                on_close=self._feed.remove)
        await self._feed.add(sub)
        return sub

    def subscriber_count(self, call_id: str) -> int:
        return self._feed.count(call_id)

    # -- call state ----------------------------------------------------------------
    async def start_call(self, info: CallInfo) -> None:
        await self._start()
        self._owned[info.call_id] = info
        self._owned.move_to_end(info.call_id)
        while len(self._owned) > 2000:
            self._owned.popitem(last=False)
        self._push(_Op("start", info.call_id, info=CallInfo(**asdict(info))))

    async def end_call(self, call_id: str, **meta: Any) -> None:
        await self._start()
        info = self._owned.get(call_id)
        if info is None:
            info = await self.call_info(call_id)
            if info is None:
                return
        info.status = "ended"
        info.ended = time.time()
        info.meta.update(meta)
        self._push(_Op("end", call_id, info=CallInfo(**asdict(info))))
        self._redaction.ended(call_id)

    async def call_info(self, call_id: str) -> CallInfo | None:
        """Redis first; this node's own calls even while Redis is away or not yet flushed."""
        r = await self._start()
        try:
            h = await r.hgetall(self._call_key(call_id))
        except UNAVAILABLE:
            if call_id in self._owned:
                return self._owned[call_id]
            raise
        if not h:
            return self._owned.get(call_id)
        return info_from_hash(h)

    async def calls(self, status: str | None = None) -> list[CallInfo]:
        r = await self._start()
        ids = await r.zrevrange(self._key("calls"), 0, self.max_calls_listed - 1)
        pipe = r.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(self._call_key(cid))
        hashes = await pipe.execute() if ids else []
        found: dict[str, CallInfo] = {}
        gone = []
        for cid, h in zip(ids, hashes, strict=True):
            if h:
                found[cid] = info_from_hash(h)
            else:
                gone.append(cid)
        if gone:
            await r.zrem(self._key("calls"), *gone)
        for cid, info in self._owned.items():
            found.setdefault(cid, info)
        out = sorted(found.values(), key=lambda c: c.started)
        return [c for c in out if status is None or c.status == status]

    # -- several nodes: feedback reaches the node that runs the call's assistant ----------
    async def bind_node(self, node_id: str, feedback: FeedbackHandler) -> None:
        """Called by the server at start: this node's id and its local feedback handler."""
        await self._start()
        self._feedback = feedback
        await self._feed.rebind(node_id)

    async def forward_feedback(self, call_id: str, msg: dict[str, Any],
                               timeout: float = 5.0) -> tuple[str, str] | None:
        """Agent feedback for a call whose assistant runs on another node: ask that node."""
        r = await self._start()
        try:
            info = await self.call_info(call_id)
        except UNAVAILABLE:
            return ("BUS_UNAVAILABLE", "the shared event bus (Redis) is unreachable; feedback not applied")
        if info is None or not info.node or info.node == self.node_id:
            return (ErrorCode.UNKNOWN_CALL, f"call {call_id!r} has no assistant on this node")
        req = uuid.uuid4().hex
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._replies[req] = fut
        try:
            n = await r.publish(self._node_key(info.node), json.dumps(
                {"op": "feedback", "req": req, "reply_to": self.node_id, "call_id": call_id, "msg": msg}))
            if not n:
                return (ErrorCode.UNKNOWN_CALL, f"the node that ran call {call_id!r} ({info.node}) "
                                                "is not reachable; feedback not applied")
            err = await asyncio.wait_for(fut, timeout)
        except UNAVAILABLE:
            return ("BUS_UNAVAILABLE", "the shared event bus (Redis) is unreachable; feedback not applied")
        except TimeoutError:
            return ("FEEDBACK_TIMEOUT", f"node {info.node} did not confirm the feedback within {timeout:g} s")
        finally:
            self._replies.pop(req, None)
        return (str(err[0]), str(err[1])) if err else None

    async def _on_control(self, data: str) -> None:
        m = json.loads(data)
        if m.get("op") == "reply":
            fut = self._replies.get(m.get("req", ""))
            if fut is not None and not fut.done():
                fut.set_result(m.get("error"))
            return
        if m.get("op") != "feedback":
            return
        if self._feedback is None:
            err: Any = (ErrorCode.UNKNOWN_CALL, "this node serves no calls")
        else:
            err = await self._feedback(m["call_id"], m["msg"])
        reply = {"op": "reply", "req": m.get("req"), "error": list(err) if err else None}
        r = await self._start()
        with contextlib.suppress(*UNAVAILABLE):
            await r.publish(self._node_key(m["reply_to"]), json.dumps(reply))

    # -- supervisor controls, shared by every node (redis_controls) ----------------------
    async def controls(self) -> list[dict[str, Any]]:
        await self._start()
        return await self._controls.all()

    async def put_control(self, control: dict[str, Any]) -> None:
        await self._controls.put(control)

    async def remove_control(self, control_id: str) -> dict[str, Any] | None:
        return await self._controls.remove(control_id)

    def watch_controls(self, callback: ControlsWatcher) -> None:
        self._controls.watch(callback)

    # -- health and shutdown -----------------------------------------------------------
    def health(self) -> dict[str, Any]:
        s = asdict(self.stats)
        s["lost_by_call"] = dict(list(s["lost_by_call"].items())[-20:])
        return {"kind": "redis", "url": redact(self.url), "buffered": len(self._buffer) + len(self._inflight),
                "max_buffer": self.max_buffer, **s}

    async def close(self, timeout: float = 5.0) -> None:
        """Flush what can be flushed, then stop (subscribers end)."""
        if self._r is None:
            return
        await self.flush(timeout)
        self._closing = self._feed.closing = True
        self._wake.set()
        await self._feed.close_subscriptions()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for c in (self._r, self._feed.ps_client):
            if c is not None:
                with contextlib.suppress(Exception):
                    await c.aclose()
        self._r = None

