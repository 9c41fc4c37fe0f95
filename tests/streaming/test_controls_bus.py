"""Supervisor controls in the event bus: every node sees a change, and controls survive a
restart (the embedded bus under --data-dir, Redis without expiry)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from streaming.service.bus import MemoryBus
from tests.streaming.test_bus_contract import REDIS_URL, redis_available, redis_buses


def control(cid: str, when: float, target_id: str = "verify_identity") -> dict:
    return {"id": cid, "target": "hint", "target_id": target_id, "action": "mute", "scope": "",
            "value": None, "who": "anna", "when": when, "why": "misfires", "version": ""}


def test_memory_bus_keeps_controls_under_its_path_and_tells_its_watchers(tmp_path):
    path = tmp_path / "data" / "controls.json"

    async def go():
        bus = MemoryBus(controls_path=path)
        seen: list[list[str]] = []
        bus.watch_controls(lambda items: seen.append([c["id"] for c in items]))
        await bus.put_control(control("b", 2.0))
        await bus.put_control(control("a", 1.0))
        assert [c["id"] for c in await bus.controls()] == ["a", "b"]  # oldest first
        assert await bus.remove_control("b") is not None
        assert await bus.remove_control("b") is None  # nothing to remove: no change announced
        return seen

    assert asyncio.run(go()) == [["b"], ["a", "b"], ["a"]]
    assert [c["id"] for c in json.loads(path.read_text())] == ["a"]
    # a restarted node reads them back
    assert [c["id"] for c in asyncio.run(MemoryBus(controls_path=path).controls())] == ["a"]
    # a broken file is logged, not fatal
    path.write_text("{not json")
    assert asyncio.run(MemoryBus(controls_path=path).controls()) == []


@pytest.mark.redis
def test_redis_controls_reach_every_node_and_outlive_the_nodes():
    if not redis_available():
        pytest.skip(f"Redis is not running at {REDIS_URL}")

    async def go():
        async with redis_buses(2) as (a, b):
            seen_b: list[tuple[float, list[str]]] = []
            b.watch_controls(lambda items: seen_b.append((time.monotonic(), [c["id"] for c in items])))
            await b.bind_node("node-b", lambda call_id, msg: asyncio.sleep(0))  # starts its pub/sub
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            await a.put_control(control("c1", 1.0))
            for _ in range(100):
                if seen_b and seen_b[-1][1] == ["c1"]:
                    break
                await asyncio.sleep(0.02)
            arrived = seen_b[-1][0] - t0 if seen_b and seen_b[-1][1] == ["c1"] else None
            await a.put_control(control("c2", 2.0, "never_take_passcode"))
            removed = await a.remove_control("c1")
            for _ in range(100):
                if seen_b and seen_b[-1][1] == ["c2"]:
                    break
                await asyncio.sleep(0.02)
            last_b = seen_b[-1][1]
            # a node started later (or restarted) finds them in Redis
            from streaming.service.redis_bus import RedisBus

            late = RedisBus(REDIS_URL, prefix=a.prefix)
            try:
                later = [c["id"] for c in await late.controls()]
            finally:
                await late.close()
            return arrived, removed, last_b, later

    arrived, removed, last_b, later = asyncio.run(go())
    assert arrived is not None and arrived < 2.0, arrived  # "within seconds": pub/sub, milliseconds
    assert removed is not None and removed["id"] == "c1"
    assert last_b == ["c2"] and later == ["c2"]


@pytest.mark.redis
def test_a_change_missed_while_a_nodes_pubsub_was_down_is_picked_up_when_it_is_back(tmp_path):
    """Node B's pub/sub connection is cut (its own Redis: `CLIENT KILL TYPE pubsub`) and node A
    changes the controls at once: B reloads them when its subscription is back."""
    from streaming.service.redis_bus import RedisBus
    from tests.streaming.nodes import PrivateRedis

    server = PrivateRedis(tmp_path)

    async def go():
        import redis.asyncio as aredis

        a, b = RedisBus(server.url, prefix="t:"), RedisBus(server.url, prefix="t:")
        admin = aredis.Redis.from_url(server.url)
        try:
            seen: list[list[str]] = []
            b.watch_controls(lambda items: seen.append([c["id"] for c in items]))
            await b.bind_node("node-b", lambda call_id, msg: asyncio.sleep(0))
            await asyncio.sleep(0.5)  # B follows the controls' channel
            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            await a.put_control(control("missed", 1.0))  # B is not listening now
            for _ in range(250):
                if seen and seen[-1] == ["missed"]:
                    break
                await asyncio.sleep(0.02)
            return seen, b.stats.connected
        finally:
            await admin.aclose()
            await a.close()
            await b.close()

    try:
        seen, _ = asyncio.run(go())
    finally:
        server.stop()
    assert seen and seen[-1] == ["missed"], seen
