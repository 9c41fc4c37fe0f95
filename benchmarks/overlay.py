"""The agent overlay in Chromium: final-to-paint latency and memory over a long call.

1. Live call: a real server (bundled Whisper model, offline assistant) in this
   process, the overlay open with `bench=1`, a recording streamed in real time.
   For every final transcript piece the page records when it received it and when
   the frame showing it was painted (a message posted from the frame callback runs
   after that frame's paint). Latency = painted - `ts`, the wall time the server
   published the event on the call's bus, just before it is written to the desktop's
   websocket (same machine clock). Target: p95 <= 100 ms.
2. Long call: the live call's own events (interims included), repeated with new
   ids and shifted times until `--minutes` of call audio, published on the server's
   bus at `--replay-speed` x real time to a fresh overlay. At each 5 minutes of call
   time: the page's JS heap after a forced GC and its DOM node count (Chrome DevTools
   Performance metrics). Target: no growth beyond the bounded transcript window.

Needs Debian's Chromium (/usr/bin/chromium) and playwright.

    python benchmarks/overlay.py [--audio FILE] [--speed 1] [--minutes 30] [--replay-speed 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import _paths  # noqa: F401

import streaming  # noqa: F401
from streaming.client import EventsClient, stream_file
from streaming.options import AsrOptions, ServerOptions
from streaming.service.bus import CallInfo
from streaming.service.server import SouffleurServer

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "streaming" / "demo_call" / "call.ogg"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class ServerThread:
    """The server on its own event loop, so the page and the benchmark talk to it over sockets."""

    def __init__(self, server: SouffleurServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(server.start())
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(60)
        self.url = f"ws://127.0.0.1:{server.port}"
        self.http = f"http://127.0.0.1:{server.port}"

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.call(self.server.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1) + 0.5))] if xs else float("nan")


def stats(xs: list[float]) -> dict[str, float]:
    return {"n": len(xs), "p50": round(pct(xs, 0.5), 1), "p95": round(pct(xs, 0.95), 1),
            "max": round(max(xs), 1) if xs else float("nan"),
            "mean": round(statistics.fmean(xs), 1) if xs else float("nan")}


def latencies(bench: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {"publish_to_paint_ms": stats([b["painted"] - b["ts"] for b in bench]),
            "publish_to_receive_ms": stats([b["recv"] - b["ts"] for b in bench]),
            "receive_to_paint_ms": stats([b["painted"] - b["recv"] for b in bench])}


def memory(page, cdp, bench: list[dict] | None = None) -> dict[str, float]:
    if bench is not None:  # take the page's latency records out so they do not count as its memory
        bench.extend(page.evaluate("() => window.souffleur.bench.splice(0)"))
    cdp.send("HeapProfiler.collectGarbage")
    m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
    segs = page.evaluate("() => document.querySelectorAll('#transcript .seg').length")
    return {"js_heap_mb": round(m["JSHeapUsedSize"] / 2**20, 2), "dom_nodes": int(m["Nodes"]),
            "transcript_pieces": segs}


def live_call(srv: ServerThread, browser, audio: Path, speed: float) -> tuple[dict, list[dict]]:
    """Stream the recording with the overlay open; the page's paint times, and every event."""
    call_id = f"bench-{uuid.uuid4().hex[:6]}"
    page = browser.new_page(viewport={"width": 460, "height": 1000})
    page.goto(f"{srv.http}/agent?call_id={call_id}&bench=1")
    page.wait_for_selector('.call-status[data-status="pending"]')

    async def go() -> list[dict]:
        async with EventsClient(srv.url, call_id, wait=True) as tap:
            await stream_file(srv.url, audio, speed=speed, call_id=call_id)
            await tap.wait_for(lambda e: e.get("type") == "Summary", 120)
            return [e for e in tap.events if e.get("type") != "CallState"]

    got: list[list[dict]] = []
    t = threading.Thread(target=lambda: got.append(asyncio.run(go())), daemon=True)
    t.start()  # Playwright's sync API owns this thread's event loop
    while t.is_alive():
        page.wait_for_timeout(200)
    events = got[0]
    page.wait_for_selector("#summary:not([hidden])", timeout=60_000)
    page.wait_for_timeout(500)
    bench = page.evaluate("() => window.souffleur.bench")
    page.close()
    out = latencies(bench)
    out["finals_painted"] = len(bench)
    out["audio_s"] = max((e.get("start", 0) + e.get("duration", 0) for e in events if e.get("type") == "Results"),
                         default=0)
    return out, events


def long_call(srv: ServerThread, browser, template: list[dict], minutes: float, speed: float) -> dict:
    """Replay the template call's events until `minutes` of call time, sampling the page's memory."""
    call_id = f"bench-long-{uuid.uuid4().hex[:6]}"
    page = browser.new_page(viewport={"width": 460, "height": 1000})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(f"{srv.http}/agent?call_id={call_id}&bench=1")
    page.wait_for_selector('.call-status[data-status="pending"]')
    bus = srv.server.bus
    srv.call(bus.start_call(CallInfo(call_id, node=srv.server.node_id)))
    keep = [e for e in template if e.get("type") not in ("Summary", "Metadata", "CallEnded")]
    span = max(e.get("start", 0) + e.get("duration", 0) for e in keep if e.get("type") == "Results") + 2.0
    bench: list[dict] = []
    samples = [{"call_min": 0.0, **memory(page, cdp, bench)}]
    t0 = time.monotonic()
    rep, call_t, next_sample = 0, 0.0, 5.0
    clock = 0.0  # call time of the event being published
    while call_t < minutes * 60:
        offset = rep * span
        batch: list[tuple[float, dict, bool]] = []
        for e in keep:
            e2 = _shifted(e, rep, offset)
            t = offset + float(e.get("start", e.get("timestamp", clock - offset)) or 0)
            clock = max(clock, t)
            durable = not (e["type"] == "Results" and not e.get("is_final")) and e["type"] not in (
                "SpeechStarted", "UtteranceEnd")
            batch.append((clock, e2, durable))
        for t, e2, durable in batch:
            wait = t0 + t / speed - time.monotonic()
            if wait > 0:
                page.wait_for_timeout(wait * 1000)  # lets the page and Playwright run meanwhile
            srv.call(bus.publish(call_id, e2, durable=durable))
            call_t = t
            if call_t >= next_sample * 60:
                page.wait_for_timeout(300)
                samples.append({"call_min": round(call_t / 60, 1), **memory(page, cdp, bench)})
                next_sample += 5
            if call_t >= minutes * 60:
                break
        rep += 1
    page.wait_for_timeout(1000)
    bench.extend(page.evaluate("() => window.souffleur.bench.splice(0)"))
    shown = page.evaluate("() => window.souffleur.model.segmentCount()")
    page.close()
    # the transcript window fills in ~10 call minutes and the card lists soon after; from
    # then on a page that holds only its window does not grow: compare the two halves
    half = next((s for s in samples if s["call_min"] >= minutes / 2), samples[-1])
    last = samples[-1]
    return {"minutes": round(call_t / 60, 1), "replay_speed": speed, "samples": samples,
            "pieces_kept": shown, "half_min": half["call_min"],
            "heap_growth_second_half_mb": round(last["js_heap_mb"] - half["js_heap_mb"], 2),
            "dom_growth_second_half": last["dom_nodes"] - half["dom_nodes"],
            "latency_under_replay": latencies(bench)["publish_to_paint_ms"]}


def _shifted(e: dict, rep: int, offset: float) -> dict:
    """The event as said `rep` times later: new segment/suggestion ids, times shifted."""
    e2 = {k: v for k, v in e.items() if k not in ("id", "ts", "_received", "call_id")}
    if rep:
        for k in ("segment_id", "suggestion_id"):
            if isinstance(e2.get(k), str):
                e2[k] = f"{e2[k]}-r{rep}"
        for k in ("start", "timestamp", "last_word_end"):
            if isinstance(e2.get(k), int | float):
                e2[k] = e2[k] + offset
    return e2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio", default=str(DEMO), help="stereo recording, L agent R customer (default: demo call)")
    ap.add_argument("--speed", type=float, default=1.0, help="live call pace (default real time)")
    ap.add_argument("--minutes", type=float, default=30.0, help="long call length in call minutes")
    ap.add_argument("--replay-speed", type=float, default=30.0)
    ap.add_argument("--json", action="store_true", help="print only the JSON")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from streaming.asr.whisper import WhisperRecognizer

    data = tempfile.mkdtemp(prefix="souffleur-overlay-bench-")
    srv = ServerThread(SouffleurServer(replace(ServerOptions(port=0), data_dir=data), AsrOptions(workers=2),
                                       recognizer=WhisperRecognizer(AsrOptions(workers=2))))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            live, events = live_call(srv, browser, Path(args.audio), args.speed)
            long = long_call(srv, browser, events, args.minutes, args.replay_speed)
            version = browser.version
            browser.close()
    finally:
        srv.stop()
    result = {"chromium": version, "audio": Path(args.audio).name, "live_speed": args.speed, "live": live,
              "long_call": long, "targets": {"p95_paint_ms": 100, "growth": "none beyond the window"}}
    if not args.json:
        lat = live["publish_to_paint_ms"]
        print(f"Overlay in Chromium {version}; live call {Path(args.audio).name} at {args.speed:g}x "
              f"({live['audio_s']:.0f} s of audio, {live['finals_painted']} finals)")
        print(f"{'final -> painted (ms)':<28} {'n':>5} {'p50':>7} {'p95':>7} {'max':>7}")
        for k, label in (("publish_to_paint_ms", "bus publish -> painted"),
                         ("publish_to_receive_ms", "bus publish -> page received"),
                         ("receive_to_paint_ms", "page received -> painted")):
            s = live[k]
            print(f"{label:<28} {s['n']:>5} {s['p50']:>7} {s['p95']:>7} {s['max']:>7}")
        print(f"target p95 <= 100 ms: {'met' if lat['p95'] <= 100 else 'NOT met'}")
        print(f"\nLong call: {long['minutes']} call minutes replayed at {args.replay_speed:g}x")
        print(f"{'call min':>8} {'JS heap MB':>11} {'DOM nodes':>10} {'pieces shown':>13}")
        for s in long["samples"]:
            print(f"{s['call_min']:>8} {s['js_heap_mb']:>11} {s['dom_nodes']:>10} {s['transcript_pieces']:>13}")
        print(f"growth from {long['half_min']} min to the end: heap {long['heap_growth_second_half_mb']:+} MB, "
              f"DOM {long['dom_growth_second_half']:+} nodes")
        r = long["latency_under_replay"]
        print(f"final -> painted during the fast replay: p50 {r['p50']} ms, p95 {r['p95']} ms (n={r['n']})\n")
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
