"""What the server benchmarks share: a free port, percentiles, and `souffleur serve` as a
separate process whose CPU time and peak memory are measured while calls run."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))], 3)


def wait_ready(port: int, tries: int = 1200) -> dict | None:
    """`/readyz` of a server just started (its JSON), or None if it never answered."""
    import json

    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                return json.load(r)
        except OSError:
            time.sleep(0.1)
    return None


def pyplot():
    """matplotlib's pyplot, headless, or None (`pip install 'souffleur[bench]'`)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'souffleur[bench]')")
        return None
    return plt


def offline_model(name: str | None = None):
    """The offline reference: plain faster-whisper with the model the server is given
    (`bundled`, `bundled-base`, a name or a path, resolved as the server resolves it)."""
    from faster_whisper import WhisperModel

    from streaming.asr.models import resolve_model

    return WhisperModel(resolve_model(name), device="cpu", compute_type="int8", cpu_threads=2)


def serve_flags(args, *names: str) -> list[str]:
    """`--workers N --model M ...` for the flags a benchmark was given."""
    return [x for n in names if getattr(args, n, None) for x in (f"--{n}", str(getattr(args, n)))]


class ServerProcess:
    """`souffleur serve` on a free port; `cpu_seconds()` and `peak_rss` while it runs."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "streaming.cli", "serve", "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(cmd, cwd=root, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        self.ps = psutil.Process(self.proc.pid)
        t = self.ps.cpu_times()
        self._cpu0 = t.user + t.system
        self.peak_rss = self.ps.memory_info().rss
        self._sampling = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system - self._cpu0

    async def sample_rss(self) -> None:
        """Track peak RSS every 250 ms until `stop_sampling()`."""
        self._sampling = True
        while self._sampling:
            self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            await asyncio.sleep(0.25)

    def stop_sampling(self) -> None:
        self._sampling = False

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
