"""Supervisor controls in Redis: one hash every node reads, a channel that says it changed.

Controls are few and change rarely, so a change is one transaction (the control
in `{p}controls`, the version counter increased, the new version published on
`{p}controls:changed`) and every node reloads the whole hash when told. A node
that was not listening (pub/sub reconnecting, Redis away) reloads when its
pub/sub connection is back (`LiveFeed` calls `reload` on every subscription
confirmation), so no change is missed for longer than the outage. A reload older
than one already applied is dropped (the version), so two reloads finishing out
of order cannot bring back a removed control. No expiry: controls hold until a
supervisor removes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis

from streaming.service.bus import ControlsWatcher
from streaming.service.redis_layout import UNAVAILABLE, KeyLayout

log = logging.getLogger("streaming.service.redis_bus")

# Remove one control; returns it ('' when absent) and, if removed, bumps and announces the version.
REMOVE = """
local c = redis.call('HGET', KEYS[1], ARGV[1])
if not c then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], v)
return c
"""

PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', KEYS[3], v)
return v
"""


class RedisControls:
    """The controls part of `RedisBus` (same methods as `MemoryBus`'s)."""

    def __init__(self, keys: KeyLayout, client: Callable[[], Awaitable[aredis.Redis]]) -> None:
        self.keys = keys
        self._client = client
        self._watchers: list[ControlsWatcher] = []
        self.version = -1  # last version handed to the watchers
        self.reloads = 0

    def _keys(self) -> list[str]:
        return [self.keys.controls(), self.keys.controls_version(), self.keys.controls_changed()]

    async def read(self) -> tuple[int, list[dict[str, Any]]]:
        r = await self._client()
        pipe = r.pipeline(transaction=True)
        pipe.hgetall(self.keys.controls())
        pipe.get(self.keys.controls_version())
        raw, version = await pipe.execute()
        items = []
        for payload in raw.values():
            try:
                items.append(json.loads(payload))
            except ValueError:
                continue
        items.sort(key=lambda c: (float(c.get("when") or 0), str(c.get("id"))))
        return int(version or 0), items

    async def all(self) -> list[dict[str, Any]]:
        return (await self.read())[1]

    async def put(self, control: dict[str, Any]) -> None:
        r = await self._client()
        await r.eval(PUT, 3, *self._keys(), str(control["id"]), json.dumps(control, ensure_ascii=False))
        await self.reload()  # this node sees its own change at once, whatever pub/sub does

    async def remove(self, control_id: str) -> dict[str, Any] | None:
        r = await self._client()
        gone = await r.eval(REMOVE, 3, *self._keys(), control_id)
        await self.reload()
        return json.loads(gone) if gone else None

    def watch(self, callback: ControlsWatcher) -> None:
        self._watchers.append(callback)

    async def reload(self) -> None:
        """Read the controls and hand them to the watchers, unless a newer read already was."""
        if not self._watchers:
            return
        for attempt in range(5):
            try:
                version, items = await self.read()
                break
            except UNAVAILABLE as e:
                if attempt == 4:
                    log.warning("could not reload supervisor controls (%s); will on reconnect", e)
                    return
                await asyncio.sleep(0.1 * (attempt + 1))
        if version < self.version:
            return
        self.version = version
        self.reloads += 1
        for cb in list(self._watchers):
            cb(items)
