"""Bad input: a clear Error, a proper close code, nothing already received lost,
and the server keeps serving other calls."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streaming.asr.textnorm import wer
from streaming.client import audio_frames, listen_url, stream_frames
from tests.conftest import clip, run, silence

LJ2 = "ljspeech/LJ001-0002.flac"


async def _talk(url: str, sends: list, *, read_timeout: float = 30.0):
    """Send a script of frames (bytes/str) and collect every reply until the server closes."""
    got: list[dict] = []
    async with connect(url, max_size=None) as ws:
        async def reader():
            try:
                async for raw in ws:
                    got.append(json.loads(raw))
            except ConnectionClosed:
                pass

        r = asyncio.create_task(reader())
        try:
            for s in sends:
                if isinstance(s, float):
                    await asyncio.sleep(s)
                else:
                    await ws.send(s)
        except ConnectionClosed:
            pass
        await asyncio.wait_for(r, read_timeout)
        return got, ws.close_code, ws.close_reason


def _speech_frames(rate_out: int = 16000):
    audio, rate, ref = clip(LJ2)
    x = np.concatenate([audio, silence(1.0, rate)])
    return audio_frames(x, rate), rate, ref


def _errors(got):
    return [m for m in got if m.get("type") == "Error"]


def _text(got):
    return " ".join(m["channel"]["alternatives"][0]["transcript"] for m in got
                    if m.get("type") == "Results" and m.get("is_final"))


@pytest.mark.parametrize("query,fragment", [
    ("encoding=opus&sample_rate=16000", "unsupported encoding"),
    ("encoding=linear16&sample_rate=96000", "sample_rate"),
    ("encoding=linear16&sample_rate=abc", "integer"),
    ("encoding=linear16&channels=3", "channels"),
    ("call_id=" + "x" * 200, "call_id"),
    ("language=nl", "English-only"),
])
def test_unusable_parameters_get_error_and_1003(server, query, fragment):
    got, code, reason = run(_talk(f"{server.url}/v1/listen?{query}", []))
    errs = _errors(got)
    assert errs and errs[0]["err_code"] == "INVALID_QUERY_PARAMETER"
    assert fragment in errs[0]["err_msg"]
    assert code == 1003


def test_misaligned_frame_is_refused_after_transcribing_what_came_before(server):
    frames, rate, ref = _speech_frames()
    url = listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1)
    got, code, _ = run(_talk(url, frames + [b"\x01\x02\x03"]))
    errs = _errors(got)
    assert errs and errs[0]["err_code"] == "INVALID_AUDIO" and "3 bytes" in errs[0]["err_msg"]
    assert code == 1007
    assert wer(ref, _text(got)) < 0.3  # everything before the bad frame is delivered
    assert got[-1]["type"] == "Metadata"


def test_stereo_declared_mono_sent_odd_frame(server):
    url = listen_url(server.url, encoding="linear16", sample_rate=16000, channels=2)
    got, code, _ = run(_talk(url, [b"\x00\x00" * 161]))  # 322 bytes: not whole 4-byte frames
    assert _errors(got)[0]["err_code"] == "INVALID_AUDIO" and code == 1007


def test_oversized_frame_gets_1009_and_earlier_audio_survives(server_factory):
    srv = server_factory(max_frame_bytes=8192)
    frames, rate, ref = _speech_frames()
    url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1)
    got, code, _ = run(_talk(url, frames + [b"\x00" * 20000]))
    errs = _errors(got)
    assert errs and errs[0]["err_code"] == "FRAME_TOO_LARGE" and "20000" in errs[0]["err_msg"]
    assert code == 1009
    assert wer(ref, _text(got)) < 0.3


def test_bad_float32_audio_is_refused(server):
    url = listen_url(server.url, encoding="float32", sample_rate=16000, channels=1)
    nan = np.full(320, np.nan, np.float32).tobytes()
    got, code, _ = run(_talk(url, [nan]))
    assert "NaN" in _errors(got)[0]["err_msg"] and code == 1007


def test_bad_control_messages_are_reported_and_the_stream_goes_on(server):
    frames, rate, ref = _speech_frames()
    url = listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1)
    half = len(frames) // 2
    script = (frames[:half] + ["not json {", json.dumps({"type": "Bogus"}), json.dumps([1, 2]),
              json.dumps({"type": "KeepAlive"})] + frames[half:] + [json.dumps({"type": "CloseStream"})])
    got, code, _ = run(_talk(url, script))
    codes = [e["err_code"] for e in _errors(got)]
    assert codes == ["INVALID_JSON", "UNKNOWN_MESSAGE", "UNKNOWN_MESSAGE"]
    assert code == 1000
    assert wer(ref, _text(got)) < 0.3
    assert got[-1]["type"] == "Metadata"


def test_audio_after_close_stream_gets_an_error(server):
    frames, rate, _ = _speech_frames()
    url = listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1)
    got, code, _ = run(_talk(url, frames + [json.dumps({"type": "CloseStream"})] + frames[:5]))
    late = [e for e in _errors(got) if e["err_code"] == "AUDIO_AFTER_CLOSE_STREAM"]
    assert late, got[-5:]
    assert code == 1000 and any(m["type"] == "Metadata" for m in got)


def test_idle_connection_is_closed_after_flushing(server_factory):
    srv = server_factory(idle_timeout_s=1.0)
    audio, rate, ref = clip(LJ2)
    frames = audio_frames(audio, rate)  # speech, no trailing silence, then nothing
    url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1)
    t0 = time.monotonic()
    got, code, _ = run(_talk(url, frames + [3.0]))
    assert [e["err_code"] for e in _errors(got)] == ["NET-0001"]
    assert code == 1011 and time.monotonic() - t0 < 10
    assert wer(ref, _text(got)) < 0.3  # the unfinished utterance was still transcribed


def test_keepalive_prevents_idle_close(server_factory):
    srv = server_factory(idle_timeout_s=1.0)
    url = listen_url(srv.url, encoding="linear16", sample_rate=16000, channels=1)
    ka = json.dumps({"type": "KeepAlive"})
    got, code, _ = run(_talk(url, [ka, 0.6, ka, 0.6, ka, 0.6, ka, json.dumps({"type": "CloseStream"})]))
    assert not _errors(got) and code == 1000


def test_dropped_connection_still_delivers_finals_to_the_call_log(server):
    frames, rate, ref = _speech_frames()
    url = listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1, call_id="dropped-1")

    async def go():
        ws = await connect(url)
        for f in frames:
            await ws.send(f)
        ws.transport.abort()  # the softphone vanishes: no CloseStream, no close frame

    run(go())
    deadline = time.monotonic() + 20
    body = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.http}/v1/calls/dropped-1") as r:
                body = json.load(r)
            if body["call"]["status"] == "ended":
                break
        except urllib.error.HTTPError:
            pass
        time.sleep(0.2)
    assert body and body["call"]["status"] == "ended"
    text = " ".join(e["channel"]["alternatives"][0]["transcript"] for e in body["events"]
                    if e["type"] == "Results" and e["is_final"])
    assert wer(ref, text) < 0.3


def test_unknown_call_on_events_endpoint(server):
    got, code, _ = run(_talk(f"{server.url}/v1/calls/nobody-here/events", []))
    assert _errors(got)[0]["err_code"] == "UNKNOWN_CALL" and code == 1008
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.http}/v1/calls/nobody-here")
    assert e.value.code == 404


def test_admission_refused_beyond_capacity_with_1013(server_factory):
    srv = server_factory(max_calls=1)
    frames, rate, ref = _speech_frames()
    url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1)

    async def go():
        first = asyncio.create_task(stream_frames(url, frames, realtime=True, speed=2.0))
        await asyncio.sleep(0.5)
        second = await _talk(url, [])
        return await first, second

    first, (got, code, _) = run(go())
    assert _errors(got)[0]["err_code"] == "CAPACITY_EXCEEDED" and code == 1013
    assert first.close_code == 1000 and wer(ref, first.transcript()) < 0.3
    # a slot is free again once the first call ended
    again = run(stream_frames(url, frames, realtime=False))
    assert again.close_code == 1000


def test_same_call_id_twice_is_refused(server):
    frames, rate, _ = _speech_frames()
    url = listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1, call_id="dup-1")

    async def go():
        first = asyncio.create_task(stream_frames(url, frames, realtime=True, speed=2.0))
        await asyncio.sleep(0.4)
        second = await _talk(url, [])
        await first
        return second

    got, code, _ = run(go())
    assert _errors(got)[0]["err_code"] == "CALL_ALREADY_STREAMING" and code == 1008


def test_server_keeps_serving_after_bad_calls(server):
    for q in ("encoding=opus", "sample_rate=1"):
        run(_talk(f"{server.url}/v1/listen?{q}", []))
    run(_talk(listen_url(server.url, encoding="linear16", sample_rate=16000, channels=1), [b"\x01"]))
    frames, rate, ref = _speech_frames()
    res = run(stream_frames(listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1),
                            frames, realtime=False))
    assert res.close_code == 1000 and wer(ref, res.transcript()) < 0.3


def test_http_endpoints(server):
    with urllib.request.urlopen(f"{server.http}/healthz") as r:
        assert json.load(r)["status"] == "ok"
    with urllib.request.urlopen(f"{server.http}/readyz") as r:
        body = json.load(r)
        assert body["max_calls"] >= 1 and "queue" in body
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.http}/nothing")
    assert e.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.http}/v1/listen")
    assert e.value.code == 426
