"""Event fan-out across nodes: latency from append on node A to receipt by desktops on node B.

Node B is a real `souffleur serve --redis-url ...` process; node A is a
`RedisBus` in this process publishing call events (as a call's pipeline would)
at a steady rate: durable events (finals, assist events) and transient ones
(interims). `--desktops` agent desktops (websocket clients) follow `--calls`
calls on node B. Latency = receipt wall time minus the event's `ts` (set when
node A published it; same machine clock). Every desktop's durable sequence is
checked against what was published: nothing lost, nothing duplicated, in order.

    python benchmarks/fanout.py --calls 10 --desktops 50 --seconds 20 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

import _paths  # noqa: F401

import streaming  # noqa: F401
from streaming.client import EventsClient
from streaming.service.bus import CallInfo
from streaming.service.redis_bus import RedisBus


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))] if xs else float("nan")


def start_node(redis_url: str, prefix: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "SOUFFLEUR_REDIS_PREFIX": prefix}
    p = subprocess.Popen([sys.executable, "-m", "streaming.cli", "serve", "--port", str(port), "--redis-url",
                          redis_url, "--workers", "1"], cwd=_paths.ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return p
        except OSError:
            if p.poll() is not None:
                raise SystemExit("node B did not start") from None
            time.sleep(0.2)
    raise SystemExit("node B did not start in time")


async def run(args: argparse.Namespace, port: int, prefix: str) -> dict:
    bus = RedisBus(args.redis_url, prefix=prefix)
    calls = [f"fanout-{i}-{uuid.uuid4().hex[:6]}" for i in range(args.calls)]
    for c in calls:
        await bus.start_call(CallInfo(c, node="benchmark-A"))
    await bus.flush()
    base = f"ws://127.0.0.1:{port}"
    desks = [EventsClient(base, calls[i % len(calls)]) for i in range(args.desktops)]
    for d in desks:
        await d.__aenter__()
    await asyncio.sleep(1.0)
    published: dict[str, list[str]] = {c: [] for c in calls}
    interval = 1.0 / args.rate
    t_end = time.monotonic() + args.seconds

    async def talk(call_id: str, offset: float) -> None:
        await asyncio.sleep(offset)
        n = 0
        nxt = time.monotonic()
        while time.monotonic() < t_end:
            n += 1
            await bus.publish(call_id, {"type": "Results", "is_final": False, "n": n}, durable=False)
            e = await bus.publish(call_id, {"type": "Results", "is_final": True, "n": n,
                                            "channel": {"alternatives": [{"transcript": "x " * 12}]}})
            published[call_id].append(e["id"])
            nxt += interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    await asyncio.gather(*(talk(c, i * interval / len(calls)) for i, c in enumerate(calls)))
    await bus.flush()
    await asyncio.sleep(2.0)
    for d in desks:
        await d.__aexit__(None, None, None)
    health = bus.health()
    await bus.close()

    durable_lat, transient_lat, problems = [], [], 0
    for d in desks:
        got = [e for e in d.events if e.get("type") == "Results"]
        ids = [e["id"] for e in got if "id" in e]
        if ids != published[d.url.split("/")[-2]]:
            problems += 1
        for e in got:
            (durable_lat if "id" in e else transient_lat).append((e["_received"] - e["ts"]) * 1000)
    return {
        "calls": args.calls, "desktops": args.desktops, "seconds": args.seconds,
        "events_per_call_per_s": 2 * args.rate,
        "durable": {"n": len(durable_lat), "p50_ms": round(statistics.median(durable_lat), 2),
                    "p90_ms": round(pct(durable_lat, 0.9), 2), "p99_ms": round(pct(durable_lat, 0.99), 2),
                    "max_ms": round(max(durable_lat), 2)},
        "transient": {"n": len(transient_lat), "p50_ms": round(statistics.median(transient_lat), 2),
                      "p99_ms": round(pct(transient_lat, 0.99), 2)},
        "desktops_with_loss_dup_or_reorder": problems,
        "bus": {k: health[k] for k in ("published", "flushed", "lost", "transient_dropped", "buffer_peak")},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--desktops", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=3.0, help="durable (and as many transient) events/s per call")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import socket

    port = args.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    prefix = f"souffleur-bench:{uuid.uuid4().hex[:8]}:"
    node = start_node(args.redis_url, prefix, port)
    try:
        res = asyncio.run(run(args, port, prefix))
    finally:
        node.terminate()
        node.wait(30)
        import redis

        r = redis.Redis.from_url(args.redis_url)
        keys = list(r.scan_iter(match=prefix + "*"))
        if keys:
            r.delete(*keys)
    d, t = res["durable"], res["transient"]
    print(f"{'events':<10} {'n':>7} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'durable':<10} {d['n']:>7} {d['p50_ms']:>8} {d['p99_ms']:>8}")
    print(f"{'transient':<10} {t['n']:>7} {t['p50_ms']:>8} {t['p99_ms']:>8}")
    print(f"{res['desktops']} desktops on node B following {res['calls']} calls published on node A; "
          f"desktops with a lost, duplicated or out-of-order event: {res['desktops_with_loss_dup_or_reorder']}")
    if args.json:
        print(json.dumps({"benchmark": "fanout", **res}, indent=1))


if __name__ == "__main__":
    main()
