"""Real processes for the multi-node tests: `souffleur serve` nodes and private Redis servers.

Nodes are started exactly as an operator would (`python -m streaming.cli serve
--port P --redis-url URL`), each with its own key prefix so tests never see each
other's calls. A private `redis-server` (own port, append-only file) is used
where a test kills and restarts Redis; the shared one on 6379 is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_up(url: str = SHARED_REDIS) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def need_redis() -> None:
    if not redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379 (scripts/test.sh starts it)")


def wait_until(pred, timeout: float = 60.0, every: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def http_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


class Node:
    """One `souffleur serve` process."""

    def __init__(self, redis_url: str, prefix: str, tmp: Path, name: str, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.name = name
        self.prefix = prefix
        self.redis_url = redis_url
        env = {**os.environ, "SOUFFLEUR_REDIS_PREFIX": prefix, "SOUFFLEUR_DATA_DIR": str(tmp / f"data-{name}"),
               "PYTHONUNBUFFERED": "1", **(env or {})}
        for k in ("SOUFFLEUR_API_KEYS", "SOUFFLEUR_TOKEN_SECRET"):
            env.pop(k, None)
        self.log_path = tmp / f"node-{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streaming.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--redis-url", redis_url, "--workers", "1", *extra],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited {self.proc.returncode}:\n{self.log()}")
            try:
                return http_json(self.http + "/healthz")[0] == 200
            except OSError:
                return False

        wait_until(up, timeout, 0.2, f"node {self.name}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@contextlib.contextmanager
def nodes(n: int, tmp: Path, redis_url: str = SHARED_REDIS, *extra: str,
          env: dict[str, str] | None = None) -> Iterator[list[Node]]:
    """`n` nodes sharing one Redis under a fresh key prefix; keys are removed afterwards."""
    prefix = f"souffleur-test:{uuid.uuid4().hex[:8]}:"
    started = [Node(redis_url, prefix, tmp, chr(ord("A") + i), *extra, env=env) for i in range(n)]
    try:
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.stop()
        with contextlib.suppress(Exception):
            drop_keys(redis_url, prefix)


def drop_keys(url: str, prefix: str) -> None:
    import redis

    r = redis.Redis.from_url(url, socket_connect_timeout=1)
    keys = list(r.scan_iter(match=prefix + "*", count=500))
    if keys:
        r.delete(*keys)
    r.close()


class PrivateRedis:
    """A redis-server of the test's own, which may be killed and restarted.

    Append-only with fsync on every write: what Redis acknowledged survives a
    SIGKILL, as in a production setup that cares about call logs.
    """

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.exe = exe
        self.port = free_port()
        self.dir = tmp / f"redis-{self.port}"
        self.dir.mkdir()
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_up(self.url), 20, 0.05, "private redis-server")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def stereo_call(turns: list[tuple[str, str]], gap: float = 0.7) -> tuple[np.ndarray, int]:
    """A two-channel call from espeak turns: (speaker, text), agent left, customer right."""
    audio, rate, _ = timed_stereo_call(turns, gap)
    return audio, rate


def timed_stereo_call(turns: list[tuple[str, str]], gap: float = 0.7
                      ) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """`stereo_call` and where each turn's speech starts and ends (s): what a test may
    expect to be transcribed when only part of the call was sent."""
    from tests.conftest import espeak

    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    rate, at = 22050, 0
    for who, text in turns:
        x, rate = espeak(text)
        mono = x[:, 0]
        ch = np.zeros((mono.size + int(gap * rate), 2), np.float32)
        ch[: mono.size, 0 if who == "agent" else 1] = mono
        pieces.append(ch)
        spans.append((at / rate, (at + mono.size) / rate))
        at += ch.shape[0]
    pieces.append(np.zeros((int(1.5 * rate), 2), np.float32))
    return np.concatenate(pieces), rate, spans


def durable(events: list[dict]) -> list[dict]:
    return [e for e in events if "id" in e and e.get("type") not in ("CallState", "Error")]
