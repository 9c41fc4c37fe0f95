"""The node's one pub/sub connection: live channels its desktops follow, its control channel.

Pub/sub is at-most-once and a dead connection can look merely quiet, so this
part of the Redis bus is all about noticing loss: a heartbeat to itself on a
quiet connection, a sync marker after every (re)subscription, and a visible
failure (no silent reconnect) so subscribers re-read from their last id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from streaming.service.redis_layout import SYNC, UNAVAILABLE, KeyLayout, parse_id
from streaming.service.redis_subscription import LiveMessage, RedisSubscription

log = logging.getLogger("streaming.service.redis_bus")


class LiveFeed:
    """Routes the messages of the node's pub/sub connection to local subscribers.

    `client` gives the bus's ordinary (command) connection; control messages for
    this node (feedback from other nodes, replies) go to `on_control`. The
    supervisor controls' channel is followed too: `on_controls` runs when a
    change is announced and whenever that subscription (re)starts, since a change
    may have been missed while the connection was down.
    """

    def __init__(self, keys: KeyLayout, node_id: str, *,
                 client: Callable[[], Awaitable[aredis.Redis]],
                 on_control: Callable[[str], Awaitable[None]],
                 on_controls: Callable[[], Awaitable[None]] | None = None) -> None:
        self.keys = keys
        self.node_id = node_id
        self._client = client
        self._on_control = on_control
        self._on_controls = on_controls
        self.ps_client: aredis.Redis | None = None
        self._ps: Any = None
        self._subs: dict[str, set[RedisSubscription]] = {}  # live channel -> local subscribers
        self._confirmed: set[str] = set()  # channels the current pub/sub connection receives
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self.closing = False

    def connect(self, url: str, **opts: Any) -> None:
        # the pub/sub connection must fail visibly: a silent reconnect would hide a gap
        self.ps_client = aredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **opts)

    # -- local subscribers -----------------------------------------------------------
    async def add(self, sub: RedisSubscription) -> None:
        """Follow the call's live channel for `sub`; returns once live messages reach it."""
        ch = self.keys.live(sub.call_id)
        subs = self._subs.setdefault(ch, set())
        subs.add(sub)
        if ch not in self._confirmed:
            # live events published once this returns must reach the subscriber (like
            # MemoryBus); the confirmation also triggers a sync marker, which closes
            # the window between this subscribe and the first live message
            fut = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(ch, []).append(fut)
            if len(subs) == 1 and self._ps is not None:
                with contextlib.suppress(*UNAVAILABLE):
                    await self._ps.subscribe(ch)
            with contextlib.suppress(asyncio.TimeoutError):  # Redis away: the sync catches up later
                await asyncio.wait_for(fut, 2.0)

    def remove(self, sub: RedisSubscription) -> None:
        ch = self.keys.live(sub.call_id)
        subs = self._subs.get(ch)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[ch]
            if self._ps is not None and not self.closing:
                t = asyncio.ensure_future(self._ps_unsubscribe(ch))
                t.add_done_callback(lambda f: f.exception())

    async def _ps_unsubscribe(self, ch: str) -> None:
        with contextlib.suppress(*UNAVAILABLE):
            if ch not in self._subs and self._ps is not None:
                self._confirmed.discard(ch)
                await self._ps.unsubscribe(ch)

    def count(self, call_id: str) -> int:
        return len(self._subs.get(self.keys.live(call_id), ()))

    async def close_subscriptions(self) -> None:
        for subs in list(self._subs.values()):
            for s in list(subs):
                await s.close()

    async def rebind(self, node_id: str) -> None:
        """This node's control channel is now `node_id`'s."""
        old = self.node_id
        self.node_id = node_id
        if self._ps is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await self._ps.subscribe(self.keys.node(node_id))
                await self._ps.unsubscribe(self.keys.node(old))

    # -- the connection ----------------------------------------------------------------
    async def run(self) -> None:
        """One pub/sub connection per node: the live channels it follows and its control channel."""
        backoff = 0.1
        assert self.ps_client is not None
        while not self.closing:
            ps = self.ps_client.pubsub()
            try:
                channels = [self.keys.node(self.node_id), self.keys.controls_changed(), *self._subs]
                await ps.subscribe(*channels)
                self._ps = ps
                added = [c for c in [self.keys.node(self.node_id), *self._subs]
                         if c not in channels]  # subscribed or bound while we connected
                if added:
                    await ps.subscribe(*added)
                backoff = 0.1
                await self._read(ps)
            except UNAVAILABLE as exc:
                if not self.closing:
                    log.warning("Redis pub/sub lost (%s); subscribers will re-read from their last id", exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pub/sub listener failed; restarting it")
            finally:
                self._ps = None
                self._confirmed.clear()
                with contextlib.suppress(Exception):
                    await ps.aclose()
            if not self.closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _read(self, ps: Any) -> None:
        control = self.keys.node(self.node_id)
        controls = self.keys.controls_changed()
        beat = json.dumps({"op": "heartbeat", "from": id(self)})
        last_beat = time.monotonic()
        waiting = False
        while not self.closing:
            msg = await ps.get_message(timeout=1.0)
            if msg is None:
                # a quiet connection may be a dead one: send ourselves a heartbeat
                if time.monotonic() - last_beat > 5.0:
                    if waiting:
                        raise RedisConnectionError("pub/sub heartbeat not received within 5 s")
                    r = await self._client()
                    await r.publish(control, beat)
                    waiting, last_beat = True, time.monotonic()
                continue
            kind, ch = msg["type"], msg.get("channel")
            if ch == controls:  # a supervisor changed the controls, or we (re)subscribed: reload
                if kind in ("subscribe", "message") and self._on_controls is not None:
                    t = asyncio.create_task(self._on_controls())
                    t.add_done_callback(lambda f: f.cancelled() or f.exception())
                continue
            if kind == "subscribe" and ch in self._subs:
                self._confirmed.add(ch)
                for fut in self._waiters.pop(ch, []):
                    if not fut.done():
                        fut.set_result(None)
                # whatever was published before this subscription took effect is in
                # the stream: the sync marker tells the subscribers up to where
                t = asyncio.create_task(self._sync(ch))
                t.add_done_callback(lambda f: f.cancelled() or f.exception())
            elif kind == "message":
                if ch != control:
                    self._deliver(ch, msg["data"])
                elif msg["data"] == beat:
                    waiting = False
                else:
                    t = asyncio.create_task(self._on_control(msg["data"]))
                    t.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _sync(self, ch: str) -> None:
        r = await self._client()
        call_id = self.keys.call_of_live(ch)
        for attempt in range(5):
            try:
                await r.eval(SYNC, 2, self.keys.events(call_id), ch)
                return
            except UNAVAILABLE:
                await asyncio.sleep(0.1 * (attempt + 1))
        # still failing: the pub/sub connection will drop too, and this runs again

    def _deliver(self, ch: str, data: str) -> None:
        subs = self._subs.get(ch)
        if not subs:
            return
        prev, sid, payload = data.split("\n", 2)
        if prev == "sync":
            item = LiveMessage(parse_id(sid), None, {}, sync=True)
            for sub in list(subs):
                sub.offer(item)
            return
        event = json.loads(payload)
        if sid:
            event["id"] = sid
            item = LiveMessage(parse_id(prev), parse_id(sid), event)
        else:
            item = LiveMessage(None, None, event)
        for sub in list(subs):
            sub.offer(item)
