"""A whole recording through one `CallSession` on the server's shared scheduler.

This is the batch engine's path (`streaming/batch/engine.py`), run on the event
loop of the server instead of a driver thread, so a pre-recorded request uses
the model the live calls use and loads nothing of its own: no early commits
and no live finals, each utterance decoded once, whole, as its transcript of
record (beam search, the channel's earlier text as prompt), exactly as a live
call's `Record` is. (`streaming.batch` sits above `service` in the layers, so
this module re-states its two settings rather than import them.)

Live calls come first: the session is marked faster than real time, so the
shared scheduler serves its decodes only when no real-time request (record,
final or interim of a live call) waits; a decode already running is not
interrupted. Audio is read only a little ahead of what has been decoded, so a
long upload holds `LOOKAHEAD_S` of audio in memory, not the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from streaming.asr.base import DecodeRequest
from streaming.asr.scheduler import InferenceScheduler
from streaming.audio.files import AudioStream
from streaming.live.session import CallSession, Close, Out, Send
from streaming.options import SegmenterOptions, StreamOptions

FEED_S = 0.5  # audio per receive_audio call, as the batch engine feeds it
LOOKAHEAD_S = 60.0  # audio read ahead of the decodes (memory stays bounded for hours of audio)


def recording_segmenter(base: SegmenterOptions) -> SegmenterOptions:
    """The batch engine's chunking: every utterance decoded once, as a record; no interims."""
    return replace(base, early_commit=False, live_finals=False, record=True)


def recording_options(stream: AudioStream, *, multichannel: bool, language: str | None,
                      call_id: str, roles: tuple[str, ...], keyterms: tuple[str, ...] = ()) -> StreamOptions:
    return StreamOptions(encoding=stream.encoding, sample_rate=stream.rate, channels=stream.channels,
                         multichannel=multichannel, interim_results=False, endpointing_ms=None,
                         language=language, call_id=call_id, roles=roles, keyterms=keyterms)


class RecordingRun:
    """Drive one session over a recording; `messages` is what it sent (Records, Metadata)."""

    def __init__(self, scheduler: InferenceScheduler, session: CallSession) -> None:
        self.scheduler = scheduler
        self.session = session
        session.mark_faster_than_real_time()  # served after every live call's decodes
        self.messages: list[dict[str, Any]] = []
        self.decodes = 0
        self._tasks: set[asyncio.Task] = set()
        self._closed = asyncio.Event()
        self._progress = asyncio.Event()
        self._decoded_to = 0.0
        self._fed_s = 0.0
        self._error: BaseException | None = None

    async def run(self, blocks: Iterator[bytes]) -> list[dict[str, Any]]:
        """Feed every block (read in a thread: MP3 decoding is CPU), then close and wait."""
        frame_bytes = self.session.decoder.frame_bytes
        rate = self.session.options.sample_rate
        reading: asyncio.Future | None = None
        try:
            while True:
                # shielded: if this request is cancelled mid-read, the read still finishes
                # (below) before the caller may close the file under the reading thread
                reading = asyncio.ensure_future(asyncio.to_thread(next, blocks, None))
                block = await asyncio.shield(reading)
                if block is None:
                    break
                self._dispatch(self.session.receive_audio(block))
                self._fed_s += len(block) / frame_bytes / rate
                while self._fed_s - self._decoded_to > LOOKAHEAD_S and self._tasks:
                    self._progress.clear()
                    await self._progress.wait()
                if self._error is not None:
                    raise self._error
            self._dispatch(self.session.close())
            await self._closed.wait()
        finally:
            for t in list(self._tasks):
                t.cancel()
            if reading is not None and not reading.done():
                await asyncio.wait({reading})
        if self._error is not None:
            raise self._error
        return self.messages

    def _dispatch(self, outs: list[Out]) -> None:
        for o in outs:
            if isinstance(o, DecodeRequest):
                t = asyncio.create_task(self._decode(o))
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)
            elif isinstance(o, Send):
                if o.message.get("type") == "Error":
                    self._error = RecordingError(o.message.get("err_msg", "the audio could not be decoded"))
                self.messages.append(o.message)
            elif isinstance(o, Close):
                self._closed.set()

    async def _decode(self, req: DecodeRequest) -> None:
        try:
            hyp = await self.scheduler.decode(req)
            self.decodes += 1
            self._decoded_to = max(self._decoded_to, req.offset + req.duration)
            self._dispatch(self.session.on_result(req, hyp))
        except Exception as e:  # a failed decode must not leave the request hanging
            self._error = e
            self._closed.set()
        finally:
            self._progress.set()


class RecordingError(ValueError):
    """The audio could not be transcribed (the session said why)."""

