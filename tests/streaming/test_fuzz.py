"""Property-based tests: no input, however malformed, breaks the parser, the
decoder, a session or the server; other calls are unaffected."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streaming.asr.base import DecodeRequest, ScriptedRecognizer
from streaming.audio.codecs import AudioFormatError, StreamDecoder
from streaming.client import audio_frames, listen_url, stream_frames
from streaming.live.protocol import ControlError, parse_control
from streaming.live.session import CallSession, Close, Send
from streaming.options import OptionError, parse_stream_query
from tests.conftest import espeak, run, silence

control_texts = st.one_of(
    st.text(max_size=200),
    st.builds(json.dumps, st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=10)),
    st.sampled_from(['{"type": "KeepAlive"}', '{"type": "Finalize"}', '{"type": "CloseStream"}',
                     '{"type": 7}', '{"type": "Bogus"}', "[", "{}" * 1000]),
)


@given(control_texts)
@settings(max_examples=300)
def test_control_parser_only_accepts_or_reports(text):
    try:
        ctl = parse_control(text)
    except ControlError as e:
        assert e.code in ("INVALID_JSON", "UNKNOWN_MESSAGE") and str(e)
    else:
        assert ctl.type in ("KeepAlive", "Finalize", "CloseStream", "Configure")


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_query_parser_only_accepts_or_reports(q):
    try:
        o = parse_stream_query(q)
    except OptionError as e:
        assert str(e)
    else:
        assert o.encoding in ("linear16", "mulaw", "alaw", "float32")
        assert 8000 <= o.sample_rate <= 48000 and o.channels in (1, 2)


@given(st.sampled_from(["linear16", "mulaw", "alaw", "float32"]), st.sampled_from([8000, 11025, 16000, 44100]),
       st.integers(1, 2), st.lists(st.binary(max_size=2000), max_size=6))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_decoder_gives_finite_audio_or_a_format_error(enc, rate, channels, frames):
    d = StreamDecoder(enc, rate, channels, separate=True)
    for f in frames:
        try:
            out = d.decode(f)
        except AudioFormatError as e:
            assert str(e)
            continue
        assert len(out) == channels
        for x in out:
            assert x.dtype == np.float32 and np.all(np.isfinite(x)) and np.all(np.abs(x) <= 1.0001)


messages = st.lists(st.one_of(st.binary(max_size=1500), control_texts), max_size=25)


@given(st.sampled_from(["linear16", "mulaw", "float32"]), st.integers(1, 2), messages)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_session_never_raises_and_always_ends_with_metadata(enc, channels, msgs):
    from streaming.options import StreamOptions

    rec = ScriptedRecognizer(lambda r: [(" hello", 0.0, 0.3)])
    s = CallSession(StreamOptions(encoding=enc, sample_rate=16000, channels=channels))
    sent: list[dict] = []
    closes: list[Close] = []

    def handle(outs):
        for o in outs:
            if isinstance(o, DecodeRequest):
                handle(s.on_result(o, rec.decode_batch([o])[0]))
            elif isinstance(o, Send):
                sent.append(o.message)
            else:
                assert isinstance(o, Close)
                closes.append(o)

    for m in msgs:
        handle(s.receive_audio(m) if isinstance(m, bytes) else s.receive_text(m))
    handle(s.close())
    assert len(closes) == 1
    meta = [i for i, m in enumerate(sent) if m["type"] == "Metadata"]
    assert len(meta) == 1  # exactly one Metadata; after it only Errors (input after the close)
    assert all(m["type"] == "Error" for m in sent[meta[0] + 1:])
    assert all(m["type"] in ("Results", "Error", "Metadata", "SpeechStarted", "UtteranceEnd") for m in sent)
    assert all(m["err_msg"] for m in sent if m["type"] == "Error")


def test_server_survives_random_clients_and_other_calls_are_unaffected(server_factory):
    srv = server_factory(assist=False)
    x, rate = espeak("Thank you for holding, your card has been unblocked.")
    good_frames = audio_frames(np.concatenate([x, silence(1.0, rate)]), rate)

    async def hostile(msgs, query):
        try:
            async with connect(f"{srv.url}/v1/listen?{query}", max_size=None) as ws:
                for m in msgs:
                    await ws.send(m)
                await ws.send(json.dumps({"type": "CloseStream"}))
                replies = [json.loads(r) async for r in ws]
                return replies, ws.close_code
        except ConnectionClosed as e:
            return [], e.rcvd.code if e.rcvd else None

    @given(messages, st.sampled_from(["encoding=linear16", "encoding=mulaw&channels=2", "encoding=float32",
                                      "encoding=bad", "sample_rate=7", ""]))
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    def attack(msgs, query):
        replies, code = run(hostile(msgs, query))
        assert code in (1000, 1003, 1007, 1008, 1009, 1011)
        for m in replies:
            assert m["type"] in ("Results", "Error", "Metadata", "SpeechStarted", "UtteranceEnd")

    async def both():
        good = asyncio.create_task(stream_frames(
            listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1), good_frames,
            realtime=True, speed=1.5))
        await asyncio.get_running_loop().run_in_executor(None, attack)
        return await good

    res = run(both())
    assert res.close_code == 1000 and "card" in res.transcript().lower()
    with urllib.request.urlopen(f"{srv.http}/healthz") as r:
        assert json.load(r)["status"] == "ok"
