"""A small Python client: what a softphone plugin and an agent desktop do.

`stream_file` streams a recording to `/v1/listen` paced in real time (or as
fast as possible) and collects the server's messages; `subscribe` follows a
call's event stream. Tests, benchmarks and the CLI all reuse these.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from streaming.audio.codecs import encode_samples, resample
from streaming.audio.files import RAW_ENCODINGS, load_audio


@dataclass
class StreamResult:
    messages: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    sent_at: list[float] = field(default_factory=list)  # wall time each frame was sent
    started: float = 0.0

    def of_type(self, t: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == t]

    def finals(self) -> list[dict[str, Any]]:
        return [m for m in self.of_type("Results") if m.get("is_final")]

    def transcript(self, channel: int | None = None) -> str:
        parts = []
        for m in self.finals():
            if channel is None or m["channel_index"][0] == channel:
                t = m["channel"]["alternatives"][0]["transcript"]
                if t:
                    parts.append(t)
        return " ".join(parts)


def listen_url(base: str, **params: Any) -> str:
    q = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
    return f"{base.rstrip('/')}/v1/listen?{urlencode(q)}"


def prepare_file(path: str | Path, encoding: str = "linear16") -> tuple[list[bytes], dict[str, Any]]:
    """Load a recording, encode it and cut it into 20 ms frames with its stream params."""
    p = Path(path)
    raw = RAW_ENCODINGS.get(p.suffix.lower())
    if raw is not None and encoding == "linear16":
        # Send headerless G.711 as it is: that is what a softphone would do.
        data = p.read_bytes()
        frame = 160
        frames = [data[i : i + frame] for i in range(0, len(data), frame)]
        return frames, {"encoding": raw, "sample_rate": 8000, "channels": 1}
    audio, rate = load_audio(p)
    if rate < 8000 or rate > 48000:
        audio = np.stack([resample(audio[:, c], rate) for c in range(audio.shape[1])], axis=1)
        rate = 16000
    return audio_frames(audio, rate, encoding), {
        "encoding": encoding, "sample_rate": rate, "channels": audio.shape[1]}


def audio_frames(audio: np.ndarray, rate: int, encoding: str = "linear16", frame_ms: int = 20) -> list[bytes]:
    x = audio if audio.ndim == 2 else audio[:, None]
    step = rate * frame_ms // 1000
    return [encode_samples(x[i : i + step].reshape(-1), encoding) for i in range(0, x.shape[0], step)]


async def stream_frames(
    url: str,
    frames: list[bytes],
    *,
    frame_seconds: float = 0.02,
    realtime: bool = True,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    close_stream: bool = True,
    headers: dict[str, str] | None = None,
    speed: float = 1.0,
) -> StreamResult:
    """Send frames (paced like a live call when `realtime`), collect every reply."""
    res = StreamResult()
    async with connect(url, max_size=None, additional_headers=headers, compression=None) as ws:
        reader = asyncio.create_task(_collect(ws, res, on_message))
        res.started = time.time()
        t0 = time.monotonic()
        try:
            for i, f in enumerate(frames):
                if realtime:
                    delay = t0 + i * frame_seconds / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await ws.send(f)
                res.sent_at.append(time.time())
            if close_stream:
                await ws.send(json.dumps({"type": "CloseStream"}))
        except ConnectionClosed:
            pass
        await reader
    return res


async def _collect(ws: ClientConnection, res: StreamResult, on_message) -> None:
    try:
        async for raw in ws:
            msg = json.loads(raw)
            msg["_received"] = time.time()
            res.messages.append(msg)
            if on_message:
                on_message(msg)
    except ConnectionClosed:
        pass
    res.close_code = ws.close_code
    res.close_reason = ws.close_reason or ""


async def stream_file(
    base_url: str,
    path: str | Path,
    *,
    realtime: bool = True,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    speed: float = 1.0,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> StreamResult:
    frames, fmt = prepare_file(path, params.pop("encoding", "linear16"))
    params = {"interim_results": True, "vad_events": True, "utterance_end_ms": 1000, **fmt, **params}
    frame_s = 0.02
    if not realtime:  # as fast as the server takes it: 250 ms frames, not 50 tiny ones a second
        frames = [b"".join(frames[i:i + 12]) for i in range(0, len(frames), 12)]
        frame_s = 0.24
    return await stream_frames(listen_url(base_url, **params), frames, frame_seconds=frame_s,
                               realtime=realtime, on_message=on_message, speed=speed, headers=headers)


async def subscribe(
    base_url: str, call_id: str, since: str | None = None, *, wait: bool = False,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield a call's events (history after `since`, then live) until the server closes."""
    q = {k: v for k, v in (("since", since), ("wait", "true" if wait else None)) if v}
    url = f"{base_url.rstrip('/')}/v1/calls/{call_id}/events" + (f"?{urlencode(q)}" if q else "")
    async with connect(url, max_size=None, additional_headers=headers) as ws:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                yield json.loads(raw)


class EventsClient:
    """An agent desktop: follows a call's events and sends feedback."""

    def __init__(self, base_url: str, call_id: str, since: str | None = None, wait: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        q = {k: v for k, v in (("since", since), ("wait", "true" if wait else None)) if v}
        self.url = f"{base_url.rstrip('/')}/v1/calls/{call_id}/events" + (f"?{urlencode(q)}" if q else "")
        self.headers = headers
        self.events: list[dict[str, Any]] = []
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._new = asyncio.Event()

    async def __aenter__(self) -> EventsClient:
        self.ws = await connect(self.url, max_size=None, additional_headers=self.headers)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                e = json.loads(raw)
                e["_received"] = time.time()
                self.events.append(e)
                self._new.set()

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        """The first event (already received or coming) matching `pred`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0 or (self._reader is not None and self._reader.done()):
                raise TimeoutError("no matching event")
            self._new.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new.wait(), timeout=left)

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(msg))

    async def feedback(self, suggestion_id: str, action: str, value: str | None = None) -> None:
        await self.send({"type": "Feedback", "suggestion_id": suggestion_id, "action": action,
                         "value": value})
