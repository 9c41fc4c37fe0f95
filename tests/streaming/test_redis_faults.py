"""Redis faults: unreachable at start, lost mid-call, a buffer that overflows.

Redis is killed and restarted here, so these tests run their own `redis-server`
on a free port (see `nodes.PrivateRedis`); the shared one on 6379 is left alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from streaming.client import EventsClient, audio_frames, listen_url, stream_frames
from streaming.service.bus import CallInfo
from tests.conftest import AUDIO
from tests.streaming.nodes import (
    ROOT,
    PrivateRedis,
    durable,
    free_port,
    http_json,
    nodes,
)

pytestmark = pytest.mark.redis


def test_unreachable_redis_at_start_is_a_clear_error_naming_the_url():
    url = f"redis://127.0.0.1:{free_port()}/0"
    p = subprocess.run([sys.executable, "-m", "streaming.cli", "serve", "--port", str(free_port()),
                        "--redis-url", url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert url in p.stderr and "cannot reach Redis" in p.stderr


def test_redis_password_is_not_printed():
    url = f"redis://user:s3cret-pw@127.0.0.1:{free_port()}/0"
    p = subprocess.run([sys.executable, "-m", "streaming.cli", "serve", "--port", str(free_port()),
                        "--redis-url", url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "s3cret-pw" not in p.stderr + p.stdout and "127.0.0.1" in p.stderr


async def _take(sub, n: int, timeout: float = 20.0) -> list[dict]:
    """The next `n` durable events (transients may come and go in between)."""
    got: list[dict] = []

    async def go():
        async for e in sub:
            if "id" in e:
                got.append(e)
            if len(got) >= n:
                return

    await asyncio.wait_for(go(), timeout)
    return got


def test_bus_buffers_through_an_outage_and_reports_what_it_could_not_keep(tmp_path):
    """Small buffer: what fits is flushed in order after the restart, the rest is counted
    and announced on the call; a subscriber on another node sees exactly the log."""
    redis = PrivateRedis(tmp_path)
    from streaming.service.redis_bus import RedisBus

    async def go():
        a = RedisBus(redis.url, prefix="t:", max_buffer=20)
        b = RedisBus(redis.url, prefix="t:")
        try:
            await a.start_call(CallInfo("c", node="A"))
            for i in range(10):
                await a.publish("c", {"type": "Results", "n": i})
            assert await a.flush()
            desk = await b.subscribe("c")
            before = await _take(desk, 10)
            redis.kill()
            for i in range(10, 40):
                await a.publish("c", {"type": "Results", "n": i})
                await a.publish("c", {"type": "Results", "n": f"interim-{i}"}, durable=False)
                await asyncio.sleep(0.02)
            for _ in range(100):
                if not a.stats.connected:
                    break
                await asyncio.sleep(0.1)
            health_down = a.health()
            await asyncio.to_thread(redis.start)
            assert await a.flush(20)
            after = await _take(desk, 21)  # 20 kept + the notice
            await desk.close()
            return before, after, await b.history("c"), health_down, a.health()
        finally:
            await a.close()
            await b.close()

    try:
        before, after, hist, down, up = asyncio.run(go())
    finally:
        redis.stop()
    kept = [e for e in after if e["type"] == "Results"]
    notice = [e for e in after if e["type"] == "AssistNotice"]
    lost = 30 - len(kept)
    assert [e["n"] for e in before] == list(range(10))
    assert [e["n"] for e in kept] == list(range(10, 10 + len(kept)))  # in order, oldest kept
    assert lost == 10 and up["lost"] == 10 and up["lost_by_call"] == {"c": 10}
    assert len(notice) == 1 and notice[0]["code"] == "events_lost" and notice[0]["lost"] == 10
    assert [e["id"] for e in before + after] == [e["id"] for e in hist]
    assert not down["connected"] and up["connected"] and up["disconnects"] >= 1
    assert up["transient_dropped"] > 0 and up["buffered"] == 0


def _lj_excerpt(seconds: float) -> tuple[np.ndarray, int]:
    from streaming.audio.files import load_audio

    x, rate = load_audio(AUDIO / "long" / "ljspeech_LJ001-0001_0016_concat.flac")
    return np.concatenate([x[: int(seconds * rate)], np.zeros((rate, x.shape[1]), np.float32)]), rate


def test_redis_killed_and_restarted_during_a_call(tmp_path):
    """Live transcription goes on while Redis is down; afterwards the call's log and a
    desktop on the other node hold every final the softphone got, once, in order."""
    redis = PrivateRedis(tmp_path)
    audio, rate = _lj_excerpt(30.0)
    frames = audio_frames(audio, rate)
    call_id = f"outage-{uuid.uuid4().hex[:8]}"
    outage: dict[str, float] = {}
    try:
        # stored == live here (no redaction) so the log can be compared with what the softphone got
        with nodes(2, tmp_path, redis.url, env={"SOUFFLEUR_REDACT_STORED": "0"}) as (a, b):
            async def go():
                async with EventsClient(b.url, call_id, wait=True) as desk:
                    url = listen_url(a.url, encoding="linear16", sample_rate=rate, channels=1,
                                     call_id=call_id)
                    phone = asyncio.create_task(stream_frames(url, frames, realtime=True, speed=2.0))
                    await desk.wait_for(lambda e: e.get("type") == "Results" and "id" in e, 60)
                    await asyncio.to_thread(redis.kill)
                    outage["down"] = time.time()
                    await asyncio.sleep(3.0)
                    await asyncio.to_thread(redis.start)
                    outage["up"] = time.time()
                    softphone = await phone
                    await desk.wait_for(lambda e: e.get("type") == "CallEnded", 120)
                    return softphone, desk.events

            softphone, seen = asyncio.run(go())
            code, body = http_json(f"{b.http}/v1/calls/{call_id}")
            _, ready = http_json(f"{a.http}/readyz")
    finally:
        redis.stop()
    finals = [m for m in softphone.messages if m.get("type") == "Results" and m.get("is_final")]
    during = [m for m in finals if outage["down"] < m["_received"] < outage["up"]]
    history = body["events"]
    logged = [e for e in history if e["type"] == "Results"]
    assert code == 200 and body["call"]["status"] == "ended"
    assert during, "the softphone got no finals while Redis was down"
    assert [m["channel"]["alternatives"][0]["transcript"] for m in finals] == \
           [e["channel"]["alternatives"][0]["transcript"] for e in logged]
    assert len({e["id"] for e in history}) == len(history)
    assert [{k: v for k, v in e.items() if k != "_received"} for e in durable(seen)] == history
    bus = ready["bus"]
    assert bus["disconnects"] >= 1 and bus["lost"] == 0 and bus["connected"]
