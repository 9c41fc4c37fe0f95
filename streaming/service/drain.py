"""Rolling restarts: what a node does between SIGTERM and its exit.

The two kinds of client lose different things when a node goes away, so they are
treated differently:

* A desktop loses nothing by moving: with a shared bus (Redis) any node serves the
  call from its log, and a reconnect with `since=<last id>` returns exactly what was
  missed. So desktops are closed at once with 1001 and a reason, and the overlay
  reconnects (through the load balancer, to a node that is not draining).
* A softphone would have to start a new stream on another node. So its call is given
  the grace period (`ServerOptions.shutdown_grace_s`) to end by itself; a call still
  running `FLUSH_RESERVE_S` before the end is cut: it gets `SHUTTING_DOWN`, what it
  sent is transcribed and its finals, records and summary published, then 1001. A call
  not done by the end of the grace period is closed as it is (logged).

New calls are refused meanwhile (`SHUTTING_DOWN`, 1013) and `/readyz` answers 503,
so the load balancer sends new work elsewhere while the node keeps listening. With
the embedded bus there is no other node that could serve a desktop the rest of a
call, so desktops of calls live on this node stay until their call is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from streaming.live.protocol import CloseCode
from streaming.options import ServerOptions
from streaming.service.bus import Subscription
from streaming.service.live_call import LiveCall

log = logging.getLogger("souffleur")

# The close reason a desktop gets: what to do next (the overlay does it by itself).
GOING_AWAY = "node shutting down; reconnect with since"
# What a cut call's softphone reads in its SHUTTING_DOWN error.
CUT_REASON = "node shutting down; what was sent is transcribed, then 1001: stream again to another node"
# Kept at the end of the grace period to transcribe what cut calls sent (the last final and
# record of each channel, then the summary). Measured on a busy shared 2-core machine with
# tiny.en (benchmarks/shutdown.py): 4 real-time stereo calls, 2 workers, 2.7-2.9 s; 4 mono
# calls on 1 worker 3.9 s and once over 5 s. Never shortened: with a grace period under
# this, calls are cut at once and the node may take this long.
FLUSH_RESERVE_S = 10.0
# The last part of that reserve: close what is left, stop the model, flush the bus to Redis,
# so the node is gone when the grace period ends (an orchestrator SIGKILLs then, and what
# the bus still held would be lost with the process).
CLOSE_RESERVE_S = 2.0
POLL_S = 0.05


@dataclass(eq=False)
class Desktop:
    """One desktop following a call on this node."""

    ws: ServerConnection
    call_id: str
    sub: Subscription
    leaving: str | None = None  # set when this node sends the desktop away: the close reason

    async def send_away(self, reason: str = GOING_AWAY) -> None:
        """End the feed and close the socket with 1001 and `reason`, here rather than in the
        desktop's handler: the server closes what is left with no reason right after the
        drain. Waits for the desktop's close reply at most a second."""
        self.leaving = reason
        await self.sub.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(close_desktop(self.ws, reason), 1.0)


class DrainHost(Protocol):
    """What the drain reads of the server (`SouffleurServer`)."""

    options: ServerOptions
    calls: dict[str, LiveCall]
    desktops: set[Desktop]
    calls_running: int  # call handlers not yet returned (summary published, call ended)
    prerecorded_active: int
    cut_calls_now: bool  # a second SIGTERM: stop waiting for live calls to end by themselves

    @property
    def shared_bus(self) -> bool: ...


async def close_desktop(ws: ServerConnection, reason: str = GOING_AWAY) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.close(CloseCode.GOING_AWAY, reason)


async def send_away(desktops: Iterable[Desktop]) -> None:
    await asyncio.gather(*(d.send_away() for d in list(desktops)), return_exceptions=True)


def may_stay(host: DrainHost, call_id: str) -> bool:
    """Whether a desktop of `call_id` may still follow it here while the node drains."""
    return not host.shared_bus and call_id in host.calls


async def drain(host: DrainHost) -> float:
    """Send desktops away, let live calls end within the grace period, cut and flush the
    rest; returns when every call has finished or its time is up, with the loop time by
    which the node should have closed everything (`CLOSE_RESERVE_S` later at most)."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    grace = max(0.0, host.options.shutdown_grace_s)
    cut_at = t0 + max(0.0, grace - FLUSH_RESERVE_S)
    deadline = cut_at + FLUSH_RESERVE_S - CLOSE_RESERVE_S
    log.info("shutting down: %d live calls, %d desktops; calls may go on for %.1f s",
             len(host.calls), len(host.desktops), cut_at - t0)
    await send_away([d for d in host.desktops if not may_stay(host, d.call_id)])

    while host.calls and loop.time() < cut_at and not host.cut_calls_now:
        await asyncio.sleep(POLL_S)
    if host.calls:
        log.info("cutting %d live calls; transcribing what they sent", len(host.calls))
    for call in list(host.calls.values()):
        call.drain(CUT_REASON)

    while (host.calls_running or host.prerecorded_active) and loop.time() < deadline:
        await asyncio.sleep(POLL_S)
    if host.calls_running or host.prerecorded_active:
        log.warning("grace period over: %d calls and %d pre-recorded requests not finished; closing them",
                    host.calls_running, host.prerecorded_active)
    await send_away(host.desktops)
    log.info("drained in %.2f s", loop.time() - t0)
    return max(loop.time() + CLOSE_RESERVE_S, cut_at + FLUSH_RESERVE_S)
