"""One desktop's subscription to a call on the Redis bus: replay, then live, no gaps.

Separate from the bus because the ordering rules (what is read back from the
stream, what is skipped as already delivered, what a full queue drops) are the
subtle part of the Redis bus and are easier to check on their own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streaming.service.bus import SubscriberLagging
from streaming.service.redis_layout import StreamId

# (call_id, last, upto) -> durable events in (last, upto], waiting out a Redis outage
ReadAfter = Callable[[str, StreamId, StreamId | None], Awaitable[list[tuple[StreamId, dict[str, Any]]]]]


@dataclass
class LiveMessage:
    """One message from a call's live channel as a subscriber sees it."""

    prev: StreamId | None
    id: StreamId | None
    event: dict[str, Any]
    sync: bool = False  # "the stream's top was `prev` when this was published"


class RedisSubscription:
    """A desktop's view of one call: stream replay, then the live channel, deduplicated.

    Live messages are queued in arrival order. A durable one whose `prev` is past
    the last id delivered means messages were missed: exactly that gap is read
    from the stream before it, so transient and durable events keep their order.
    After each (re)subscription the node publishes a sync marker carrying the
    stream's top id, which closes a gap even when no further event comes.
    """

    def __init__(self, call_id: str, last: StreamId, max_queue: int, *, read_after: ReadAfter,
                 on_close: Callable[[RedisSubscription], None]) -> None:
        self.call_id = call_id
        self.last = last
        self.max_queue = max_queue
        self._read_after = read_after
        self._on_close = on_close
        self.items: deque[LiveMessage | None] = deque()
        self._ready = asyncio.Event()
        self.need_fill = True
        self.dropped = 0
        self.lagging = False
        self.closed = False

    def _put(self, item: LiveMessage | None) -> None:
        self.items.append(item)
        self._ready.set()

    def offer(self, item: LiveMessage) -> None:
        """Same policy as `MemorySubscription`: transients go first, then the subscriber."""
        if self.closed:
            return
        if len(self.items) >= self.max_queue:
            if item.id is None:
                self.dropped += 1
                return
            kept = [x for x in self.items if x is None or x.id is not None or x.sync]
            self.dropped += len(self.items) - len(kept)
            self.items = deque(kept)
            if len(self.items) >= self.max_queue:
                self.lagging = True
                self.closed = True
                self._put(None)
                return
        self._put(item)

    def _fill_bound(self) -> StreamId | None:
        """Read the stream only up to what the queue already holds (keeps live order)."""
        for x in self.items:
            if x is not None and x.prev is not None:
                return x.prev
        return None

    async def _next(self) -> LiveMessage | None:
        while not self.items:
            self._ready.clear()
            await self._ready.wait()
        return self.items.popleft()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            if self.need_fill:
                self.need_fill = False
                for sid, e in await self._read_after(self.call_id, self.last, self._fill_bound()):
                    self.last = sid
                    yield e
            item = await self._next()
            if item is None:
                if self.lagging:
                    raise SubscriberLagging(f"subscriber too slow; {self.dropped} events dropped")
                return
            if item.prev is not None and item.prev > self.last:
                # live messages were missed: read exactly that gap from the stream
                for sid, e in await self._read_after(self.call_id, self.last, item.prev):
                    self.last = sid
                    yield e
            if item.sync:
                continue
            if item.id is None:
                yield item.event
                continue
            if item.id <= self.last:
                continue  # already read from the stream
            self.last = item.id
            yield item.event

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._put(None)
        self._on_close(self)
