"""Long soak: a Redis-backed node under a steady share of its capacity for an hour or more.

Starts its own `redis-server` (a spare port, no persistence, so the soak can restart it
without touching anyone else's Redis) and `souffleur serve --redis-url` on it. Then keeps
`--calls` call slots busy: each slot streams a stereo recording in real time with a desktop
following the call, hangs up at the recording's end, and dials again a few seconds later.
Every call's desktop disconnects once mid-call and reconnects with `since=<last id>`, and
the agent accepts or dismisses a suggestion. Redis is restarted once, at `--redis-restart-at`
(a fraction of the run).

Per minute it records the server's RSS, final latency (wall time from sending the audio
at a final's end to receiving the final), finals lost on the way to the desktop,
finals the desktop got twice, errors and refused calls. It writes JSON (with the date and
the machine) and a plot (PNG), and prints a table. Verdicts, as the issue states them:
RSS slope over the last 30 minutes (<= 0.5 MB/min), nothing lost, p99 of the last 10
minutes within 20 % of the first 10 minutes' (minute 0, the warm-up, left out).

    python benchmarks/soak.py --minutes 65 --calls 5 --png docs/soak.png
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import _paths  # noqa: F401  (benchmarks/streaming.py shadows the package otherwise)
import numpy as np
import psutil
from _serve import free_port, pct, pyplot, wait_ready
from corpus import SHARED

import streaming  # noqa: F401,I001  (BLAS thread limits before numpy loads)
from streaming.audio.files import load_audio
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames

OUT = Path(__file__).resolve().parent / "out"


def recordings(language: str = "en") -> list[tuple[str, list[bytes], int]]:
    """Stereo calls. English: one real telephone call (agent left, caller right, 8 kHz)
    and the five dev calls (16 kHz). Dutch: the three Dutch dev calls (espeak-ng)."""
    paths = []
    if language == "en":
        paths.append(SHARED / "audio/group2_conversational/aws_lca_calls/Auto_Repairs_40_UTC_stereo_agentL_callerR.wav")
    paths += sorted((SHARED / "assist").glob(f"dev_{language}_*.stereo16k.flac"))
    pool = []
    for p in paths:
        audio, rate = load_audio(p)
        assert audio.shape[1] == 2, p
        pool.append((p.name, audio_frames(audio, rate), rate))
    return pool


class Soak:
    def __init__(self, url: str, pool, until: float, t0: float) -> None:
        self.url, self.pool, self.until, self.t0 = url, pool, until, t0
        self.calls: list[dict] = []
        self.rng = random.Random(7)

    def minute(self, t: float) -> int:
        return int((t - self.t0) // 60)

    async def slot(self, i: int) -> None:
        await asyncio.sleep(i * 7.0)  # stagger the slots so calls do not all end together
        k = i
        while time.time() < self.until - 30:
            name, frames, rate = self.pool[k % len(self.pool)]
            k += 1
            rec = {"slot": i, "recording": name, "started": time.time()}
            self.calls.append(rec)
            try:
                await self.one_call(rec, frames, rate)
            except Exception as e:  # noqa: BLE001  (counted, the soak goes on)
                rec["exception"] = repr(e)[:200]
            rec["ended"] = time.time()
            await asyncio.sleep(self.rng.uniform(2, 6))

    async def one_call(self, rec: dict, frames: list[bytes], rate: int) -> None:
        call_id = f"soak-{rec['slot']}-{int(rec['started'] * 1000)}"
        rec["call_id"] = call_id
        seen: list[dict] = []
        stop = asyncio.Event()
        desk_task = asyncio.create_task(self.desktop(call_id, seen, stop, len(frames) * 0.02, rec))
        res = await stream_frames(listen_url(self.url, encoding="linear16", sample_rate=rate, channels=2,
                                             call_id=call_id, interim_results=True, multichannel=True),
                                  frames, realtime=True)
        rec["close_code"] = res.close_code
        rec["errors"] = [e.get("err_code") for e in res.of_type("Error")]
        if res.close_code == 1013:
            rec["refused"] = True
            stop.set()
            await desk_task
            return
        sent = res.sent_at
        lat = []
        for m in res.finals():
            if not m["channel"]["alternatives"][0]["words"]:
                continue
            end = m["start"] + m["duration"]
            j = min(len(sent) - 1, int(end / 0.02))
            lat.append((m["_received"], m["_received"] - sent[j]))
        rec["lat"] = lat
        phone_ids = [m.get("segment_id") for m in res.finals() if m["channel"]["alternatives"][0]["words"]]
        rec["finals"] = len(phone_ids)
        # the desktop waits for the summary, then stops
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(desk_task, 60)
        stop.set()
        await desk_task
        # finals with words only, as on the phone's side: an empty final carries no segment_id,
        # and two of them in one call once counted as a final "delivered twice"
        got = Counter(e.get("segment_id") for e in seen if e.get("type") == "Results" and e.get("is_final")
                      and e["channel"]["alternatives"][0]["words"])
        rec["lost"] = len(set(phone_ids) - set(got))
        rec["duplicated"] = sum(n - 1 for n in got.values() if n > 1)
        if rec["duplicated"]:  # what it takes to find the cause: which event, which ids, when
            ids = {k for k, n in got.items() if n > 1}
            rec["dup_detail"] = [{"segment_id": e.get("segment_id"), "id": e.get("id"),
                                  "received": e.get("_received"), "connection": e.get("_conn")}
                                 for e in seen if e.get("segment_id") in ids and e.get("type") == "Results"]
        rec["summary"] = any(e.get("type") == "Summary" for e in seen)

    async def desktop(self, call_id: str, seen: list[dict], stop: asyncio.Event, seconds: float,
                      rec: dict) -> None:
        """Follow the call; drop the connection once mid-call and come back with `since`;
        give feedback on one suggestion; end at the summary (or when told)."""
        reconnect_at = time.time() + seconds * self.rng.uniform(0.3, 0.7)
        since = None
        fed = False
        rec["reconnects"] = 0
        rec["desk_errors"] = []
        while not stop.is_set():
            try:
                async with EventsClient(self.url, call_id, since=since, wait=since is None) as desk:
                    n = 0
                    while not stop.is_set():
                        await asyncio.sleep(0.5)
                        for e in desk.events[n:]:
                            e["_conn"] = rec["reconnects"]
                            if e.get("type") in ("Error",):
                                rec["desk_errors"].append(e.get("err_code") or e.get("code"))
                            if "id" in e:
                                since = e["id"]
                            seen.append(e)
                        n = len(desk.events)
                        if not fed:
                            sug = next((e for e in seen if e.get("suggestion_id")), None)
                            if sug is not None:
                                await desk.feedback(sug["suggestion_id"], self.rng.choice(["accept", "dismiss"]))
                                fed = True
                                rec["feedback"] = True
                        if any(e.get("type") == "Summary" for e in seen):
                            return
                        if rec["reconnects"] == 0 and time.time() >= reconnect_at and since is not None:
                            rec["since_at_reconnect"] = since
                            break  # drop the connection; the loop reconnects with since
                        if desk._reader is not None and desk._reader.done():
                            await asyncio.sleep(0.5)  # closed by the server (e.g. Redis gone): come back
                            break
                rec["reconnects"] += 1
            except Exception as e:  # noqa: BLE001
                rec["desk_errors"].append(repr(e)[:80])
                await asyncio.sleep(1.0)


def redis_cmd(port: int, *args: str) -> None:
    subprocess.run(["redis-cli", "-p", str(port), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_redis(port: int) -> None:
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
                    "--save", "", "--appendonly", "no"], check=True, stdout=subprocess.DEVNULL)
    for _ in range(50):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() == b"PONG":
            return
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=65)
    ap.add_argument("--calls", type=int, default=5, help="call slots kept busy (75 %% of the 7 stereo calls 2 cores hold)")
    ap.add_argument("--redis-restart-at", type=float, default=0.5, help="fraction of the run")
    ap.add_argument("--png", default=None, help="plot (default benchmarks/out/soak-DATE.png)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is needed (apt-get install redis-server)")
    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    png = Path(args.png or OUT / f"soak-{stamp}.png")
    json_out = Path(args.json_out or OUT / f"soak-{stamp}.json")

    rport = free_port()
    start_redis(rport)
    port = free_port()
    data_dir = f"/tmp/souffleur-soak-{port}"
    cmd = [sys.executable, "-m", "streaming.cli", "serve", "--port", str(port), "--data-dir", data_dir,
           "--redis-url", f"redis://127.0.0.1:{rport}/0"]
    log = open(OUT / f"soak-{stamp}.server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=_paths.ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    max_calls = (wait_ready(port) or {}).get("max_calls")
    ps = psutil.Process(proc.pid)
    pool = recordings()
    t0 = time.time()
    until = t0 + args.minutes * 60
    soak = Soak(f"ws://127.0.0.1:{port}", pool, until, t0)
    samples: list[tuple[float, float, float]] = []  # (t, rss MB, cpu %)
    restart = {"at_min": None, "down_s": None}

    async def run() -> None:
        async def sample():
            ps.cpu_percent()
            while time.time() < until:
                samples.append((time.time() - t0, ps.memory_info().rss / 2**20, ps.cpu_percent()))
                await asyncio.sleep(10)

        async def redis_restart():
            await asyncio.sleep(args.minutes * 60 * args.redis_restart_at)
            restart["at_min"] = round((time.time() - t0) / 60, 1)
            a = time.time()
            redis_cmd(rport, "shutdown", "nosave")
            await asyncio.sleep(3)
            await asyncio.to_thread(start_redis, rport)
            restart["down_s"] = round(time.time() - a, 1)

        await asyncio.gather(sample(), redis_restart(), *(soak.slot(i) for i in range(args.calls)))

    try:
        asyncio.run(run())
    finally:
        alive = proc.poll() is None
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(60)
        redis_cmd(rport, "shutdown", "nosave")
        log.close()

    minutes = int(args.minutes)
    per_min = []
    for m in range(minutes + 1):
        lat = [x for c in soak.calls for (t, x) in c.get("lat", []) if soak.minute(t) == m]
        rss = [r for t, r, _ in samples if int(t // 60) == m]
        cpu = [c for t, _, c in samples if int(t // 60) == m]
        ended = [c for c in soak.calls if "ended" in c and soak.minute(c["ended"]) == m]
        per_min.append({
            "minute": m, "rss_mb": round(float(np.median(rss)), 1) if rss else None,
            "cpu_pct": round(float(np.mean(cpu)), 1) if cpu else None,
            "finals": len(lat), "p50": pct(lat, 0.5), "p90": pct(lat, 0.9), "p99": pct(lat, 0.99),
            "calls_ended": len(ended), "lost": sum(c.get("lost", 0) for c in ended),
            "duplicated": sum(c.get("duplicated", 0) for c in ended),
            "refused": sum(1 for c in ended if c.get("refused")),
        })
    full = [p for p in per_min if p["rss_mb"] is not None]
    last30 = [p for p in full if p["minute"] >= max(1, minutes - 30)]
    slope = (round(float(np.polyfit([p["minute"] for p in last30], [p["rss_mb"] for p in last30], 1)[0]), 3)
             if len(last30) >= 3 else None)

    def window_p99(lo: int, hi: int) -> float | None:
        xs = [x for c in soak.calls for (t, x) in c.get("lat", []) if lo <= soak.minute(t) < hi]
        return pct(xs, 0.99)

    first10, last10 = window_p99(1, 11), window_p99(minutes - 10, minutes + 1)
    calls = soak.calls
    lat_all = [x for c in calls for _, x in c.get("lat", [])]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "gpu": None},
        "model": "bundled tiny.en int8 (default)", "minutes": args.minutes, "call_slots": args.calls,
        "max_calls": max_calls, "redis_restart": restart, "server_alive_at_end": alive,
        "calls": len(calls), "refused": sum(1 for c in calls if c.get("refused")),
        "exceptions": [c["exception"] for c in calls if "exception" in c][:20],
        "finals": sum(c.get("finals", 0) for c in calls), "lost": sum(c.get("lost", 0) for c in calls),
        "duplicated": sum(c.get("duplicated", 0) for c in calls),
        "summaries": sum(1 for c in calls if c.get("summary")),
        "feedback_sent": sum(1 for c in calls if c.get("feedback")),
        "reconnects": sum(c.get("reconnects", 0) for c in calls),
        "phone_errors": Counter(e for c in calls for e in c.get("errors", [])),
        "desk_errors": Counter(e for c in calls for e in c.get("desk_errors", [])),
        "close_codes": Counter(str(c.get("close_code")) for c in calls),
        "final_p50": pct(lat_all, 0.5), "final_p90": pct(lat_all, 0.9), "final_p99": pct(lat_all, 0.99),
        "p99_first10": first10, "p99_last10": last10,
        "p99_ratio": round(last10 / first10, 3) if first10 and last10 else None,
        "rss_start_mb": full[0]["rss_mb"] if full else None, "rss_end_mb": full[-1]["rss_mb"] if full else None,
        "rss_max_mb": max(p["rss_mb"] for p in full) if full else None,
        "rss_slope_last30_mb_per_min": slope,
        "per_minute": per_min,
        "duplicates": [{k: c.get(k) for k in ("call_id", "dup_detail", "since_at_reconnect")}
                       for c in calls if c.get("duplicated")],
    }
    result["verdicts"] = {
        "memory_slope_le_0.5": slope is not None and slope <= 0.5,
        "nothing_lost": result["lost"] == 0 and result["duplicated"] == 0,
        "p99_last10_within_20pct": result["p99_ratio"] is not None and result["p99_ratio"] <= 1.2,
    }
    json_out.write_text(json.dumps(result, indent=1))
    plot(result, png)
    print(f"{'min':>4} {'rss MB':>7} {'cpu %':>6} {'finals':>6} {'p50':>6} {'p90':>6} {'p99':>6} "
          f"{'ended':>5} {'lost':>4} {'dup':>4} {'refused':>7}")
    for p in per_min:
        print(f"{p['minute']:>4} {p['rss_mb'] or '-':>7} {p['cpu_pct'] or '-':>6} {p['finals']:>6} "
              f"{p['p50'] or '-':>6} {p['p90'] or '-':>6} {p['p99'] or '-':>6} {p['calls_ended']:>5} "
              f"{p['lost']:>4} {p['duplicated']:>4} {p['refused']:>7}")
    print(json.dumps({k: v for k, v in result.items() if k != "per_minute"}))
    print(f"wrote {json_out} and {png}")


def plot(result: dict, png: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    pm = [p for p in result["per_minute"] if p["rss_mb"] is not None]
    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    a.plot([p["minute"] for p in pm], [p["rss_mb"] for p in pm], color="tab:blue")
    a.set_ylabel("server RSS (MB)")
    a.set_title(f"Soak {result['date']}: {result['call_slots']} call slots, {result['calls']} calls, "
                f"{result['machine']['cpus']} CPUs; RSS slope last 30 min "
                f"{result['rss_slope_last30_mb_per_min']} MB/min", fontsize=9)
    for q, c in (("p50", "tab:green"), ("p90", "tab:orange"), ("p99", "tab:red")):
        b.plot([p["minute"] for p in pm if p[q]], [p[q] for p in pm if p[q]], label=q, color=c)
    b.set_ylabel("final latency (s)")
    b.set_xlabel("minute")
    b.legend(loc="upper right", fontsize=8)
    if result["redis_restart"]["at_min"] is not None:
        for ax in (a, b):
            ax.axvline(result["redis_restart"]["at_min"], color="grey", linestyle="--", linewidth=1)
        b.text(result["redis_restart"]["at_min"], b.get_ylim()[1] * 0.9, " Redis restarted", fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)


if __name__ == "__main__":
    main()
