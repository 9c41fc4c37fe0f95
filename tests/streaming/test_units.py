"""The pure pieces, without sockets or a model: codecs, options, bus, scheduler, channel."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings

import numpy as np
import pytest

from streaming.asr.base import DecodeRequest, ScriptedRecognizer
from streaming.asr.scheduler import InferenceScheduler
from streaming.asr.textnorm import normalize_text, wer
from streaming.audio.codecs import (
    ALAW,
    MULAW,
    AudioFormatError,
    StreamDecoder,
    decode_samples,
    encode_samples,
)
from streaming.live.channel import ChannelTranscriber, SpeechStarted, TranscriptUpdate, UtteranceEnd
from streaming.options import OptionError, SegmenterOptions, parse_stream_query
from streaming.service.bus import CallInfo, MemoryBus, SubscriberLagging
from tests.conftest import espeak, silence

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the standard library's G.711 codec: an independent reference


# -- codecs -----------------------------------------------------------------
def test_g711_tables_match_the_standard_library():
    codes = bytes(range(256))
    mu = np.frombuffer(audioop.ulaw2lin(codes, 2), "<i2") / 32768.0
    al = np.frombuffer(audioop.alaw2lin(codes, 2), "<i2") / 32768.0
    assert np.array_equal(MULAW, mu.astype(np.float32))
    assert np.array_equal(ALAW, al.astype(np.float32))


@pytest.mark.parametrize("encoding,tol", [("linear16", 1e-4), ("float32", 0), ("mulaw", 0.02), ("alaw", 0.02)])
def test_encode_decode_round_trip(encoding, tol):
    x = (0.6 * np.sin(np.linspace(0, 200, 4000))).astype(np.float32)
    y = decode_samples(encode_samples(x, encoding), encoding)
    assert np.max(np.abs(x - y)) <= tol + 1e-7


def test_stream_decoder_resamples_and_splits_channels():
    rate = 8000
    t = np.arange(rate) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)
    inter = np.stack([left, right], axis=1).astype(np.float32)
    d = StreamDecoder("linear16", rate, 2, separate=True)
    outs = [d.decode(encode_samples(inter[i:i + 160].reshape(-1), "linear16")) for i in range(0, rate, 160)]
    tail = d.flush()
    ch0 = np.concatenate([o[0] for o in outs] + [tail[0]])
    ch1 = np.concatenate([o[1] for o in outs] + [tail[1]])
    assert abs(len(ch0) - 16000) <= 2
    # each channel keeps its own tone: dominant frequency of the 16 kHz output
    for ch, f in ((ch0, 440), (ch1, 1000)):
        spec = np.abs(np.fft.rfft(ch[2000:14000]))
        peak = np.argmax(spec) * 16000 / len(ch[2000:14000])
        assert abs(peak - f) < 5


def test_stream_decoder_rejects_partial_sample_frames():
    d = StreamDecoder("linear16", 16000, 2, separate=True)
    with pytest.raises(AudioFormatError, match="not a whole number"):
        d.decode(b"\x00" * 6)


# -- options ----------------------------------------------------------------
def test_query_parsing_accepts_deepgram_parameters():
    o = parse_stream_query("encoding=mulaw&sample_rate=8000&channels=2&multichannel=true&interim_results=false"
                           "&endpointing=300&utterance_end_ms=1000&vad_events=true&language=en-US&call_id=abc-1"
                           "&model=nova-2&smart_format=true")
    assert (o.encoding, o.sample_rate, o.channels, o.separate_channels) == ("mulaw", 8000, 2, True)
    assert (o.interim_results, o.endpointing_ms, o.utterance_end_ms, o.vad_events) == (False, 300, 1000, True)
    assert o.language == "en" and o.call_id == "abc-1"
    assert o.speaker_for(0) == "agent" and o.speaker_for(1) == "customer"
    assert parse_stream_query("endpointing=false").endpointing_ms is None


@pytest.mark.parametrize("q", ["encoding=mp3", "sample_rate=4000", "sample_rate=96000", "channels=0",
                               "interim_results=maybe", "call_id=a%20b", "roles=a,b,c"])
def test_query_parsing_rejects_unusable_values(q):
    with pytest.raises(OptionError):
        parse_stream_query(q)


# -- text normalisation -----------------------------------------------------
def test_wer_normalises_numbers_and_punctuation():
    assert normalize_text("It's the 29th of February, 2000!") == "it's the twenty ninth of february two thousand"
    assert wer("the fifteenth century", "The 15th century.") == 0.0
    assert wer("a b c d", "a x c") == 0.5


# -- bus ----------------------------------------------------------------------
def test_memory_bus_replays_after_since_then_live():
    async def go():
        bus = MemoryBus()
        await bus.start_call(CallInfo("c1"))
        for i in range(5):
            await bus.publish("c1", {"type": "Results", "n": i})
        await bus.publish("c1", {"type": "Results", "n": "interim"}, durable=False)
        sub = await bus.subscribe("c1", since="2")
        await bus.publish("c1", {"type": "Results", "n": 5})
        got = []
        async for e in sub:
            got.append(e)
            if e.get("n") == 5:
                break
        await sub.close()
        return got, await bus.history("c1")

    got, hist = asyncio.run(go())
    assert [e["n"] for e in got] == [2, 3, 4, 5]
    assert [e["id"] for e in got] == ["3", "4", "5", "6"]
    assert len(hist) == 6 and all(e["n"] != "interim" for e in hist)


def test_slow_subscriber_loses_transients_first_then_is_cut_off():
    async def go():
        bus = MemoryBus(max_queue=5)
        await bus.start_call(CallInfo("c"))
        sub = await bus.subscribe("c", since="$")
        for _ in range(3):
            await bus.publish("c", {"type": "Results", "is_final": False}, durable=False)
        for _ in range(4):  # durable ones push the transients out
            await bus.publish("c", {"type": "Results", "is_final": True})
        kept = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        for e in kept:
            sub.queue.put_nowait(e)
        for _ in range(5):  # now only durable events are queued: the subscriber is dropped
            await bus.publish("c", {"type": "Results", "is_final": True})
        with pytest.raises(SubscriberLagging):
            async for _ in sub:
                pass
        return kept

    kept = asyncio.run(go())
    assert all("id" in e for e in kept) and len(kept) == 4


# -- scheduler ----------------------------------------------------------------
def _req(key, kind, seq, seconds=1.0):
    return DecodeRequest(key, kind, np.zeros(int(seconds * 16000), np.float32), 0.0, seq)


def test_scheduler_prefers_finals_and_drops_superseded_interims():
    gate = threading.Event()
    order: list[tuple[str, str, int]] = []

    def script(r):
        gate.wait(5)
        order.append((r.key, r.kind, r.seq))
        return [("word", 0.0, 0.5)]

    rec = ScriptedRecognizer(script)
    sched = InferenceScheduler(rec, workers=1, max_batch=1)
    results: dict[int, object] = {}
    try:
        sched.submit(_req("blocker", "final", 0), lambda h: results.__setitem__(0, h))
        time.sleep(0.1)  # the worker is now busy with the blocker
        sched.submit(_req("a", "interim", 1), lambda h: results.__setitem__(1, h))
        sched.submit(_req("a", "interim", 2), lambda h: results.__setitem__(2, h))  # supersedes 1
        sched.submit(_req("b", "final", 3), lambda h: results.__setitem__(3, h))
        gate.set()
        deadline = time.time() + 5
        while len(results) < 4 and time.time() < deadline:
            time.sleep(0.01)
    finally:
        sched.close()
    assert results[1] is None  # dropped, not decoded
    assert [o[2] for o in order] == [0, 3, 2]  # final before the surviving interim
    assert sched.stats.dropped_interims == 1


def test_scheduler_batches_similar_requests():
    rec = ScriptedRecognizer(lambda r: [("x", 0.0, 0.1)], delay=0.2)
    sched = InferenceScheduler(rec, workers=1, max_batch=8)
    done = threading.Semaphore(0)
    try:
        sched.submit(_req("first", "final", 0), lambda h: done.release())
        time.sleep(0.05)
        for i in range(5):
            sched.submit(_req(f"k{i}", "final", i + 1, seconds=2.0), lambda h: done.release())
        sched.submit(_req("long", "final", 9, seconds=20.0), lambda h: done.release())
        for _ in range(7):
            assert done.acquire(timeout=5)
    finally:
        sched.close()
    sizes = [len(c) for c in rec.calls]
    assert sizes == [1, 5, 1]  # the five 2 s chunks together, the 20 s one alone


# -- channel logic with a scripted recogniser ---------------------------------
def _drive(ch: ChannelTranscriber, audio: np.ndarray, rec: ScriptedRecognizer, frame: int = 320):
    out = []

    def handle(items):
        for it in items:
            if isinstance(it, DecodeRequest):
                handle(ch.on_result(it, rec.decode_batch([it])[0]))
            else:
                out.append(it)

    for i in range(0, len(audio), frame):
        handle(ch.push(audio[i:i + frame]))
    handle(ch.close())
    return out


def test_channel_commits_agreed_words_early_and_ends_utterances_once():
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    x, rate = espeak(" ".join(words), speed=130)
    from streaming.audio.codecs import resample

    speech = resample(x[:, 0], rate)
    speech = speech[: np.nonzero(np.abs(speech) > 0.01)[0][-1]]  # espeak's own trailing silence off
    audio = np.concatenate([silence(0.5, 16000)[:, 0], speech, silence(1.5, 16000)[:, 0]])
    t0 = 0.5

    def script(r: DecodeRequest):
        # words evenly over the speech, only those already inside the request's audio
        per = len(speech) / 16000 / len(words)
        end = r.offset + r.duration
        return [(" " + w, t0 + i * per - r.offset, t0 + (i + 1) * per - r.offset)
                for i, w in enumerate(words) if t0 + (i + 0.5) * per <= end and t0 + i * per >= r.offset - 0.01]

    ch = ChannelTranscriber("k/0", 0, SegmenterOptions(pause_ms=500), utterance_end_ms=1000)
    out = _drive(ch, audio, ScriptedRecognizer(script))
    finals = [o for o in out if isinstance(o, TranscriptUpdate) and o.is_final]
    text = " ".join(w.bare for f in finals for w in f.words)
    assert text == " ".join(words)  # every word exactly once, in order
    assert len([f for f in finals if f.words]) >= 2  # committed in pieces, not only at the end
    assert sum(f.speech_final for f in finals) == 1 and finals[-1].speech_final
    assert sum(isinstance(o, SpeechStarted) for o in out) == 1
    assert ch.decodes["interim"] >= 3


def test_every_utterance_gets_its_utterance_end_when_decodes_lag():
    """Under load a final comes back seconds late; the gaps of the utterances behind it
    still count (the UtteranceEnd of the first must not hide the others': found when a
    busy CI machine sent two UtteranceEnds for three utterances)."""
    from streaming.audio.codecs import resample

    x, rate = espeak("one two three", speed=150)
    speech = resample(x[:, 0], rate)
    speech = speech[: np.nonzero(np.abs(speech) > 0.01)[0][-1]]
    gap = silence(1.5, 16000)[:, 0]
    audio = np.concatenate([gap, speech, gap, speech, gap, speech, gap])
    span = len(speech) / 16000
    starts = [1.5 + i * (span + 1.5) for i in range(3)]

    def script(r: DecodeRequest):
        return [(" word", s + 0.1 - r.offset, s + span - 0.1 - r.offset) for s in starts
                if r.offset - 0.01 <= s and s + span <= r.offset + r.duration + 0.01]

    rec = ScriptedRecognizer(script)
    ch = ChannelTranscriber("k/0", 0, SegmenterOptions(pause_ms=500), endpointing_ms=500,
                            utterance_end_ms=1000)
    lag = int(2.2 * 16000)  # every result arrives 2.2 s of audio after it was asked for
    waiting: list[tuple[int, DecodeRequest]] = []
    out = []

    def handle(items, at):
        for it in items:
            if isinstance(it, DecodeRequest):
                waiting.append((at + lag, it))
            else:
                out.append(it)

    for i in range(0, len(audio), 320):
        handle(ch.push(audio[i:i + 320]), i)
        while waiting and waiting[0][0] <= i:
            _, req = waiting.pop(0)
            handle(ch.on_result(req, rec.decode_batch([req])[0]), i)
    handle(ch.close(), len(audio))
    while waiting:
        _, req = waiting.pop(0)
        handle(ch.on_result(req, rec.decode_batch([req])[0]), len(audio))
    finals = [o for o in out if isinstance(o, TranscriptUpdate) and o.is_final and o.words]
    assert len(finals) == 3
    ends = [o for o in out if isinstance(o, UtteranceEnd)]
    assert [round(e.last_word_end, 2) for e in ends] == [round(f.words[-1].end, 2) for f in finals]


def test_channel_never_decodes_silence_or_clicks():
    rng = np.random.default_rng(1)
    audio = np.zeros(16000 * 3, np.float32)
    audio[16000:16000 + 800] = rng.standard_normal(800) * 0.3  # a 50 ms click
    rec = ScriptedRecognizer(lambda r: [(" hallucination", 0.0, 0.5)])
    out = _drive(ChannelTranscriber("k/0", 0), audio, rec)
    assert not [o for o in out if isinstance(o, TranscriptUpdate) and o.words]
    assert rec.calls == []
