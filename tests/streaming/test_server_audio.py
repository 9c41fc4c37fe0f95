"""The live API end to end: real server, real model, real speech over websockets."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from streaming.asr.textnorm import wer
from streaming.audio.codecs import resample
from streaming.client import audio_frames, listen_url, stream_frames
from tests.conftest import clip, espeak, run, silence

LJ2 = "ljspeech/LJ001-0002.flac"  # "in being comparatively modern."
LJ8 = "ljspeech/LJ001-0008.flac"


def _stream(url: str, audio: np.ndarray, rate: int, encoding: str = "linear16", **params):
    frames = audio_frames(audio, rate, encoding)
    q = {"encoding": encoding, "sample_rate": rate, "channels": audio.shape[1],
         "interim_results": True, "vad_events": True, **params}
    return run(stream_frames(listen_url(url, **q), frames, realtime=False))


def _with_tail(audio: np.ndarray, rate: int, seconds: float = 1.0) -> np.ndarray:
    return np.concatenate([silence(0.3, rate, audio.shape[1]), audio, silence(seconds, rate, audio.shape[1])])


@pytest.mark.parametrize(
    "encoding,rate",
    [("linear16", 16000), ("linear16", 8000), ("linear16", 44100), ("linear16", 48000),
     ("mulaw", 8000), ("alaw", 8000), ("float32", 22050), ("mulaw", 16000)],
)
def test_each_encoding_and_rate_round_trip(server, encoding, rate):
    audio, src_rate, ref = clip(LJ2)
    x = resample(audio[:, 0], src_rate, rate)[:, None]
    res = _stream(server.url, _with_tail(x, rate), rate, encoding)
    assert res.close_code == 1000, res.close_reason
    text = res.transcript()
    # G.711 at 8 kHz loses the top half of the band; still recognisable.
    assert wer(ref, text) <= (0.5 if rate == 8000 else 0.25), text
    meta = res.of_type("Metadata")
    assert len(meta) == 1 and abs(meta[0]["duration"] - len(_with_tail(x, rate)) / rate) < 0.05


def test_results_have_deepgram_shape(server):
    audio, rate, _ = clip(LJ8)
    res = _stream(server.url, _with_tail(audio, rate), rate, call_id="shape-1")
    final = res.finals()[0]
    assert final["type"] == "Results"
    assert final["channel_index"] == [0, 1]
    assert final["call_id"] == "shape-1"
    assert {"start", "duration", "is_final", "speech_final", "from_finalize", "metadata"} <= set(final)
    alt = final["channel"]["alternatives"][0]
    assert alt["transcript"] and 0 < alt["confidence"] <= 1
    w = alt["words"][0]
    assert {"word", "start", "end", "confidence", "punctuated_word"} <= set(w)
    assert w["word"] == w["word"].lower()
    # words lie within the result's span and in order
    starts = [x["start"] for x in alt["words"]]
    assert starts == sorted(starts)
    assert final["start"] <= starts[0] + 1e-6
    assert alt["words"][-1]["end"] <= final["start"] + final["duration"] + 1e-6


def test_stereo_channels_are_transcribed_separately_with_speakers(server):
    audio, rate, ref = clip("stereo/stereo_diarization.flac")
    refs = dict(line.split(":", 1) for line in ref.splitlines())
    res = _stream(server.url, _with_tail(audio, rate), rate, multichannel=True)
    left, right = res.transcript(0), res.transcript(1)
    assert wer(refs["LEFT"], left) < 0.3, left
    assert wer(refs["RIGHT"], right) < 0.3, right
    speakers = {m["channel_index"][0]: m["speaker"] for m in res.finals() if m["channel"]["alternatives"][0]["words"]}
    assert speakers == {0: "agent", 1: "customer"}
    assert all(m["channel_index"][1] == 2 for m in res.finals())


def test_roles_are_configurable(server):
    audio, rate, _ = clip("stereo/stereo_diarization.flac")
    res = _stream(server.url, _with_tail(audio, rate), rate, roles="customer,agent")
    speakers = {m["channel_index"][0]: m["speaker"] for m in res.finals() if m["channel"]["alternatives"][0]["words"]}
    assert speakers == {0: "customer", 1: "agent"}


def test_stereo_mixed_to_mono_when_multichannel_false(server):
    a, rate, ref_a = clip(LJ2)
    b, rate_b, ref_b = clip(LJ8)
    assert rate == rate_b
    gap = silence(1.0, rate)[:, 0]
    left = np.concatenate([a[:, 0], gap, np.zeros(len(b), np.float32), gap])
    right = np.concatenate([np.zeros(len(a), np.float32), gap, b[:, 0], gap])
    stereo = np.stack([left, right], axis=1)
    res = _stream(server.url, _with_tail(stereo, rate), rate, multichannel=False)
    assert {m["channel_index"][1] for m in res.finals()} == {1}
    assert wer(ref_a + " " + ref_b, res.transcript()) < 0.3, res.transcript()
    res2 = _stream(server.url, _with_tail(stereo, rate), rate)
    assert wer(ref_a, res2.transcript(0)) < 0.3 and wer(ref_b, res2.transcript(1)) < 0.3


def test_silence_and_noise_give_no_text(server):
    rate = 16000
    rng = np.random.default_rng(7)
    quiet_hiss = (rng.standard_normal(rate * 4) * 0.003).astype(np.float32)
    hum = (0.02 * np.sin(2 * np.pi * 50 * np.arange(rate * 3) / rate)).astype(np.float32)
    audio = np.concatenate([np.zeros(rate * 4, np.float32), quiet_hiss, hum, np.zeros(rate * 2, np.float32)])
    res = _stream(server.url, audio[:, None], rate)
    texts = [m["channel"]["alternatives"][0]["transcript"] for m in res.of_type("Results")]
    assert not any(texts), texts
    assert res.of_type("Metadata")


def test_every_utterance_gets_a_final_and_one_speech_final(server):
    parts = ["Good morning, how can I help you today?", "I would like to change my address.",
             "Of course, what is the new postcode?"]
    rate = None
    chunks = []
    for p in parts:
        x, rate = espeak(p)
        chunks += [x, silence(1.5, rate)]
    audio = np.concatenate(chunks)
    res = _stream(server.url, audio, rate, endpointing=500, utterance_end_ms=1000)
    finals = [m for m in res.finals() if m["channel"]["alternatives"][0]["transcript"]]
    text = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals)
    assert wer(" ".join(parts), text) < 0.3, text
    speech_finals = [m for m in res.finals() if m["speech_final"]]
    assert len(speech_finals) == 3, [m["channel"]["alternatives"][0]["transcript"] for m in speech_finals]
    # each utterance's speech_final comes after all of its words, before the next utterance's words
    ends = [m["start"] + m["duration"] for m in speech_finals]
    assert ends == sorted(ends)
    assert len(res.of_type("UtteranceEnd")) == 3
    assert len(res.of_type("SpeechStarted")) >= 3


def test_words_become_final_before_a_long_utterance_ends(server):
    """Early commits: in a 10 s sentence, words turn final while it is still being spoken."""
    audio, rate, ref = clip("ljspeech/LJ001-0001.flac")
    x = _with_tail(audio, rate)
    frames = audio_frames(x, rate)
    url = listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1)
    res = run(stream_frames(url, frames, realtime=True, speed=2.0))
    finals = [m for m in res.finals() if m["channel"]["alternatives"][0]["words"]]
    assert len(finals) >= 3, "a 10 s sentence should be committed in several pieces"
    t0 = res.started
    # the first final arrives while more than 2 s of the sentence are still unsent
    first = finals[0]["_received"] - t0
    assert first < (len(x) / rate) / 2.0 - 2.0
    assert wer(ref, res.transcript()) < 0.2


def test_finalize_flushes_without_waiting_for_silence(server):
    audio, rate, ref = clip(LJ2)
    frames = audio_frames(audio, rate)  # no trailing silence: the endpoint never fires

    async def go():
        from websockets.asyncio.client import connect

        got = []
        async with connect(listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1)) as ws:
            for f in frames:
                await ws.send(f)
            await ws.send(json.dumps({"type": "Finalize"}))
            while True:
                m = json.loads(await ws.recv())
                got.append(m)
                if m.get("type") == "Results" and m.get("from_finalize"):
                    break
            await ws.send(json.dumps({"type": "CloseStream"}))
            async for raw in ws:
                got.append(json.loads(raw))
        return got

    got = run(go())
    flushed = [m for m in got if m.get("type") == "Results" and m.get("from_finalize")]
    assert flushed and flushed[0]["is_final"]
    text = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in got
                    if m.get("type") == "Results" and m["is_final"])
    assert wer(ref, text) < 0.3
    assert got[-1]["type"] == "Metadata"


def test_close_stream_returns_metadata_and_closes_normally(server):
    x, rate = espeak("Thank you for calling, goodbye.")
    res = _stream(server.url, _with_tail(x, rate), rate)
    assert res.messages[-1]["type"] == "Metadata"
    meta = res.messages[-1]
    assert meta["channels"] == 1 and meta["request_id"] and len(meta["sha256"]) == 64
    assert res.close_code == 1000


def test_two_calls_at_once_stay_separate(server):
    import asyncio

    a, ra, ref_a = clip(LJ2)
    b, rb, ref_b = clip(LJ8)

    async def both():
        return await asyncio.gather(
            stream_frames(listen_url(server.url, encoding="linear16", sample_rate=ra, channels=1, call_id="call-a"),
                          audio_frames(_with_tail(a, ra), ra), realtime=True, speed=3.0),
            stream_frames(listen_url(server.url, encoding="linear16", sample_rate=rb, channels=1, call_id="call-b"),
                          audio_frames(_with_tail(b, rb), rb), realtime=True, speed=3.0),
        )

    res_a, res_b = run(both())
    assert wer(ref_a, res_a.transcript()) < 0.3 and wer(ref_b, res_b.transcript()) < 0.3
    assert {m["call_id"] for m in res_a.of_type("Results")} == {"call-a"}
    assert {m["call_id"] for m in res_b.of_type("Results")} == {"call-b"}
    with urllib.request.urlopen(f"{server.http}/v1/calls/call-a") as r:
        body = json.load(r)
    texts = " ".join(e["channel"]["alternatives"][0]["transcript"] for e in body["events"] if e["type"] == "Results")
    assert "comparatively" in texts.lower() and "modern" in texts.lower()


def test_an_ended_call_keeps_no_audio_alive(server, monkeypatch):
    """The assistant of an ended call stays for feedback, the call's audio does not: the
    kept assistant held its `LiveCall` (every record's audio) through a bound method, so a
    node grew with each call it served. Ended assistants also expire after a while."""
    import gc
    import time as _time

    from streaming.service import server as server_mod
    from streaming.service.live_call import LiveCall

    audio, rate, _ = clip(LJ8)
    for i in range(2):
        res = _stream(server.url, _with_tail(audio, rate), rate, call_id=f"gone-{i}")
        assert res.finals()

    def alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, LiveCall))

    deadline = _time.time() + 10
    while alive() and _time.time() < deadline:
        _time.sleep(0.1)
    assert alive() == 0
    srv = server.server
    assert {"gone-0", "gone-1"} <= set(srv.recent)  # feedback still reaches them
    assert all(p.redecode is None for p in srv.recent.values())
    # an hour on, the next ended call pushes out the ones kept past ENDED_KEEP_S
    real = _time.monotonic
    monkeypatch.setattr(server_mod.time, "monotonic", lambda: real() + server_mod.ENDED_KEEP_S + 1)
    kept = srv.recent["gone-1"]
    server.call(_remember(srv, kept))
    assert list(srv.recent) == ["gone-1"]


async def _remember(srv, pipeline):
    srv.remember(pipeline)
