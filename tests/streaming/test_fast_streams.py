"""Real time first: a stream sent faster than real time never pushes out or delays a live call.

The scheduler serves priority-1 requests (streams running ahead of the wall clock) only
when no real-time request waits; the server paces such a stream by its decodes instead
of refusing it, and does not count it against the live call limit.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from streaming.asr.base import DecodeRequest, ScriptedRecognizer
from streaming.asr.scheduler import InferenceScheduler
from streaming.asr.textnorm import wer
from streaming.client import audio_frames, listen_url, stream_frames
from tests.conftest import clip, run


def _req(key: str, kind: str, priority: int, seq: int) -> DecodeRequest:
    return DecodeRequest(key, kind, np.zeros(16000, np.float32), 0.0, seq, priority=priority)  # type: ignore[arg-type]


def test_real_time_requests_are_served_before_fast_ones():
    gate = threading.Event()
    order: list[str] = []

    def script(r: DecodeRequest):
        if r.key == "blocker":
            gate.wait(5)
        return [(" x", 0.0, 0.5)]

    sched = InferenceScheduler(ScriptedRecognizer(script), workers=1, max_batch=1, max_interim_age=10)
    done = threading.Semaphore(0)

    def cb(name):
        def f(_h):
            order.append(name)
            done.release()
        return f

    try:
        sched.submit(_req("blocker", "final", 0, 1), cb("blocker"))
        while not sched.stats.batches and sched.queue_depth()["final"]:
            pass  # the worker took the blocker
        for name, kind, prio in [("fast-final", "final", 1), ("fast-record", "record", 1),
                                 ("live-interim", "interim", 0), ("live-final", "final", 0),
                                 ("live-record", "record", 0)]:
            sched.submit(_req(name, kind, prio, 2), cb(name))
        assert sched.queue_depth()["fast"] == 2 and sched.final_delay_p90() < 1.0
        gate.set()
        for _ in range(6):
            assert done.acquire(timeout=10)
    finally:
        sched.close()
    assert order == ["blocker", "live-record", "live-final", "live-interim", "fast-record", "fast-final"]


def test_a_live_call_is_admitted_and_on_time_beside_a_fast_stream(server_factory):
    """One call slot: a three-minute recording streamed as fast as possible takes none of
    it, completes whole, and a real-time call beside it is admitted and transcribed."""
    srv = server_factory(max_calls=1)
    long, rate, _ = clip("long/ljspeech_LJ001-0001_0016_concat.flac")
    gap = np.zeros((rate, 1), np.float32)
    three_min = np.concatenate([long, gap, long, gap])[: 180 * rate]
    live, live_rate, ref = clip("ljspeech/LJ001-0008.flac")

    async def go():
        fast_url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1, call_id="fast-1")
        frames = audio_frames(three_min, rate, frame_ms=250)
        fast = asyncio.create_task(stream_frames(fast_url, frames, realtime=False))
        await asyncio.sleep(2.0)  # the fast stream is well ahead of the clock by now
        live_url = listen_url(srv.url, encoding="linear16", sample_rate=live_rate, channels=1, call_id="live-1")
        tail = np.zeros((live_rate, 1), np.float32)
        real = await stream_frames(live_url, audio_frames(np.concatenate([live, tail]), live_rate), realtime=True)
        return await fast, real

    fast, real = run(go())
    assert real.close_code == 1000 and not real.of_type("Error"), real.of_type("Error")
    assert wer(ref, real.transcript()) < 0.3
    assert fast.close_code == 1000 and not fast.of_type("Error")
    meta = fast.of_type("Metadata")[0]
    assert abs(meta["duration"] - 180.0) < 0.5 and meta["ignored_bytes"] == 0
    assert len(" ".join(m["channel"]["alternatives"][0]["transcript"] for m in fast.of_type("Results")).split()) > 300
