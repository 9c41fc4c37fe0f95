"""The transcript of record: one whole-utterance decode per utterance, beside the live words.

Real speech (tests/data) through the real model. What is checked is what the product
promises: the assistant, the stored log and batch read the record and never the early
pieces; every live piece is replaced by exactly one record; a reconnecting desktop gets
each record once; load cannot change the record; speech with no pause still gets live
finals promptly and records of bounded length.
"""

from __future__ import annotations

import asyncio
import queue

import numpy as np
import pytest

from streaming.asr.base import DecodeRequest
from streaming.asr.scheduler import InferenceScheduler
from streaming.asr.textnorm import wer
from streaming.audio.codecs import resample
from streaming.audio.vad import FrameVad
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames
from streaming.live.offline import final_transcript, pcm_frames, record_transcript, run_session
from streaming.live.session import CallSession, Send
from streaming.options import SegmenterOptions, StreamOptions
from tests.conftest import clip, run

LONG = "long/ljspeech_LJ001-0001_0016_concat.flac"


def speech16k(seconds: float) -> tuple[np.ndarray, str]:
    """The first `seconds` of the long LJSpeech recording at 16 kHz, and its whole reference."""
    audio, rate, ref = clip(LONG)
    x = resample(audio[:, 0], rate, 16000) if rate != 16000 else audio[:, 0]
    return x[: int(seconds * 16000)].astype(np.float32), ref


def records(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m.get("type") == "Record"]


def pieces(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m.get("type") == "Results" and m.get("is_final") and m.get("segment_id")]


@pytest.fixture(scope="module")
def one_call(recognizer):
    """30 s of read speech through one session, every decode answered at once."""
    x, _ = speech16k(30)
    s = CallSession(StreamOptions(sample_rate=16000), final_beam=3, record_beam=5)
    return x, run_session(s, pcm_frames(x[:, None], 16000), recognizer)


def test_every_live_piece_is_replaced_by_exactly_one_record(one_call):
    _, msgs = one_call
    recs, live = records(msgs), pieces(msgs)
    assert len(recs) >= 2 and live
    replaced = [pid for r in recs for pid in r["replaces"]]
    assert sorted(replaced) == sorted(p["segment_id"] for p in live)  # each once, none left out
    for r in recs:  # a record comes after the pieces it replaces, and covers their middle
        at = msgs.index(r)
        for pid in r["replaces"]:
            p = next(m for m in live if m["segment_id"] == pid)
            assert msgs.index(p) < at
            assert r["span"][0] <= p["start"] + p["duration"] / 2 <= r["span"][1]  # word times are rough
    _, ref = speech16k(30)
    said = " ".join(ref.split()[: len(record_transcript(msgs).split())])
    assert wer(said, record_transcript(msgs)) < 0.15  # a sanity bound; the benchmark measures it
    assert final_transcript(msgs)  # the live words are still there, beside the record


def test_the_assistant_reads_records_not_pieces(one_call):
    from streaming.service.bus import MemoryBus
    from streaming.service.pipeline import CallPipeline

    _, msgs = one_call
    seen: list = []

    class Spy:
        def on_segment(self, seg):
            seen.append(seg)
            return []

        def finish(self):
            return []

    async def go():
        bus = MemoryBus()
        await bus.start_call(_info("c"))
        p = CallPipeline("c", bus, lambda cid, lang: Spy())
        for m in msgs:
            await p.publish({k: v for k, v in m.items() if not k.startswith("_")})
        await p.finish()
        return await bus.history("c")

    history = run(go())
    recs = [r for r in records(msgs) if r["channel"]["alternatives"][0]["transcript"]]
    assert [s.segment_id for s in seen] == [r["record_id"] for r in recs]
    assert [s.text for s in seen] == [r["channel"]["alternatives"][0]["transcript"] for r in recs]
    assert all(s.segment_id.split("-")[1].startswith("r") for s in seen)  # never a live piece
    assert [e["record_id"] for e in history if e["type"] == "Record"] == [r["record_id"] for r in records(msgs)]


def _info(call_id: str):
    from streaming.service.bus import CallInfo

    return CallInfo(call_id, node="test")


def test_the_record_does_not_change_under_load(recognizer, one_call):
    """Four calls at once through a two-worker scheduler: interims are dropped and batches
    mix calls, but each call's record equals the record of the same audio alone."""
    x, alone = one_call
    sched = InferenceScheduler(recognizer, workers=2, max_batch=8, max_interim_age=0.3)
    done: queue.Queue = queue.Queue()
    sessions = [CallSession(StreamOptions(sample_rate=16000, call_id=f"c{i}"), final_beam=3, record_beam=5)
                for i in range(4)]
    got: list[list[dict]] = [[] for _ in sessions]
    outstanding = [0] * len(sessions)

    def handle(i: int, outs) -> None:
        for o in outs:
            if isinstance(o, DecodeRequest):
                outstanding[i] += 1
                sched.submit(o, lambda h, i=i, o=o: done.put((i, o, h)))
            elif isinstance(o, Send):
                got[i].append(o.message)

    def drain(block: bool) -> None:
        while True:
            try:
                i, req, hyp = done.get(timeout=60) if block else done.get_nowait()
            except queue.Empty:
                return
            outstanding[i] -= 1
            handle(i, sessions[i].on_result(req, hyp))
            block = False

    try:
        frames = list(pcm_frames(x[:, None], 16000))
        lag = 7  # frames between call starts: the calls are not in lockstep
        for k in range(len(frames) + lag * len(sessions)):
            for i, s in enumerate(sessions):
                j = k - lag * i
                if 0 <= j < len(frames):
                    handle(i, s.receive_audio(frames[j]))
                elif j == len(frames):
                    handle(i, s.close())
            drain(block=False)
        while any(outstanding):
            drain(block=True)
    finally:
        sched.close()
    want = [r["channel"]["alternatives"][0]["transcript"] for r in records(alone)]
    for msgs in got:
        assert [r["channel"]["alternatives"][0]["transcript"] for r in records(msgs)] == want
    assert sched.stats.decoded["record"] == 4 * len(want)
    # model time is counted by kind (capacity.py reads it off /readyz)
    assert sched.stats.busy_by_kind["record"] > 0
    assert sum(sched.stats.busy_by_kind.values()) == pytest.approx(sched.stats.busy_seconds)


def _without_pauses(x: np.ndarray, longest_ms: int = 150) -> np.ndarray:
    """Speech with every non-speech stretch cut to `longest_ms` (no pause to wait for)."""
    vad = FrameVad(3, 30)
    flags = [s for s, _ in vad.push(x)]
    frame = 480
    keep, run_ = [], 0
    for i, speech in enumerate(flags):
        run_ = 0 if speech else run_ + 1
        if speech or run_ * 30 <= longest_ms:
            keep.append(x[i * frame:(i + 1) * frame])
    return np.concatenate(keep)


def test_forty_seconds_without_a_pause_still_gets_prompt_finals_and_bounded_records(recognizer):
    x, ref = speech16k(60)
    y = _without_pauses(x)[: 40 * 16000]
    assert len(y) >= 39 * 16000
    s = CallSession(StreamOptions(sample_rate=16000), final_beam=3, record_beam=5)
    msgs = run_session(s, pcm_frames(y[:, None], 16000), recognizer)
    live = [m for m in pieces(msgs) if m["channel"]["alternatives"][0]["words"]]
    # live: how long after a word ends (audio time) it is final, with instant decodes
    delays = [m["_emitted_at"] - w["end"] for m in live for w in m["channel"]["alternatives"][0]["words"]]
    assert len(delays) > 60 and float(np.percentile(delays, 90)) < 2.0
    recs = records(msgs)
    o = SegmenterOptions()
    assert len(recs) >= 3  # cut without a pause, at most every record_max_ms
    assert all(r["span"][1] - r["span"][0] <= o.record_max_ms / 1000 + 0.1 for r in recs)
    spans = [r["span"] for r in recs]
    assert all(abs(a[1] - b[0]) < 0.05 for a, b in zip(spans, spans[1:], strict=False))  # no audio skipped
    said = " ".join(ref.split()[: len(record_transcript(msgs).split())])
    assert wer(said, record_transcript(msgs)) < 0.2


def test_a_reconnecting_desktop_gets_each_record_once(server, tmp_path):
    """Live call through the server; the desktop drops mid-call and comes back with `since`."""
    x, _ = speech16k(24)
    y = np.concatenate([x, np.zeros(16000, np.float32)])

    async def go():
        url = listen_url(server.url, encoding="linear16", sample_rate=16000, channels=1, call_id="rec-1",
                         record="true")
        call = asyncio.create_task(stream_frames(url, audio_frames(y, 16000), realtime=True, speed=3.0))
        seen: list[dict] = []
        async with EventsClient(server.url, "rec-1", wait=True) as d:
            await d.wait_for(lambda e: e.get("type") == "Record", timeout=60)
            seen += d.events
        last = [e for e in seen if e.get("id") is not None][-1]["id"]
        await asyncio.sleep(1.0)  # gone for a while: records are published meanwhile
        async with EventsClient(server.url, "rec-1", since=str(last), wait=True) as d:
            res = await call
            await d.wait_for(lambda e: e.get("type") == "CallEnded", timeout=60)
            seen += d.events
        return res, seen

    res, seen = run(go())
    ids = [e["record_id"] for e in seen if e.get("type") == "Record"]
    assert len(ids) == len(set(ids)) and len(ids) >= 2
    sent = [m["record_id"] for m in res.of_type("Record")]  # record=true: the softphone gets them too
    assert ids == sent


def test_batch_writes_the_record(recognizer):
    """Batch runs the same channel logic with no live words: every segment it writes is a record."""
    from streaming.batch.engine import BatchEngine, BatchItem
    from streaming.batch.outputs import segments_of
    from tests.conftest import AUDIO

    engine = BatchEngine(recognizer, workers=2)
    try:
        t = engine.transcribe(BatchItem(AUDIO / "ljspeech" / "LJ001-0008.flac", "lj8"))
    finally:
        engine.close()
    assert not [m for m in t.messages if m.get("type") == "Results" and m["channel"]["alternatives"][0]["words"]]
    segs = segments_of(t)
    assert segs and all(s["id"].split("-")[1].startswith("r") for s in segs)
    ref = (AUDIO / "ljspeech" / "LJ001-0008.txt").read_text()
    assert wer(ref, " ".join(s["text"] for s in segs)) < 0.2
