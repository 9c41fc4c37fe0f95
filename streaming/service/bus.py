"""The per-call event bus: what the agent desktop subscribes to.

Everything that happens on a call (transcript results, assist suggestions,
agent feedback, alerts, the summary) is published here and fanned out to the
call's subscribers. `EventBus` is the interface; `MemoryBus` is the embedded
default (one process), `streaming.service.redis_bus.RedisBus` the shared one for
several nodes. Both keep a durable, ordered log per call so a desktop that
reconnects with the last id it saw gets exactly what it missed, then live
events. Transient events (interim results) go to live subscribers only.

Slow subscribers never slow the call: each has a bounded queue; when it fills,
transient events are dropped first, and if durable ones would be lost the
subscription ends with a reason (the desktop reconnects with `since`).

The bus also holds what every node must agree on beyond calls: the supervisors'
controls on the assistant (`assist.controls`; docs/overlay.md). A change is seen by
every node's `watch_controls` callback (at once in one process; over Redis pub/sub
within milliseconds with `RedisBus`) and survives restarts (`MemoryBus` writes them
to `controls_path`, the server's `--data-dir`; Redis keeps them without expiry).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from streaming.service.redis_redaction import Learnt, StoredRedaction

log = logging.getLogger(__name__)

# called with every control in force (JSON dicts, oldest first) after any change, on any node
ControlsWatcher = Callable[[list[dict[str, Any]]], None]


@dataclass
class CallInfo:
    call_id: str
    status: str = "active"  # active | ended
    started: float = field(default_factory=time.time)
    ended: float | None = None
    node: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SubscriberLagging(Exception):
    """The subscriber could not keep up; reconnect with `since` to catch up."""


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, call_id: str, event: dict[str, Any], *, durable: bool = True) -> dict[str, Any]:
        """Append (durable) or broadcast (transient) an event; returns it with `id`/`ts`."""

    async def subscribe(self, call_id: str, since: str | None = None) -> Subscription:
        """Replay durable events after `since` (all if None, none if "$"), then live ones."""

    async def history(self, call_id: str, since: str | None = None) -> list[dict[str, Any]]: ...

    async def start_call(self, info: CallInfo) -> None: ...

    async def end_call(self, call_id: str, **meta: Any) -> None: ...

    async def call_info(self, call_id: str) -> CallInfo | None: ...

    async def calls(self, status: str | None = None) -> list[CallInfo]: ...

    async def controls(self) -> list[dict[str, Any]]:
        """The supervisor controls in force (each a dict with a unique `id`), oldest first."""

    async def put_control(self, control: dict[str, Any]) -> None:
        """Add or replace (same `id`) one control; every node's watchers see the change."""

    async def remove_control(self, control_id: str) -> dict[str, Any] | None:
        """Remove one control; returns it, or None when there was none with that id."""

    def watch_controls(self, callback: ControlsWatcher) -> None:
        """Call `callback(controls)` whenever the controls change (here or on another node)."""

    async def close(self) -> None: ...


class MemorySubscription:
    def __init__(self, bus: MemoryBus, call_id: str, max_queue: int) -> None:
        self.bus = bus
        self.call_id = call_id
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.max_queue = max_queue
        self.dropped = 0
        self.lagging = False
        self.closed = False

    def offer(self, event: dict[str, Any], durable: bool) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.max_queue:
            if not durable:
                self.dropped += 1
                return
            # Make room by dropping queued transient events; if none, give up on
            # this subscriber rather than lose a durable event silently.
            kept = [e for e in _drain(self.queue) if e is None or "id" in e]
            self.dropped += self.max_queue - len(kept)
            for e in kept:
                self.queue.put_nowait(e)
            if self.queue.qsize() >= self.max_queue:
                self.lagging = True
                self.queue.put_nowait(None)
                self.closed = True
                return
        self.queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            e = await self.queue.get()
            if e is None:
                if self.lagging:
                    raise SubscriberLagging(f"subscriber too slow; {self.dropped} events dropped")
                return
            yield e

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
        self.bus._unsubscribe(self)


def _drain(q: asyncio.Queue) -> list:
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    return items


class MemoryBus:
    """In-process bus: one Python process serves every call and desktop."""

    def __init__(self, retention_s: float = 24 * 3600, max_calls: int = 10000, max_queue: int = 2000,
                 controls_path: str | os.PathLike[str] | None = None) -> None:
        self._log: dict[str, list[dict[str, Any]]] = {}
        self._subs: dict[str, set[MemorySubscription]] = {}
        self._calls: OrderedDict[str, CallInfo] = OrderedDict()
        self._seq: dict[str, int] = {}
        self.retention_s = retention_s
        self.max_calls = max_calls
        self.max_queue = max_queue
        # supervisor controls: kept in memory, written whole to this file on every change
        self.controls_path = Path(controls_path) if controls_path else None
        self._controls: dict[str, dict[str, Any]] | None = None  # loaded on first use
        self._watchers: list[ControlsWatcher] = []
        self._controls_lock = asyncio.Lock()  # writes in order: the file always holds the latest set
        # nothing here is stored, so nothing is redacted; but the audit trail is, and it must
        # learn what the stored log's redactor would (a name said before the form caught it):
        # the same redactor runs on durable events once someone watches (`watch_learned`)
        self._learning: StoredRedaction | None = None

    async def publish(self, call_id: str, event: dict[str, Any], *, durable: bool = True) -> dict[str, Any]:
        e = stamp(call_id, event)
        if durable:
            n = self._seq.get(call_id, 0) + 1
            self._seq[call_id] = n
            e["id"] = str(n)
            self._log.setdefault(call_id, []).append(e)
            if self._learning is not None:
                try:
                    self._learning.stored(call_id, e)  # what it redacts, it learns from
                    self._learning.learnt(call_id, e)
                except Exception:  # learning for the audit trail never costs the call an event
                    log.exception("redactor failed on an event of call %s", call_id)
        for s in list(self._subs.get(call_id, ())):
            s.offer(e, durable)
        return e

    async def subscribe(self, call_id: str, since: str | None = None) -> MemorySubscription:
        sub = MemorySubscription(self, call_id, self.max_queue)
        if since != "$":
            after = _as_int(since)
            for e in self._log.get(call_id, ()):
                if int(e["id"]) > after:
                    sub.queue.put_nowait(e)
        self._subs.setdefault(call_id, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: MemorySubscription) -> None:
        subs = self._subs.get(sub.call_id)
        if subs:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.call_id]

    def watch_learned(self, callback: Learnt) -> None:
        """`callback(call_id, names, values)` whenever a call's redactor, run on its durable
        events, learns a name or a captured value (as `RedisBus`, whose stored log it redacts)."""
        if self._learning is None:
            self._learning = StoredRedaction()
        self._learning.watch(callback)

    def subscriber_count(self, call_id: str) -> int:
        return len(self._subs.get(call_id, ()))

    async def history(self, call_id: str, since: str | None = None) -> list[dict[str, Any]]:
        after = _as_int(since)
        return [e for e in self._log.get(call_id, ()) if int(e["id"]) > after]

    async def start_call(self, info: CallInfo) -> None:
        self._calls[info.call_id] = info
        self._calls.move_to_end(info.call_id)
        self._expire()

    async def end_call(self, call_id: str, **meta: Any) -> None:
        info = self._calls.get(call_id)
        if info is None:
            return
        info.status = "ended"
        info.ended = time.time()
        info.meta.update(meta)
        if self._learning is not None:
            self._learning.ended(call_id)
        for s in list(self._subs.get(call_id, ())):
            s.offer({"type": "CallEnded", "call_id": call_id, "ts": info.ended}, durable=False)

    async def call_info(self, call_id: str) -> CallInfo | None:
        return self._calls.get(call_id)

    async def calls(self, status: str | None = None) -> list[CallInfo]:
        return [c for c in self._calls.values() if status is None or c.status == status]

    def _expire(self) -> None:
        now = time.time()
        for cid in list(self._calls):
            info = self._calls[cid]
            too_many = len(self._calls) > self.max_calls
            old = info.status == "ended" and info.ended is not None and now - info.ended > self.retention_s
            if not (too_many and info.status == "ended") and not old:
                continue
            del self._calls[cid]
            self._log.pop(cid, None)
            self._seq.pop(cid, None)

    # -- supervisor controls ---------------------------------------------------------
    def _loaded(self) -> dict[str, dict[str, Any]]:
        if self._controls is None:
            self._controls = {}
            if self.controls_path is not None and self.controls_path.exists():
                try:
                    items = json.loads(self.controls_path.read_text(encoding="utf-8"))
                    self._controls = {str(c["id"]): c for c in items if isinstance(c, dict) and c.get("id")}
                except (OSError, ValueError) as e:  # a broken file must not stop the node
                    log.error("could not read supervisor controls from %s: %s", self.controls_path, e)
        return self._controls

    async def controls(self) -> list[dict[str, Any]]:
        return sorted((dict(c) for c in self._loaded().values()),
                      key=lambda c: (float(c.get("when") or 0), str(c["id"])))

    async def put_control(self, control: dict[str, Any]) -> None:
        self._loaded()[str(control["id"])] = dict(control)
        await self._controls_changed()

    async def remove_control(self, control_id: str) -> dict[str, Any] | None:
        gone = self._loaded().pop(control_id, None)
        if gone is not None:
            await self._controls_changed()
        return gone

    def watch_controls(self, callback: ControlsWatcher) -> None:
        self._watchers.append(callback)

    async def _controls_changed(self) -> None:
        async with self._controls_lock:
            items = await self.controls()
            if self.controls_path is not None:  # whole file, replaced atomically: never half written
                path = self.controls_path
                tmp = path.with_name(path.name + ".tmp")

                def write() -> None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
                    os.replace(tmp, path)

                await asyncio.to_thread(write)
            for cb in list(self._watchers):
                cb(items)

    async def close(self) -> None:
        for subs in list(self._subs.values()):
            for s in list(subs):
                await s.close()


def stamp(call_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """A copy of the event with `call_id` and `ts`, ready for the bus to give it an `id`.

    The bus owns `id` (position in the call's log). An event's own id, such as
    an assist suggestion's `fv-3`, is kept as `suggestion_id` so the desktop can
    still send Feedback for it.
    """
    e = dict(event)
    if "id" in e:
        e.setdefault("suggestion_id", e.pop("id"))
    e.setdefault("call_id", call_id)
    e.setdefault("ts", time.time())
    return e


def _as_int(since: str | None) -> int:
    if since in (None, "", "0", "$"):
        return 0
    try:
        return int(since)
    except ValueError:
        return 0
