"""Twilio Media Streams (ws /v1/twilio): a real stereo recording replayed as Twilio sends
a call, checked on the call's event feed, the one an agent desktop follows."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streaming.audio.codecs import decode_samples, encode_samples, resample
from streaming.client import EventsClient
from streaming.service.auth import Authenticator, mint_token, parse_api_keys
from streaming.service.twilio import AGENT, CUSTOMER, SILENCE, TrackAligner
from tests.conftest import clip, run
from tests.streaming.test_prerecorded import as_accurate_as_offline, offline  # noqa: F401  (fixture)

STEREO = "stereo/stereo_diarization.flac"  # LEFT: one LibriSpeech speaker, RIGHT: another
SECRET = "test-token-secret-0123456789abcdef"
SUP_KEY = "ops-key-0123456789abcdef"
STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"


# -- the aligner (pure) ---------------------------------------------------------------
def test_aligner_places_tracks_by_timestamp_and_fills_gaps():
    a = TrackAligner({AGENT, CUSTOMER})
    a.add(CUSTOMER, 0, b"\x01" * 160)
    assert a.take() == b""  # the agent track has not come yet (and is not 0.5 s behind)
    a.add(AGENT, 0, b"\x02" * 160)
    out = a.take()
    assert out == b"\x02\x01" * 160  # channel 0 agent, channel 1 customer, interleaved
    a.add(CUSTOMER, 40, b"\x03" * 160)  # 20 ms of customer audio lost: silence in its place
    a.add(AGENT, 20, b"\x04" * 320)
    out = np.frombuffer(a.take(), np.uint8).reshape(-1, 2)
    assert out.shape == (320, 2) and (out[:, 0] == 4).all()
    assert (out[:160, 1] == SILENCE).all() and (out[160:, 1] == 3).all()
    a.add(CUSTOMER, 50, b"\x09" * 80)  # arrives again (overlaps what the track has): dropped
    assert a.dropped[CUSTOMER] == 80 and a.take() == b""
    # a track that stops does not hold the call up: past 0.5 s of lead it is padded
    for i in range(30):
        a.add(AGENT, 60 + 20 * i, b"\x05" * 160)
    out = np.frombuffer(a.take(), np.uint8).reshape(-1, 2)
    assert len(out) == 30 * 160 - 4000 and (out[:, 1] == SILENCE).all()
    rest = np.frombuffer(a.take(final=True), np.uint8).reshape(-1, 2)
    assert len(rest) == 4000 and a.pos == 160 + 320 + 30 * 160


def test_aligner_follows_clock_jumps_instead_of_filling_them():
    a = TrackAligner({AGENT, CUSTOMER})
    a.add(AGENT, 0, b"\x01" * 160)
    a.add(CUSTOMER, 0, b"\x02" * 160)
    a.add(AGENT, 10**9, b"\x03" * 160)  # a bogus timestamp: no 11 days of silence
    a.add(AGENT, 10**9 + 20, b"\x04" * 160)  # and the track goes on from there
    a.add(CUSTOMER, 20, b"\x05" * 320)
    out = np.frombuffer(a.take(), np.uint8).reshape(-1, 2)
    assert len(out) == 480 and list(out[::160, 0]) == [1, 3, 4] and a.jumps[AGENT] == 1
    a.add(CUSTOMER, 0, b"\x06" * 160)  # a restarted clock, 60 ms back: late audio, dropped
    a.add(CUSTOMER, 6000, b"\x07" * 160)  # 6 s on: a jump, followed, not filled
    assert a.padded[CUSTOMER] == 0 and a.jumps[CUSTOMER] == 1


def test_aligner_with_one_track_pads_the_other():
    a = TrackAligner({CUSTOMER})  # <Connect><Stream>: inbound only
    a.add(CUSTOMER, 0, b"\x07" * 160)
    out = np.frombuffer(a.take(), np.uint8).reshape(-1, 2)
    assert len(out) == 160 and (out[:, 0] == SILENCE).all() and (out[:, 1] == 7).all()


def test_json_nested_past_the_parser_limit_is_a_bad_message_not_a_crash():
    """Every other message that is not Twilio JSON is ignored mid-call, or refuses the stream
    before `start`; so is one the JSON parser gives up on (RecursionError)."""
    from types import SimpleNamespace

    from streaming.service.twilio import TwilioSocket, _start_message

    deep = "[" * 100_000
    sock = TwilioSocket(SimpleNamespace(request=None), TrackAligner({CUSTOMER}), "MZ1", "CA1")
    sock._on(deep)  # ignored, like any message that is not Twilio JSON
    assert sock._ready == [] and sock.media == 0

    class Ws:
        async def recv(self) -> str:
            return deep

    with pytest.raises(ValueError):  # serve_twilio refuses the stream quietly on ValueError
        run(_start_message(Ws()))


# -- a call through Twilio's protocol -------------------------------------------------
def twilio_frames(audio: np.ndarray, rate: int) -> dict[str, list[bytes]]:
    """Each channel as Twilio carries it: 8 kHz µ-law, 20 ms (160 bytes) per message."""
    out = {}
    for track, c in (("outbound", 0), ("inbound", 1)):  # LEFT is the agent, RIGHT the customer
        ulaw = encode_samples(resample(audio[:, c], rate, 8000), "mulaw")
        out[track] = [ulaw[i:i + 160] for i in range(0, len(ulaw), 160)]
    return out


async def play_twilio_call(url: str, frames: dict[str, list[bytes]], params: dict[str, str],
                           lag: int = 7, tracks: tuple[str, ...] = ("inbound", "outbound"),
                           headers: dict[str, str] | None = None) -> list:
    """Send a call as Twilio does; the outbound track arrives `lag` frames late (jitter) and
    a mark and a DTMF ride along. Returns what the server sent back (Twilio takes only
    media/mark/clear) and the close code."""
    seq = 0

    def msg(event: str, **body) -> str:
        nonlocal seq
        seq += 1
        return json.dumps({"event": event, "sequenceNumber": str(seq), "streamSid": STREAM_SID, **body})

    got: list = []
    async with connect(f"{url}/v1/twilio", additional_headers=headers) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(msg("start", start={
            "streamSid": STREAM_SID, "accountSid": "AC00000000000000000000000000000001",
            "callSid": CALL_SID, "tracks": list(tracks), "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}))
        try:
            n = max(len(f) for f in frames.values())
            for i in range(n + lag):
                for track, j in (("inbound", i), ("outbound", i - lag)):
                    if track in tracks and 0 <= j < len(frames[track]):
                        await ws.send(msg("media", media={
                            "track": track, "chunk": str(j + 1), "timestamp": str(20 * j),
                            "payload": base64.b64encode(frames[track][j]).decode()}))
                if i == 100:
                    await ws.send(msg("mark", mark={"name": "greeting-done"}))
                    await ws.send(msg("dtmf", dtmf={"track": "inbound_track", "digit": "1"}))
                if i % 25 == 0:
                    await asyncio.sleep(0.01)
            await ws.send(msg("stop", stop={"accountSid": "AC00000000000000000000000000000001",
                                            "callSid": CALL_SID}))
        except ConnectionClosed:  # refused: the server closed while we sent
            pass
        try:
            async for m in ws:
                got.append(m)
        except ConnectionClosed:
            pass
        got.append(("closed", ws.close_code))
    return got


def test_twilio_call_reaches_the_event_feed_per_speaker(server_factory, offline):  # noqa: F811
    auth = Authenticator(parse_api_keys(f"supervisor:ops:{SUP_KEY}"), SECRET)
    srv = server_factory(auth=auth)
    audio, rate, ref = clip(STEREO)
    said = dict(line.split(": ", 1) for line in ref.splitlines())
    frames = twilio_frames(audio, rate)
    call_id = "TW-CALL-1"
    phone = mint_token(SECRET, "softphone", "twilio", call_id)
    agent = mint_token(SECRET, "agent", "alice", call_id)

    async def go():
        async with EventsClient(srv.url, call_id, wait=True,
                                headers={"Authorization": f"Token {agent}"}) as desk:
            back = await play_twilio_call(srv.url, frames, {"call_id": call_id, "token": phone})
            await desk.wait_for(lambda e: e.get("type") == "CallEnded", timeout=60)
            return back, desk.events

    back, events = run(go())
    assert back == [("closed", 1000)]  # nothing but Twilio's own messages goes back to Twilio
    records = [e for e in events if e.get("type") == "Record"]
    text = {who: " ".join(e["channel"]["alternatives"][0]["transcript"] for e in records
                          if e["speaker"] == who) for who in ("agent", "customer")}
    for who, side, c in (("agent", "LEFT", 0), ("customer", "RIGHT", 1)):
        heard = decode_samples(b"".join(frames["outbound" if c == 0 else "inbound"]), "mulaw")
        as_accurate_as_offline(said[side], text[who], offline(heard, 8000))
    assert all(e["call_id"] == call_id and "id" in e for e in records)
    meta = next(e for e in events if e.get("type") == "Metadata")
    assert meta["channels"] == 2 and abs(meta["duration"] - audio.shape[0] / rate) < 0.1


def test_twilio_refusals(server_factory):
    auth = Authenticator(parse_api_keys(f"supervisor:ops:{SUP_KEY}"), SECRET)
    srv = server_factory(auth=auth)
    silence = {"inbound": [bytes([SILENCE]) * 160] * 10, "outbound": [bytes([SILENCE]) * 160] * 10}

    def call_exists(cid: str) -> bool:
        return srv.call(srv.server.bus.call_info(cid)) is not None

    # no credential, a wrong one, one for another call: closed 1008 before any audio
    other = mint_token(SECRET, "softphone", "twilio", "TW-OTHER")
    for params in ({"call_id": "TW-2"}, {"call_id": "TW-2", "token": "nope-0123456789abcdef"},
                   {"call_id": "TW-2", "token": other}):
        assert run(play_twilio_call(srv.url, silence, params))[-1] == ("closed", 1008)
    assert not call_exists("TW-2")

    async def first(messages: list[str]) -> int | None:
        async with connect(f"{srv.url}/v1/twilio") as ws:
            for m in messages:
                await ws.send(m)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            return ws.close_code

    ok = mint_token(SECRET, "softphone", "twilio", "TW-3")
    start = {"event": "start", "start": {"callSid": CALL_SID, "tracks": ["inbound"],
                                         "customParameters": {"call_id": "TW-3", "token": ok},
                                         "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 16000,
                                                         "channels": 1}}}
    assert run(first([json.dumps(start)])) == 1003  # not Twilio's µ-law 8 kHz
    assert run(first(["hello"])) == 1008  # not Twilio JSON
    start["start"]["mediaFormat"] = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    start["start"]["customParameters"]["language"] = "nl"  # tiny.en is English-only
    assert run(first([json.dumps(start)])) == 1003
    # a start of the wrong shapes: refused with a reason, no crash in the handler
    for bad in ({"mediaFormat": "audio/x-mulaw"}, {"customParameters": ["TW-3"]}, {"tracks": "inbound"},
                {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": "eight thousand", "channels": 1}}):
        shaped = json.loads(json.dumps(start))
        shaped["start"].update(bad)
        assert run(first([json.dumps(shaped)])) in (1003, 1008), bad
    assert not call_exists("TW-3")
    # inbound only (<Connect><Stream>): the call runs, the agent channel is silence
    back = run(play_twilio_call(srv.url, silence, {"call_id": "TW-4", "token": mint_token(
        SECRET, "softphone", "twilio", "TW-4")}, tracks=("inbound",)))
    assert back == [("closed", 1000)] and call_exists("TW-4")


def test_twilio_signature_when_configured(server_factory, monkeypatch):
    import base64 as b64
    import hashlib
    import hmac

    from websockets.exceptions import InvalidStatus

    from streaming.service.twilio import signature_problem

    env = {"SOUFFLEUR_TWILIO_AUTH_TOKEN": "twilio-auth-token"}
    url = "wss://souffleur.example.com/v1/twilio"
    sig = b64.b64encode(hmac.new(b"twilio-auth-token", url.encode(), hashlib.sha1).digest()).decode()
    host = {"Host": "souffleur.example.com"}
    assert signature_problem(host, "/v1/twilio", {}) is None  # not configured: not asked for
    assert signature_problem({**host, "X-Twilio-Signature": sig}, "/v1/twilio", env) is None
    assert "missing" in signature_problem(host, "/v1/twilio", env)
    assert "does not match" in signature_problem({**host, "X-Twilio-Signature": sig}, "/v1/twilio",
                                                 {**env, "SOUFFLEUR_TWILIO_URL": "wss://other/v1/twilio"})

    srv = server_factory()  # open (loopback): the signature is the only lock here
    monkeypatch.setenv("SOUFFLEUR_TWILIO_AUTH_TOKEN", "twilio-auth-token")
    monkeypatch.setenv("SOUFFLEUR_TWILIO_URL", url)
    silence = {"inbound": [bytes([SILENCE]) * 160] * 10, "outbound": [bytes([SILENCE]) * 160] * 10}
    with pytest.raises(InvalidStatus) as e:
        run(play_twilio_call(srv.url, silence, {"call_id": "TW-5"}, headers={"X-Twilio-Signature": "forged"}))
    assert e.value.response.status_code == 403
    back = run(play_twilio_call(srv.url, silence, {"call_id": "TW-5"}, headers={"X-Twilio-Signature": sig}))
    assert back == [("closed", 1000)]
