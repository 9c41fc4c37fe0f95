"""Rolling restarts: SIGTERM to a `souffleur serve` node on a shared Redis.

What must hold when a node goes away mid-call (docs/scaling.md, "Rolling restarts"):
its desktops are told at once (1001) and come back on another node with `since`,
losing nothing and seeing nothing twice; its softphone call goes on during the grace
period, and what it sent before being cut is still transcribed and stored; the node
is gone within the grace period. Expectations come from the script of the call (what
was said, and when) and from the call's log as another node serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import urllib.parse
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streaming.asr.textnorm import normalize_text
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames
from tests.streaming.nodes import (
    durable,
    http_json,
    need_redis,
    nodes,
    timed_stereo_call,
    wait_until,
)

pytestmark = pytest.mark.redis

# No names, numbers or dates: the stored log is redacted, and these texts are compared with it.
TURNS = [
    ("agent", "Good morning, you are through to the energy help line, how can I help you today?"),
    ("customer", "Hello, I would like to move my energy account to a new house next month."),
    ("agent", "Of course, I can help you with that. Are you moving within the same town?"),
    ("customer", "Yes, we are staying in the same town, just a bigger house near the river."),
    ("agent", "Lovely. Would you like to keep the same tariff at the new address?"),
    ("customer", "I think so, but could you tell me whether there is a cheaper green tariff?"),
    ("agent", "There is a green tariff with a lower standing charge, and the unit price is similar."),
    ("customer", "That sounds good, please switch me to that one when we move."),
    ("agent", "Certainly, I will set that up and send you a confirmation by email."),
]
GRACE_S = 14.0  # the node cuts its calls 4 s after SIGTERM (10 s kept to transcribe them)
SIGTERM_AT_S = 9.0  # into the call


class Overlay:
    """An agent desktop that reconnects as the overlay does (static/js/feed.js: on any
    close, again with `since=<last durable id>`); the load balancer is played by `urls`:
    the next connection goes to the next node."""

    def __init__(self, urls: list[str], call_id: str) -> None:
        self.urls = urls
        self.call_id = call_id
        self.parts: list[list[dict[str, Any]]] = []  # events per connection
        self.closes: list[tuple[float, int | None, str]] = []  # (wall time, code, reason)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for part in self.parts for e in part]

    def last_id(self) -> str | None:
        ids = [e["id"] for e in durable(self.events)]
        return ids[-1] if ids else None

    async def run(self) -> None:
        for url in self.urls:
            q = {"wait": "true", **({"since": s} if (s := self.last_id()) else {})}
            part: list[dict[str, Any]] = []
            self.parts.append(part)
            async with connect(f"{url}/v1/calls/{self.call_id}/events?{urllib.parse.urlencode(q)}") as ws:
                with contextlib.suppress(ConnectionClosed):
                    async for raw in ws:
                        part.append(json.loads(raw))
            self.closes.append((time.time(), ws.close_code, ws.close_reason or ""))


def words_found(said: str, heard: str) -> float:
    """Share of the words said that the transcript has (order-free: robust to where a
    record boundary falls, strict enough that a missing sentence fails)."""
    want = normalize_text(said).split()
    have = set(normalize_text(heard).split())
    return sum(w in have for w in want) / max(1, len(want))


def test_sigterm_mid_call_moves_desktops_to_b_and_drains_the_call(tmp_path):
    need_redis()
    audio, rate, spans = timed_stereo_call(TURNS)
    frames = audio_frames(audio, rate)
    call_id = f"restart-{uuid.uuid4().hex[:8]}"

    with nodes(2, tmp_path, env={"SOUFFLEUR_SHUTDOWN_GRACE_S": str(GRACE_S)}) as (a, b):
        async def go() -> dict[str, Any]:
            overlay = Overlay([a.url, b.url], call_id)  # starts on the node that will go away
            follower = asyncio.create_task(overlay.run())
            async with EventsClient(b.url, call_id, wait=True) as steady:
                await asyncio.sleep(0.5)
                url = listen_url(a.url, encoding="linear16", sample_rate=rate, channels=2, call_id=call_id)
                phone = asyncio.create_task(stream_frames(url, frames, realtime=True))
                await asyncio.sleep(SIGTERM_AT_S)
                t_term = time.time()
                a.proc.send_signal(signal.SIGTERM)
                # while A drains: no new call, no new desktop, and the load balancer is told
                await asyncio.sleep(0.5)
                ready = await asyncio.to_thread(http_json, f"{a.http}/readyz")
                refused = await stream_frames(listen_url(a.url, encoding="linear16", sample_rate=rate, channels=2),
                                              frames[:10], realtime=False)
                async with connect(f"{a.url}/v1/calls/{call_id}/events?wait=true") as late:
                    with contextlib.suppress(ConnectionClosed):
                        await late.recv()
                late_close = (late.close_code, late.close_reason)
                softphone = await phone
                await asyncio.to_thread(a.proc.wait, GRACE_S + 10)
                t_exit = time.time()
                _, stored = await asyncio.to_thread(http_json, f"{b.http}/v1/calls/{call_id}")
                last = durable(stored["events"])[-1]["id"]
                for d in (overlay, steady):  # every desktop catches up with the log
                    await asyncio.to_thread(wait_until, lambda d=d: durable(d.events) and
                                            durable(d.events)[-1]["id"] == last, 30, 0.1, "desktop up to date")
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
                return {"t_term": t_term, "t_exit": t_exit, "ready": ready, "refused": refused,
                        "late": late_close, "softphone": softphone, "stored": stored,
                        "overlay": overlay, "steady": list(steady.events)}

        r = asyncio.run(go())
        a_log = a.log()

    t_term, overlay, softphone, stored = r["t_term"], r["overlay"], r["softphone"], r["stored"]
    history = durable(stored["events"])

    # the desktop on A was told at once, with a reason, and came back on B with `since`
    when, code, reason = overlay.closes[0]
    assert code == 1001 and "reconnect" in reason, overlay.closes
    assert when - t_term < 2.0
    back = overlay.parts[1][0]
    assert back["type"] == "CallState" and back["since"] == durable(overlay.parts[0])[-1]["id"]
    # ...and has exactly the call's log as B serves it: nothing lost, nothing twice, in order
    assert [(e["id"], e["type"]) for e in durable(overlay.events)] == [(e["id"], e["type"]) for e in history]
    assert [e["id"] for e in durable(r["steady"])] == [e["id"] for e in history]
    # A refused new work while it drained, and said so
    assert r["ready"][0] == 503 and r["ready"][1]["draining"] is True
    err = r["refused"].of_type("Error")
    assert err and err[0]["err_code"] == "SHUTTING_DOWN" and r["refused"].close_code == 1013
    assert r["late"][0] == 1001

    # the call went on during the grace period, was cut, and what it had sent was transcribed
    errors = [m for m in softphone.messages if m["type"] == "Error"]
    assert errors and errors[0]["err_code"] == "SHUTTING_DOWN" and softphone.close_code == 1001
    cut = errors[0]["_received"]
    sent_by_cut = sum(1 for t in softphone.sent_at if t < cut) * 0.02  # audio seconds
    assert cut - t_term > 2.0  # not cut at the signal: it had the grace period less the flush reserve
    assert sent_by_cut < spans[-1][1]  # ...and was cut before it ended
    records = [e for e in history if e["type"] == "Record"]
    for (who, text), (_, end) in zip(TURNS, spans, strict=True):
        if end < sent_by_cut - 0.3:
            heard = " ".join(e["channel"]["alternatives"][0]["transcript"] for e in records
                             if e["channel_index"][0] == (0 if who == "agent" else 1))
            assert words_found(text, heard) >= 0.8, (text, heard)
    # every final the softphone got is in the stored log (compared by position: the log is redacted)
    finals = [(m["channel_index"][0], m["start"]) for m in softphone.messages
              if m["type"] == "Results" and m.get("is_final")]
    assert finals == [(e["channel_index"][0], e["start"]) for e in history
                      if e["type"] == "Results" and e.get("is_final")]
    assert any(e["type"] == "Summary" for e in history)
    assert stored["call"]["status"] == "ended"
    # the node was gone within the grace period, having finished its call
    assert r["t_exit"] - t_term < GRACE_S
    assert "grace period over" not in a_log, a_log


def test_a_waiting_desktop_does_not_hold_up_a_restart(tmp_path):
    """A desktop subscribed before its call starts (`wait=true`) used to keep the node
    alive 10-12 s after SIGTERM and then got 1000, so it had no reason to reconnect."""
    need_redis()
    with nodes(1, tmp_path) as (a,):
        async def go() -> tuple[float, float, int | None, str]:
            async with connect(f"{a.url}/v1/calls/not-yet-{uuid.uuid4().hex[:6]}/events?wait=true") as ws:
                assert json.loads(await ws.recv())["status"] == "pending"
                t0 = time.monotonic()
                a.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(ConnectionClosed):
                    await ws.recv()
                closed = time.monotonic() - t0
            await asyncio.to_thread(a.proc.wait, 30)
            return closed, time.monotonic() - t0, ws.close_code, ws.close_reason or ""

        closed, exited, code, reason = asyncio.run(go())
    assert code == 1001 and "reconnect with since" in reason
    assert closed < 1.0
    assert exited < 4.0  # an idle node takes about as long: interpreter and model teardown
