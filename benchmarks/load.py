"""Load and soak: N softphones and N desktops against one server for a bounded time.

Starts `souffleur serve` (real model), then tries to hold `--calls` concurrent
calls (more than the admission limit, to show refusal happens before latency
degrades). Every admitted call streams a real recording in real time, looping,
and has a desktop following its events. Prints calls held, refusals, final
latency percentiles (result end -> final received), whether any admitted call
fell behind, finals lost between softphone and desktop, errors, and the
server's memory over time.

    python benchmarks/load.py --calls 12 --seconds 120
    python benchmarks/load.py --calls 8 --seconds 600      # the 10-minute soak
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request

import _paths  # noqa: F401  (benchmarks/streaming.py shadows the package otherwise)
import numpy as np
import psutil
from _serve import free_port, pct
from corpus import SHARED

import streaming  # noqa: F401,I001  (BLAS thread limits before numpy loads)
from streaming.audio.files import load_audio
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames


async def one_call(i: int, url: str, frames_pool: list[tuple[list[bytes], int, int]], until: float) -> dict:
    """A softphone looping its recording until `until`, and a desktop following the call."""
    await asyncio.sleep(i * 0.5)
    frames, rate, channels = frames_pool[i % len(frames_pool)]
    seconds = max(5.0, until - time.time())
    n = int(seconds / 0.02)
    loop_frames = (frames * (n // len(frames) + 1))[:n]
    call_id = f"load-{i}-{int(time.time())}"
    out: dict = {"i": i, "call_id": call_id}
    async with EventsClient(url, call_id, wait=True) as desk:
        res = await stream_frames(listen_url(url, encoding="linear16", sample_rate=rate, channels=channels,
                                             call_id=call_id, interim_results=True),
                                  loop_frames, realtime=True)
        out["close_code"] = res.close_code
        out["errors"] = [e["err_code"] for e in res.of_type("Error")]
        if res.close_code == 1013:
            out["refused"] = True
            return out
        sent = res.sent_at
        lat, times = [], []
        for m in res.finals():
            if not m["channel"]["alternatives"][0]["words"]:
                continue
            end = m["start"] + m["duration"]
            k = min(len(sent) - 1, int(end / 0.02))
            lat.append(m["_received"] - sent[k])
            times.append(end)
        out["lat"], out["times"] = lat, times
        phone_ids = {m.get("segment_id") for m in res.finals() if m["channel"]["alternatives"][0]["words"]}
        with contextlib.suppress(TimeoutError):
            await desk.wait_for(lambda e: e.get("type") == "Summary", timeout=30)
        desk_ids = {e.get("segment_id") for e in desk.events if e.get("type") == "Results" and e.get("is_final")}
        out["finals"] = len(phone_ids)
        out["lost"] = len(phone_ids - desk_ids)
        out["summary"] = any(e.get("type") == "Summary" for e in desk.events)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=12, help="calls to attempt at once")
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--max-calls", type=int, help="server admission limit (default: its own)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    pool = []
    for name in ("dev_en_01", "dev_en_03", "dev_en_05"):
        audio, rate = load_audio(SHARED / "assist" / f"{name}.stereo16k.flac")
        pool.append((audio_frames(audio, rate), rate, audio.shape[1]))
    lj, rate = load_audio(SHARED / "audio" / "group3_long" / "ljspeech_LJ001-0001_0016_concat.wav")
    pool.append((audio_frames(lj, rate), rate, 1))

    port = free_port()
    cmd = [sys.executable, "-m", "streaming.cli", "serve", "--port", str(port),
           "--data-dir", f"/tmp/souffleur-load-{port}"]
    if args.max_calls:
        cmd += ["--max-calls", str(args.max_calls)]
    proc = subprocess.Popen(cmd, cwd=_paths.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                max_calls = json.load(r)["max_calls"]
            break
        except OSError:
            time.sleep(0.1)
    ps = psutil.Process(proc.pid)
    rss: list[tuple[float, float]] = []
    url = f"ws://127.0.0.1:{port}"

    async def run() -> list[dict]:
        until = time.time() + args.seconds
        stop = asyncio.Event()

        async def sample():
            t0 = time.time()
            while not stop.is_set():
                rss.append((time.time() - t0, ps.memory_info().rss / 2**20))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)

        s = asyncio.create_task(sample())
        outs = await asyncio.gather(*(one_call(i, url, pool, until) for i in range(args.calls)),
                                    return_exceptions=True)
        stop.set()
        await s
        return [o if isinstance(o, dict) else {"exception": repr(o)} for o in outs]

    outs = asyncio.run(run())
    alive = proc.poll() is None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            healthy = json.load(r)["status"] == "ok"
    except OSError:
        healthy = False
    proc.terminate()
    proc.wait(20)

    admitted = [o for o in outs if "lat" in o]
    lat = [x for o in admitted for x in o["lat"]]
    behind = 0
    for o in admitted:
        pairs = sorted(zip(o["times"], o["lat"], strict=True))
        if len(pairs) >= 9:
            thirds = np.array_split(np.array(pairs), 3)
            if np.median(thirds[2][:, 1]) - np.median(thirds[0][:, 1]) > 1.0:
                behind += 1
    warm = [m for t, m in rss if t >= min(60.0, args.seconds / 3)]
    slope = None
    if len(warm) >= 3:
        ts = [t for t, _ in rss if t >= min(60.0, args.seconds / 3)]
        slope = round(float(np.polyfit(ts, warm, 1)[0]) * 60, 2)  # MB per minute
    result = {
        "machine": {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")},
        "seconds": args.seconds, "attempted": args.calls, "max_calls": max_calls,
        "held": len(admitted), "refused": sum(1 for o in outs if o.get("refused")),
        "exceptions": [o["exception"] for o in outs if "exception" in o],
        "final_latency_p50": pct(lat, 0.5), "final_latency_p90": pct(lat, 0.9), "final_latency_p99": pct(lat, 0.99),
        "fell_behind": behind,
        "finals": sum(o.get("finals", 0) for o in admitted), "lost_finals": sum(o.get("lost", 0) for o in admitted),
        "summaries": sum(1 for o in admitted if o.get("summary")),
        "errors": sorted({e for o in outs for e in o.get("errors", []) if e != "CAPACITY_EXCEEDED"}),
        "server_alive": alive and healthy,
        "rss_mb_start": round(rss[0][1]) if rss else None, "rss_mb_max": round(max(m for _, m in rss)) if rss else None,
        "rss_mb_end": round(rss[-1][1]) if rss else None, "rss_slope_mb_per_min": slope,
    }
    if not args.json:
        for k, v in result.items():
            print(f"{k:22s} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
