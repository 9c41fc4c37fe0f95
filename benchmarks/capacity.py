"""Capacity ramp: how many real-time stereo calls one node holds, on this machine.

Starts `souffleur serve` with admission switched off (`--max-calls` far above the ramp),
then adds `--step` calls every `--step-seconds`: each streams a stereo recording in real
time (20 ms frames, looping), with a desktop following the call's events. After each step
it measures, over the step's settled part, final-word latency (wall time from sending the
audio at a final's end to receiving the final), whether a call fell behind (its latency
rising through the step), the server's CPU (per call too), RSS and, when `nvidia-smi` is
there, GPU utilisation and memory. It stops at the first step where final p90 passes
`--p90-limit` or a call falls behind; the level before it is the capacity.

Writes JSON (date and machine included) and a plot, prints a table.

    python benchmarks/capacity.py                          # CPU, tiny.en int8, 2 cores
    python benchmarks/capacity.py --model bundled-base --device cuda --compute-type float16 \\
        --start 20 --step 20 --max 400                     # a GPU
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import _paths  # noqa: F401  (benchmarks/streaming.py shadows the package otherwise)
import numpy as np
import psutil
from _serve import free_port, pct, pyplot, wait_ready
from corpus import SHARED
from soak import recordings
from websockets.asyncio.client import connect

import streaming  # noqa: F401,I001  (BLAS thread limits before numpy loads)
from streaming.audio.files import load_audio
from streaming.client import EventsClient, audio_frames, listen_url

OUT = Path(__file__).resolve().parent / "out"


class Call:
    """A softphone looping its recording in real time until told to stop, and its desktop."""

    def __init__(self, i: int, url: str, frames: list[bytes], rate: int, language: str | None = None) -> None:
        self.i, self.url, self.frames, self.rate, self.language = i, url, frames, rate, language
        self.call_id = f"cap-{i}-{int(time.time() * 1000)}"
        self.sent: list[float] = []  # wall time each frame was sent
        self.finals: list[tuple[float, float]] = []  # (received, latency)
        self.close_code: int | None = None
        self.errors: list[str] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        q = dict(encoding="linear16", sample_rate=self.rate, channels=2, multichannel=True,
                 call_id=self.call_id, interim_results=True)
        if self.language:
            q["language"] = self.language
        async with EventsClient(self.url, self.call_id, wait=True), \
                connect(listen_url(self.url, **q), max_size=None, compression=None) as ws:
            reader = asyncio.create_task(self._read(ws))
            t0 = time.monotonic()
            n = 0
            with contextlib.suppress(Exception):
                while not self.stop.is_set() and not reader.done():
                    delay = t0 + n * 0.02 - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await ws.send(self.frames[n % len(self.frames)])
                    self.sent.append(time.time())
                    n += 1
                await ws.send(json.dumps({"type": "CloseStream"}))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader, 60)

    async def _read(self, ws) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                m = json.loads(raw)
                now = time.time()
                if m.get("type") == "Error":
                    self.errors.append(m.get("err_code"))
                if m.get("type") != "Results" or not m.get("is_final"):
                    continue
                if not m["channel"]["alternatives"][0]["words"]:
                    continue
                k = min(len(self.sent) - 1, int((m["start"] + m["duration"]) / 0.02))
                if k >= 0:
                    self.finals.append((now, now - self.sent[k]))
        self.close_code = ws.close_code


def dutch_read_calls(n_calls: int = 3, rate: int = 16000) -> list[tuple[str, list[bytes], int]]:
    """Stereo "calls" of real Dutch speech: the 99 read clips of `../shared/audio_nl` (CC0,
    16 kHz), the NL speaker on the left, the Flemish one on the right, in turns of one to
    three clips (0.3 s apart), 0.4-1.2 s between turns, never overlapping. Read sentences,
    not a conversation, but real voices: the espeak-ng dev calls make base hallucinate and
    fall back to sampling far more than people would."""
    import random

    clips = {"L": [], "R": []}
    for f in sorted((SHARED / "audio_nl").glob("*.flac")):
        audio, r = load_audio(f)
        assert r == rate, f
        clips["L" if f.name.startswith("nathalie") else "R"].append(audio.reshape(-1))
    rng = random.Random(13)
    for side in clips.values():
        rng.shuffle(side)
    calls = []
    for c in range(n_calls):
        left = clips["L"][c::n_calls]
        right = clips["R"][c::n_calls]
        pieces: list[np.ndarray] = [np.zeros((int(0.6 * rate), 2), np.float32)]
        side = 0
        while left or right:
            src = (left, right)[side] or (right, left)[side]
            ch = side if (left, right)[side] else 1 - side
            for _ in range(min(len(src), rng.randint(1, 3))):
                x = src.pop()
                turn = np.zeros((x.size + int(0.3 * rate), 2), np.float32)
                turn[: x.size, ch] = x
                pieces.append(turn)
            pieces.append(np.zeros((int(rng.uniform(0.4, 1.2) * rate), 2), np.float32))
            side = 1 - side
        audio = np.concatenate(pieces)
        calls.append((f"audio_nl-call-{c + 1}", audio_frames(audio, rate), rate))
    return calls


def decode_busy(port: int) -> dict[str, float]:
    """Seconds of model time so far per kind (interim, final, record), from `/readyz`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return json.load(r).get("decode_busy_s", {})
    except OSError as e:  # 503 while overloaded still carries the JSON
        body = getattr(e, "read", None)
        return json.loads(body()).get("decode_busy_s", {}) if body else {}


def gpu_sample() -> dict | None:
    if not shutil.which("nvidia-smi"):
        return None
    r = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                        "--format=csv,noheader,nounits"], capture_output=True, text=True)
    try:
        util, mem = r.stdout.strip().splitlines()[0].split(",")
        return {"util_pct": float(util), "mem_mb": float(mem)}
    except (ValueError, IndexError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--compute-type", default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--language", default=None, help="nl: the Dutch dev calls, language=nl (needs a multilingual model)")
    ap.add_argument("--dutch-read", action="store_true",
                    help="with --language nl: calls made of the real read Dutch clips (../shared/audio_nl) "
                         "instead of the espeak-ng dev calls")
    ap.add_argument("--start", type=int, default=4)
    ap.add_argument("--step", type=int, default=1)
    ap.add_argument("--max", type=int, default=24, help="stop the ramp here")
    ap.add_argument("--step-seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=20, help="seconds of each step not measured")
    ap.add_argument("--p90-limit", type=float, default=2.0)
    ap.add_argument("--png", default=None)
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    tag = "-".join(str(x) for x in (args.model or "bundled", args.device or "cpu", args.compute_type or "int8",
                                    args.language or "en")) + ("-read" if args.dutch_read else "")
    stamp = time.strftime("%Y-%m-%d")
    png = Path(args.png or OUT / f"capacity-{tag}-{stamp}.png")
    json_out = Path(args.json_out or OUT / f"capacity-{tag}-{stamp}.json")

    port = free_port()
    cmd = [sys.executable, "-m", "streaming.cli", "serve", "--port", str(port), "--max-calls", "100000",
           "--data-dir", f"/tmp/souffleur-capacity-{port}"]
    for flag in ("model", "device", "compute_type", "workers"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    proc = subprocess.Popen(cmd, cwd=_paths.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wait_ready(port)
    ps = psutil.Process(proc.pid)
    url = f"ws://127.0.0.1:{port}"
    pool = dutch_read_calls() if args.dutch_read else recordings(args.language or "en")
    steps: list[dict] = []

    async def ramp() -> None:
        calls: list[Call] = []
        tasks: list[asyncio.Task] = []
        n = args.start
        while n <= args.max:
            while len(calls) < n:
                name_frames_rate = pool[len(calls) % len(pool)]
                c = Call(len(calls), url, name_frames_rate[1], name_frames_rate[2], args.language)
                calls.append(c)
                tasks.append(asyncio.create_task(c.run()))
                await asyncio.sleep(0.2)
            t_start = time.time()
            await asyncio.sleep(args.settle)
            ps.cpu_percent()
            busy0 = await asyncio.to_thread(decode_busy, port)
            gpus = []
            t_meas = time.time()
            while time.time() < t_start + args.step_seconds:
                await asyncio.sleep(2)
                g = gpu_sample()
                if g:
                    gpus.append(g)
            cpu = ps.cpu_percent()
            t_end = time.time()
            busy1 = await asyncio.to_thread(decode_busy, port)
            # model time per kind over the measured part of the step, as a share of wall time
            # (2.0 = two workers busy all the time): what the node's compute goes to
            model_load = {k: round((busy1.get(k, 0.0) - busy0.get(k, 0.0)) / (t_end - t_meas), 2)
                          for k in busy1}
            lat = [x for c in calls for (t, x) in c.finals if t_meas <= t < t_end]
            behind = 0
            for c in calls:
                xs = [(t, x) for (t, x) in c.finals if t_meas <= t < t_end]
                if len(xs) >= 6:
                    half = len(xs) // 2
                    if np.median([x for _, x in xs[half:]]) - np.median([x for _, x in xs[:half]]) > 1.0:
                        behind += 1
            dead = sum(1 for c in calls if c.close_code not in (None, 1000))
            row = {"calls": n, "finals": len(lat), "p50": pct(lat, 0.5), "p90": pct(lat, 0.9),
                   "p99": pct(lat, 0.99), "fell_behind": behind, "closed_early": dead,
                   "errors": sorted({e for c in calls for e in c.errors}),
                   "cpu_pct": round(cpu, 1), "cpu_pct_per_call": round(cpu / n, 1),
                   "rss_mb": round(ps.memory_info().rss / 2**20),
                   "gpu_util_pct": round(float(np.mean([g["util_pct"] for g in gpus])), 1) if gpus else None,
                   "gpu_mem_mb": max(g["mem_mb"] for g in gpus) if gpus else None,
                   "model_busy": model_load}
            steps.append(row)
            print(json.dumps(row), flush=True)
            if row["p90"] is None or row["p90"] > args.p90_limit or behind or dead:
                break
            n += args.step
        for c in calls:
            c.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(ramp())
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
    held = [s for s in steps if s["p90"] is not None and s["p90"] <= args.p90_limit
            and not s["fell_behind"] and not s["closed_early"]]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "gpu": (subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                           capture_output=True, text=True).stdout.strip()
                            if shutil.which("nvidia-smi") else None)},
        "model": args.model or "bundled", "device": args.device or "cpu", "language": args.language or "en",
        "calls_from": "audio_nl read clips" if args.dutch_read else "dev calls / recordings",
        "compute_type": args.compute_type or "int8", "p90_limit": args.p90_limit,
        "capacity": held[-1]["calls"] if held else 0,
        "stopped_by": (None if not steps or steps[-1] in held else
                       {k: steps[-1][k] for k in ("calls", "p90", "fell_behind", "closed_early")}),
        "steps": steps,
    }
    json_out.write_text(json.dumps(result, indent=1))
    plot(result, png)
    print(f"{'calls':>5} {'p50':>6} {'p90':>6} {'p99':>6} {'behind':>6} {'cpu %':>6} {'cpu/call':>8} {'rss MB':>6}")
    for s in steps:
        print(f"{s['calls']:>5} {s['p50'] or '-':>6} {s['p90'] or '-':>6} {s['p99'] or '-':>6} "
              f"{s['fell_behind']:>6} {s['cpu_pct']:>6} {s['cpu_pct_per_call']:>8} {s['rss_mb']:>6}")
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}))
    print(f"wrote {json_out} and {png}")


def plot(result: dict, png: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    st = [s for s in result["steps"] if s["p90"] is not None]
    fig, ax = plt.subplots(figsize=(8, 4))
    for q, c in (("p50", "tab:green"), ("p90", "tab:orange"), ("p99", "tab:red")):
        ax.plot([s["calls"] for s in st], [s[q] for s in st], marker="o", label=q, color=c)
    ax.axhline(result["p90_limit"], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("concurrent real-time stereo calls")
    ax.set_ylabel("final latency (s)")
    ax.set_title(f"Capacity {result['date']}: {result['model']} {result['device']} {result['compute_type']}, "
                 f"{result['machine']['cpus']} CPUs{', ' + result['machine']['gpu'] if result['machine']['gpu'] else ''}"
                 f" -> {result['capacity']} calls", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)


if __name__ == "__main__":
    main()
