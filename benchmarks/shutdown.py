"""Rolling restarts: how long `souffleur serve` takes to exit after SIGTERM, and what its
clients see (close code, reason, what was still transcribed).

Each scenario starts a fresh node (a real `souffleur serve` process, optionally on a
shared Redis under its own key prefix) and sends it SIGTERM:

* idle: nothing connected;
* waiting desktop: one desktop subscribed with `wait=true` to a call that has not started;
* live: `--calls` softphones streaming a recording in real time, each with a desktop
  on the node; SIGTERM after `--after` seconds of audio.

Times are from the signal to the process's exit, to each desktop's close and to each
softphone's close; `finals_after` counts the finals a softphone received after the
signal (audio already received, still transcribed).

    python benchmarks/shutdown.py --redis-url redis://127.0.0.1:6379/0 --grace 8 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from typing import Any

import _paths  # noqa: F401
from _serve import free_port

import streaming  # noqa: F401
from streaming.client import listen_url, prepare_file, stream_frames

RECORDING = _paths.ROOT / "tests" / "data" / "audio" / "long" / "ljspeech_LJ001-0001_0016_concat.flac"


class Node:
    def __init__(self, args: argparse.Namespace) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "SOUFFLEUR_REDIS_PREFIX": f"souffleur-bench:{uuid.uuid4().hex[:8]}:"}
        if args.grace is not None:
            env["SOUFFLEUR_SHUTDOWN_GRACE_S"] = str(args.grace)
        extra = ["--redis-url", args.redis_url] if args.redis_url else []
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (lives as long as the node)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streaming.cli", "serve", "--port", str(self.port), "--workers",
             str(args.workers), *extra],
            cwd=_paths.ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit("the node did not start") from None
                time.sleep(0.2)
        raise SystemExit("the node did not start in time")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def terminate(self) -> float:
        """Send SIGTERM; returns the monotonic time it was sent."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        return t

    async def exited(self, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.proc.poll() is None:
            self.proc.kill()
        return time.monotonic()

    def unfinished(self) -> bool:
        """Whether the node logged calls it could not finish within the grace period."""
        self.log.seek(0)
        return "grace period over" in self.log.read()


async def desktop(url: str, call_id: str, closed: dict[str, Any]) -> None:
    """A desktop that records when and how the node closed it."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(f"{url}/v1/calls/{call_id}/events?wait=true", max_size=None) as ws:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                closed.setdefault("events", 0)
                closed["events"] += 1
                if json.loads(raw).get("type") == "Error":
                    closed["error"] = json.loads(raw).get("err_code")
        closed.update(at=time.monotonic(), code=ws.close_code, reason=ws.close_reason)


async def idle(args: argparse.Namespace) -> dict[str, Any]:
    node = Node(args)
    t0 = node.terminate()
    return {"scenario": "idle", "exit_s": round(await node.exited() - t0, 2)}


async def waiting_desktop(args: argparse.Namespace) -> dict[str, Any]:
    node = Node(args)
    closed: dict[str, Any] = {}
    task = asyncio.create_task(desktop(node.url, f"not-yet-{uuid.uuid4().hex[:6]}", closed))
    await asyncio.sleep(1.0)
    t0 = node.terminate()
    t_exit = await node.exited()
    await asyncio.wait_for(task, 10)
    return {"scenario": "waiting desktop", "exit_s": round(t_exit - t0, 2),
            "desktop_close_s": round(closed["at"] - t0, 2), "desktop_code": closed["code"],
            "desktop_reason": closed["reason"]}


async def live(args: argparse.Namespace) -> dict[str, Any]:
    node = Node(args)
    frames, fmt = prepare_file(args.file)
    calls = [f"shutdown-{i}-{uuid.uuid4().hex[:6]}" for i in range(args.calls)]
    desks = [{} for _ in calls]
    d_tasks = [asyncio.create_task(desktop(node.url, c, d)) for c, d in zip(calls, desks, strict=True)]
    await asyncio.sleep(0.5)
    phones = [asyncio.create_task(stream_frames(listen_url(node.url, call_id=c, **fmt), frames, realtime=True))
              for c in calls]
    await asyncio.sleep(args.after)
    t0 = node.terminate()
    sent_at = time.time()
    t_exit = await node.exited()
    results = await asyncio.gather(*phones)
    await asyncio.gather(*d_tasks, return_exceptions=True)
    phone_close = [max((m["_received"] for m in r.messages), default=sent_at) - sent_at for r in results]
    # when each call was cut (its SHUTTING_DOWN error) and how long what it had sent took to flush
    cut = [next((m["_received"] for m in r.of_type("Error") if m["err_code"] == "SHUTTING_DOWN"), None)
           for r in results]
    flush = [close - (c - sent_at) for close, c in zip(phone_close, cut, strict=True) if c is not None]
    return {
        "scenario": f"live ({args.calls} calls)", "exit_s": round(t_exit - t0, 2),
        "desktop_close_s": round(max(d.get("at", t_exit) for d in desks) - t0, 2),
        "desktop_code": sorted({d.get("code") for d in desks}),
        "desktop_reason": desks[0].get("reason"),
        "phone_close_s": round(max(phone_close), 2),
        "cut_s": round(max(c - sent_at for c in cut if c is not None), 2) if any(cut) else None,
        "flush_s": round(max(flush), 2) if flush else None,
        "phone_code": sorted({r.close_code for r in results}),
        "phone_errors": sorted({e["err_code"] for r in results for e in r.of_type("Error")}),
        "finals_after": [sum(1 for m in r.finals() if m["_received"] > sent_at) for r in results],
        "audio_sent_s": round(max(len(r.sent_at) for r in results) * 0.02, 1),
        "unfinished": node.unfinished(),
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    chosen = {"idle": idle, "waiting": waiting_desktop, "live": live}
    for scenario in [chosen[args.only]] if args.only else chosen.values():
        for _ in range(args.runs):
            out.append(await scenario(args))
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--redis-url", help="a shared Redis (default: the embedded bus)")
    p.add_argument("--grace", type=float, help="SOUFFLEUR_SHUTDOWN_GRACE_S for the node")
    p.add_argument("--calls", type=int, default=2)
    p.add_argument("--after", type=float, default=10.0, help="seconds of the call before SIGTERM")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--file", default=str(RECORDING), help="the live calls' recording (default: 111 s of "
                   "LJSpeech, mono; e.g. ../shared/assist/dev_en_01.stereo16k.flac for a stereo call)")
    p.add_argument("--only", choices=["idle", "waiting", "live"], help="one scenario")
    p.add_argument("--workers", type=int, default=1, help="inference workers of the node")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = asyncio.run(main(args))
    print(f"{'scenario':<18} {'exit s':>7} {'desktop close s':>16} {'desktop code':>13} "
          f"{'phone close s':>14} {'phone code':>11} {'cut s':>6} {'flush s':>8}  finals after SIGTERM")
    for r in rows:
        print(f"{r['scenario']:<18} {r['exit_s']:>7} {r.get('desktop_close_s', '-'):>16} "
              f"{str(r.get('desktop_code', '-')):>13} {r.get('phone_close_s', '-'):>14} "
              f"{str(r.get('phone_code', '-')):>11} {str(r.get('cut_s', '-')):>6} {str(r.get('flush_s', '-')):>8}  "
              f"{r.get('finals_after', '-')}{' (some not finished in time)' if r.get('unfinished') else ''}")
    if args.json:
        print(json.dumps(rows, indent=1))
