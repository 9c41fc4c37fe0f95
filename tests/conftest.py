"""Shared fixtures: the real model (loaded once), real servers in threads, real speech.

Speech comes from the recordings in tests/data (see tests/data/ATTRIBUTION.md), from
espeak-ng and from the Piper neural voice (tests/voices.py); nothing outside the checkout
is read. Servers run in a background thread with their own event loop, so a test talks
to them over real websockets exactly like a softphone would.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import streaming  # noqa: F401  (BLAS thread limits before numpy loads)
from streaming.audio.files import load_audio
from streaming.options import AsrOptions, SegmenterOptions, ServerOptions

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # the test corpus, in the checkout (tests/data/ATTRIBUTION.md)
AUDIO = DATA / "audio"


@pytest.fixture(scope="session")
def recognizer():
    from streaming.asr.whisper import WhisperRecognizer

    return WhisperRecognizer(AsrOptions(workers=2))


class ServerThread:
    """A SouffleurServer running on its own loop in a daemon thread."""

    def __init__(self, server) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("server did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def call(self, coro):
        """Run a coroutine on the server's loop (to inspect state safely)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return  # already stopped (a test may stop its server itself)
        fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop)
        try:
            fut.result(60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture
def server_factory(recognizer, tmp_path) -> Iterator[Callable[..., ServerThread]]:
    from streaming.service.server import SouffleurServer

    started: list[ServerThread] = []

    def make(*, recognizer_=None, segmenter: SegmenterOptions | None = None, assist: bool = True,
             bus=None, auth=None, **opts) -> ServerThread:
        options = replace(ServerOptions(port=0, data_dir=str(tmp_path / "data")), **opts)
        server = SouffleurServer(
            options,
            AsrOptions(workers=2),
            segmenter,
            recognizer=recognizer_ or recognizer,
            bus=bus,
            auth=auth,
            **({} if assist else {"assist_factory": None}),
        )
        t = ServerThread(server)
        started.append(t)
        return t

    yield make
    for t in started:
        t.stop()


@pytest.fixture
def server(server_factory) -> ServerThread:
    return server_factory()


def espeak(text: str, voice: str = "en-us", speed: int = 150) -> tuple[np.ndarray, int]:
    """Synthesise real (robotic) speech with espeak-ng: (samples x 1 float32, rate)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run([exe, "-v", voice, "-s", str(speed), "--stdout", text],
                         check=True, capture_output=True).stdout
    import io

    import soundfile as sf

    x, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return x, rate


def piper(text: str, pitch: float = 1.0) -> tuple[np.ndarray, int]:
    """Synthesise neural speech with the Piper voice (tests/voices.py): (samples x 1 float32, 16000).

    Shaped like `espeak` so a test can swap one for the other; pitch > 1 is a second speaker.
    """
    pytest.importorskip("piper", reason="piper-tts is in the [test] extras")
    from tests.voices import RATE, piper_speech

    return piper_speech(text, pitch=pitch)[:, None], RATE


def silence(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    return np.zeros((int(seconds * rate), channels), np.float32)


def clip(name: str) -> tuple[np.ndarray, int, str]:
    """A recording under tests/data/audio with its reference transcript (NAME.txt beside it)."""
    path = AUDIO / name
    audio, rate = load_audio(path)
    ref = path.with_suffix(".txt")
    return audio, rate, ref.read_text(encoding="utf-8").strip() if ref.exists() else ""


def run(coro):
    return asyncio.run(coro)


class LiveFeed:
    """What a desktop following a call receives (the events as said), read in process
    from a test server's bus. The call's kept log (`bus.history`) is redacted; this is
    the feed the overlay shows. Subscribe before the call starts."""

    def __init__(self, srv: ServerThread, call_id: str) -> None:
        self.srv = srv
        self.sub = srv.call(srv.server.bus.subscribe(call_id, "$"))
        self.events: list[dict] = []

    def read(self) -> list[dict]:
        async def take() -> list[dict]:
            out = []
            while not self.sub.queue.empty():
                e = self.sub.queue.get_nowait()
                if e is not None:
                    out.append(e)
            return out

        self.events += self.srv.call(take())
        return self.events
