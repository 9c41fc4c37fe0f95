"""Genesys Cloud AudioHook Monitor (ws /v1/audiohook): the protocol without a socket, then a
real stereo recording replayed as Genesys streams a conversation, checked on the call's
event feed, the one an agent desktop follows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from streaming.audio.codecs import decode_samples, encode_samples, resample
from streaming.client import EventsClient
from streaming.service.audiohook import MAX_FILL_S, NULL_UUID, AudioHookSession, select_media
from streaming.service.auth import Authenticator, mint_token, parse_api_keys
from streaming.service.logs import scrub
from streaming.service.telephony import SILENCE
from tests.conftest import clip, run
from tests.streaming.test_prerecorded import as_accurate_as_offline, offline  # noqa: F401  (fixture)

STEREO = "stereo/stereo_diarization.flac"  # LEFT: one LibriSpeech speaker, RIGHT: another
SECRET = "test-token-secret-0123456789abcdef"
KEY = "genesys-key-0123456789abcdef"
SUP_KEY = "ops-key-0123456789abcdef"
SESSION = "e160e428-53e2-487c-977d-96989bf5c99d"
ORG = "d7934305-0972-4844-938e-9060eef73d05"
CONVERSATION = "090eaa2f-72fa-480a-83e0-8667ff89c0ec"
PCMU_STEREO = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
PCMU_CUSTOMER = {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}
PCMU_AGENT = {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}
L16_STEREO = {"type": "audio", "format": "L16", "channels": ["external", "internal"], "rate": 8000}
OFFER = [PCMU_CUSTOMER, PCMU_STEREO, L16_STEREO]  # stereo offered second: still the one taken


def client(kind: str, seq: int, serverseq: int = 0, position: str = "PT0S", session: str = SESSION,
           **parameters: Any) -> str:
    return json.dumps({"version": "2", "id": session, "type": kind, "seq": seq, "serverseq": serverseq,
                       "position": position, "parameters": parameters})


def open_params(conversation: str = CONVERSATION, media: list | None = None, **more: Any) -> dict:
    return {"organizationId": ORG, "conversationId": conversation,
            "participant": {"id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0", "ani": "+15551234567",
                            "aniName": "John Doe", "dnis": "+15557654321"},
            "media": OFFER if media is None else media, "language": "en-US", **more}


def server(kind: str, seq: int, clientseq: int, **parameters: Any) -> dict:
    return {"version": "2", "type": kind, "seq": seq, "clientseq": clientseq, "id": SESSION,
            "parameters": parameters}


# -- the protocol (sans I/O) ----------------------------------------------------------
def test_open_ping_close_are_answered_in_sequence():
    s = AudioHookSession(SESSION)
    step = s.receive_text(client("open", 1, **open_params(customConfig={"team": "billing"})))
    assert step.replies == [] and not step.end  # the answer waits for the call's admission
    req = step.open
    assert req.call_id == CONVERSATION and req.call_language == "en" and not req.probe
    assert req.media == PCMU_STEREO and req.organization_id == ORG
    assert s.accept() == server("opened", 1, 1, media=[PCMU_STEREO], startPaused=False)
    assert s.receive_text(client("ping", 2, 1, "PT1.2S", rtt="PT0.05S")).replies == [server("pong", 2, 2)]
    step = s.receive_text(client("close", 3, 2, "PT2.5S", reason="end"))
    assert step.end and step.replies == [] and s.position == 2.5  # closed waits for the transcript
    assert s.closed() == server("closed", 3, 3)
    assert s.closed() is None and s.disconnect("error", "late") is None


def test_media_selection():
    assert select_media(OFFER) == PCMU_STEREO
    internal_first = {**PCMU_STEREO, "channels": ["internal", "external"]}
    assert select_media([PCMU_STEREO, internal_first]) == PCMU_STEREO  # among equals, the first
    assert select_media([PCMU_AGENT, PCMU_CUSTOMER]) == PCMU_CUSTOMER  # mono: the customer first
    assert select_media([L16_STEREO, PCMU_AGENT]) == PCMU_AGENT  # any PCMU 8 kHz rather than none
    for none in ([L16_STEREO], [{**PCMU_STEREO, "rate": 16000}], [{**PCMU_STEREO, "channels": ["left"]}],
                 [{**PCMU_STEREO, "type": "video"}], [], "PCMU", [None]):
        assert select_media(none) is None, none
    s = AudioHookSession(SESSION)
    step = s.receive_text(client("open", 1, **open_params(media=[L16_STEREO])))
    assert step.end and step.open is None and len(step.replies) == 1
    bye = step.replies[0]
    assert bye["type"] == "disconnect" and bye["parameters"]["reason"] == "error"
    assert "no PCMU 8000 Hz" in bye["parameters"]["info"] and "L16/8000/external+internal" in bye["parameters"]["info"]
    assert s.receive_text(client("close", 2, 1, reason="disconnect")).end and s.closed() == server("closed", 2, 2)


def test_audio_becomes_agent_then_customer_and_gaps_silence():
    s = AudioHookSession(SESSION)
    s.receive_text(client("open", 1, **open_params()))
    s.accept()
    frame = b"\x10\x20\x11\x21\x12\x22"  # external 10 11 12, internal 20 21 22, interleaved
    assert s.receive_binary(frame[:3]).audio == b"\x20\x10"  # one sample frame; half of the next kept
    assert s.receive_binary(frame[3:]).audio == b"\x21\x11\x22\x12"  # agent on channel 0
    gap = s.receive_text(client("discarded", 2, 1, "PT1S", start="PT0.5S", discarded="PT0.25S")).audio
    assert gap == bytes([SILENCE]) * (2 * 2000)
    s.receive_text(client("paused", 3, 1, "PT1.25S"))
    assert s.paused
    long = s.receive_text(client("resumed", 4, 1, "PT3601.25S", start="PT1.25S", discarded="PT3600S"))
    assert not s.paused and len(long.audio) == 2 * int(MAX_FILL_S * 8000) and s.skipped == 3600 - MAX_FILL_S
    assert s.samples == 3 and s.frames == 2

    mono = AudioHookSession(SESSION)
    req = mono.receive_text(client("open", 1, **open_params(media=[PCMU_CUSTOMER]))).open
    assert req.media == PCMU_CUSTOMER
    mono.accept()
    assert mono.receive_binary(b"\x01\x02").audio == bytes([SILENCE, 1, SILENCE, 2])  # customer: channel 1


def test_bad_input_gets_a_disconnect_and_ends_the_stream():
    def opened() -> AudioHookSession:
        s = AudioHookSession(SESSION)
        s.receive_text(client("open", 1, **open_params()))
        s.accept()
        assert s.receive_binary(b"\x01\x02" * 80).audio  # audio taken before the bad message
        return s

    # a message type Genesys may add later is noted and ignored: the call goes on
    s = opened()
    step = s.receive_text(client("transcribe", 2, 1))
    assert not step.end and not step.replies and "ignored" in step.note
    assert s.receive_binary(b"\x01\x02").audio

    cases = {
        "not JSON": ("{nope", "not JSON"),
        "seq skipped": (client("ping", 5, 1), "seq 5 where 2 was expected"),
        "seq again": (client("ping", 1, 1), "seq 1 where 2 was expected"),
        "serverseq ahead": (client("ping", 2, 7), "serverseq 7"),
        "another session": (client("ping", 2, 1, session=NULL_UUID), "is not this session's"),
        "version": (json.dumps({"version": "1", "id": SESSION, "type": "ping", "seq": 2, "parameters": {}}),
                    "version '1'"),
        "no seq": (json.dumps({"version": "2", "id": SESSION, "type": "ping", "parameters": {}}), "without a valid seq"),
    }
    for name, (raw, why) in cases.items():
        s = opened()
        step = s.receive_text(raw)
        assert step.end and len(step.replies) == 1, name
        bye = step.replies[0]
        assert bye["type"] == "disconnect" and bye["parameters"]["reason"] == "error", name
        assert why in bye["parameters"]["info"], (name, bye)
        assert bye["seq"] == 2  # after opened
        assert s.receive_binary(b"\x01\x02").audio == b"" and s.late == 2  # audio after it: dropped
        assert s.receive_text(client("ping", 99, 2)).replies[0]["type"] == "pong"  # still answered
        # Genesys then closes; that is answered whatever its seq, acknowledging it
        assert s.receive_text(client("close", 100, 2, reason="disconnect")).end
        assert s.closed() == {**server("closed", 4, 100)}, name

    s = AudioHookSession(SESSION)
    step = s.receive_binary(b"\x01\x02")
    assert step.end and "audio (2 bytes) before opened" in step.replies[0]["parameters"]["info"]


def test_odd_input_is_refused_not_a_crash():
    """What an unauthenticated peer can send before `open` is answered (or a buggy client
    after it) gets a disconnect, never an exception out of the session."""
    odd_offers = [
        [{**PCMU_STEREO, "channels": [{"external": 1}]}],  # unhashable channel names
        [{**PCMU_STEREO, "channels": [["external"], "internal"]}],
        [{**PCMU_STEREO, "channels": 5}],  # not a list at all
        [{**PCMU_STEREO, "channels": None, "format": ["PCMU"]}],
    ]
    for offer in odd_offers:
        s = AudioHookSession(SESSION)
        step = s.receive_text(client("open", 1, **open_params(media=offer)))
        assert step.end and step.open is None, offer
        assert "no PCMU 8000 Hz" in step.replies[0]["parameters"]["info"], offer
    s = AudioHookSession(SESSION)
    step = s.receive_text("[" * 100_000)  # nested past the parser's recursion limit
    assert step.end and "not JSON" in step.replies[0]["parameters"]["info"]


def test_client_errors_and_huge_fields_are_bounded():
    """Genesys' `error` messages are noted; a client repeating them (or with a huge `code`)
    must not grow the session's memory or its log lines without bound."""
    s = AudioHookSession(SESSION)
    s.receive_text(client("open", 1, **open_params()))
    s.accept()
    for seq in range(2, 1002):
        step = s.receive_text(client("error", seq, 1, code="X" * 100_000, message="m" * 100_000))
        assert not step.end and len(step.note) < 400
    assert s.client_error_count == 1000 and len(s.client_errors) <= 20
    assert sum(map(len, s.client_errors)) < 20 * 400
    # nor can a first message make a huge log line (the refusal's note is logged)
    huge = json.dumps({"version": "2", "id": SESSION, "type": "open", "seq": 1, "serverseq": "x" * 100_000})
    step = AudioHookSession(SESSION).receive_text(huge)
    assert step.end and len(step.note) < 400
    # without an Audiohook-Session-Id header the first message's id becomes the session's, in
    # every log line and reply: a huge one is not taken
    s = AudioHookSession(None)
    step = s.receive_text(client("open", 1, session="i" * 100_000, **open_params()))
    assert step.end and step.open is None and s.id is None
    assert len(step.note) < 400 and step.replies[0]["id"] == NULL_UUID
    # a huge language is refused with a short reason (it is logged before the credential check)
    s = AudioHookSession(SESSION)
    req = s.receive_text(client("open", 1, **open_params(language="x" * 100_000))).open
    assert len(req.call_language) <= 20


def test_probe_and_call_id():
    s = AudioHookSession(None)  # no Audiohook-Session-Id header: the first message's id is taken
    req = s.receive_text(client("open", 1, **open_params(conversation=NULL_UUID))).open
    assert req.probe and s.accept()["id"] == SESSION
    cfg = AudioHookSession(SESSION).receive_text(client("open", 1, **open_params(customConfig={"call_id": "DESK-1"})))
    assert cfg.open.call_id == "DESK-1"
    assert scrub("> X-API-KEY: " + KEY) == "> X-API-KEY: [redacted]"  # its credential never reaches a log


# -- sessions through a real server ---------------------------------------------------
class Genesys:
    """The client side of AudioHook as Genesys Cloud runs it: numbered messages, the last
    server seq acknowledged, the position counted from the audio sent."""

    def __init__(self, ws: ClientConnection, channels: int = 2) -> None:
        self.ws, self.channels = ws, channels
        self.seq = self.serverseq = 0
        self.samples = 0
        self.got: list[dict] = []

    async def send(self, kind: str, **params: Any) -> None:
        self.seq += 1
        await self.ws.send(client(kind, self.seq, self.serverseq, f"PT{self.samples / 8000:g}S", **params))

    async def audio(self, frame: bytes) -> None:
        await self.ws.send(frame)
        self.samples += len(frame) // self.channels

    async def expect(self, kind: str | None = None, timeout: float = 60) -> dict:
        m = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.got.append(m)
        self.serverseq = m["seq"]
        assert kind is None or m["type"] == kind, m
        return m

    async def open(self, **params: Any) -> dict:
        await self.send("open", **open_params(**params))
        return await self.expect("opened")

    async def close(self, reason: str = "end") -> dict:
        await self.send("close", reason=reason)
        closed = await self.expect("closed")
        await self.ws.close()
        return closed


def headers(key: str | None = KEY) -> dict[str, str]:
    h = {"Audiohook-Organization-Id": ORG, "Audiohook-Correlation-Id": "5a3a1a7e-7c8e-4c7b-9c1b-2f3f3a3b4c5d",
         "Audiohook-Session-Id": SESSION, "User-Agent": "GenesysCloud-AudioHook-Client"}
    return {**h, "X-API-KEY": key} if key else h


def genesys_server(server_factory, **opts: Any):
    """A server that knows the integration's API key (a softphone key) and a supervisor's."""
    auth = Authenticator(parse_api_keys(f"softphone:genesys:{KEY},supervisor:ops:{SUP_KEY}"), SECRET)
    return server_factory(auth=auth, **opts)


def genesys_frames(audio: np.ndarray, rate: int) -> tuple[list[bytes], dict[str, bytes]]:
    """The call as AudioHook carries it: PCMU 8 kHz, external (customer: RIGHT) then internal
    (agent: LEFT) interleaved, in frames of 20 to 100 ms."""
    ulaw = {c: np.frombuffer(encode_samples(resample(audio[:, c], rate, 8000), "mulaw"), np.uint8)
            for c in (0, 1)}
    n = min(len(u) for u in ulaw.values())
    both = np.stack([ulaw[1][:n], ulaw[0][:n]], axis=1).reshape(-1).tobytes()
    frames, i, sizes = [], 0, (160, 400, 800, 320)  # samples per frame: 20, 50, 100, 40 ms
    while i < n:
        k = sizes[len(frames) % len(sizes)]
        frames.append(both[2 * i:2 * (i + k)])
        i += k
    return frames, {"agent": ulaw[0][:n].tobytes(), "customer": ulaw[1][:n].tobytes()}


def test_audiohook_call_reaches_the_event_feed_per_speaker(server_factory, offline):  # noqa: F811
    srv = genesys_server(server_factory)
    audio, rate, ref = clip(STEREO)
    said = dict(line.split(": ", 1) for line in ref.splitlines())
    frames, heard = genesys_frames(audio, rate)
    desk_token = mint_token(SECRET, "agent", "alice", CONVERSATION)

    async def go() -> tuple[list[dict], list[dict]]:
        async with EventsClient(srv.url, CONVERSATION, wait=True,
                                headers={"Authorization": f"Token {desk_token}"}) as desk:
            async with connect(f"{srv.url}/v1/audiohook", additional_headers=headers()) as ws:
                g = Genesys(ws)
                await g.open()
                for i, f in enumerate(frames):
                    await g.audio(f)
                    if i == len(frames) // 2:
                        await g.send("ping", rtt="PT0.04S")
                        await g.expect("pong")
                    if i % 10 == 0:
                        await asyncio.sleep(0.01)
                await g.close()
            await desk.wait_for(lambda e: e.get("type") == "CallEnded", timeout=90)
            return g.got, desk.events

    got, events = run(go())
    # nothing but the protocol goes back to Genesys, numbered and acknowledging
    assert got == [server("opened", 1, 1, media=[PCMU_STEREO], startPaused=False),
                   server("pong", 2, 2), server("closed", 3, 3)]
    finals = [e for e in events if e.get("type") == "Results" and e.get("is_final")
              and e["channel"]["alternatives"][0]["transcript"]]
    assert {(e["channel_index"][0], e["speaker"]) for e in finals} == {(0, "agent"), (1, "customer")}
    records = [e for e in events if e.get("type") == "Record"]
    for who, side in (("agent", "LEFT"), ("customer", "RIGHT")):
        text = " ".join(e["channel"]["alternatives"][0]["transcript"] for e in records if e["speaker"] == who)
        as_accurate_as_offline(said[side], text, offline(decode_samples(heard[who], "mulaw"), 8000))
    assert all(e["call_id"] == CONVERSATION for e in records)
    meta = next(e for e in events if e.get("type") == "Metadata")
    assert meta["channels"] == 2 and abs(meta["duration"] - len(heard["agent"]) / 8000) < 0.05


def test_audiohook_refusals_and_probe(server_factory):
    srv = genesys_server(server_factory)

    def call_exists(cid: str) -> bool:
        return srv.call(srv.server.bus.call_info(cid)) is not None

    async def session(key: str | None, params: dict, audio_first: bool = False) -> list[dict]:
        """Open as Genesys does; on a disconnect, close as Genesys does. The server's replies."""
        async with connect(f"{srv.url}/v1/audiohook", additional_headers=headers(key)) as ws:
            g = Genesys(ws)
            if audio_first:
                await g.audio(bytes([SILENCE]) * 320)
            else:
                await g.send("open", **params)
            first = await g.expect(timeout=30)
            if first["type"] == "opened":  # a probe: Genesys closes at once
                await g.send("ping")
                await g.expect("pong")
            await g.close("disconnect" if first["type"] == "disconnect" else "end")
            return g.got

    def refused(got: list[dict], reason: str, why: str) -> None:
        assert [m["type"] for m in got] == ["disconnect", "closed"], got
        assert got[0]["parameters"]["reason"] == reason and why in got[0]["parameters"]["info"], got
        assert got[1]["clientseq"] == 2 and got[1]["seq"] == 2

    refused(run(session(None, open_params())), "unauthorized", "no X-API-KEY header")
    refused(run(session("nope-0123456789abcdef", open_params())), "unauthorized", "unknown API key")
    refused(run(session(SUP_KEY, open_params())), "unauthorized", "may not stream")
    refused(run(session(KEY, open_params(media=[L16_STEREO]))), "error", "no PCMU 8000 Hz")
    refused(run(session(KEY, open_params(language="nl-NL"))), "error", "English-only")  # tiny.en
    assert not call_exists(CONVERSATION)
    got = run(session(KEY, {}, audio_first=True))
    assert got[0]["type"] == "disconnect" and "before opened" in got[0]["parameters"]["info"]
    assert got[1] == server("closed", 2, 1)  # the close was Genesys' first message
    # the probe Genesys runs when the integration is saved: answered, credentials checked, no call
    probe = open_params(conversation=NULL_UUID)
    got = run(session(KEY, probe))
    assert got == [server("opened", 1, 1, media=[PCMU_STEREO], startPaused=False),
                   server("pong", 2, 2), server("closed", 3, 3)]
    assert not call_exists(NULL_UUID)
    refused(run(session("nope-0123456789abcdef", probe)), "unauthorized", "unknown API key")


def test_audiohook_pause_outlasts_the_idle_timeout_and_one_session_per_call(server_factory):
    srv = genesys_server(server_factory, idle_timeout_s=1.5)

    async def go() -> tuple[list[dict], list[dict]]:
        async with connect(f"{srv.url}/v1/audiohook", additional_headers=headers()) as ws:
            g = Genesys(ws)
            await g.open()
            await g.audio(bytes([SILENCE]) * 1600)
            await g.send("paused")
            # a second session for a conversation already streaming is refused before any audio
            async with connect(f"{srv.url}/v1/audiohook", additional_headers=headers()) as ws2:
                other = Genesys(ws2)
                await other.send("open", **open_params())
                bye = await other.expect("disconnect")
                assert "already streaming" in bye["parameters"]["info"], bye
                await other.close("disconnect")
            await asyncio.sleep(3.0)  # twice the idle timeout without audio: paused, so not idle
            g.samples += 3 * 8000
            await g.send("resumed", start="PT0.1S", discarded="PT3S")
            await g.audio(bytes([SILENCE]) * 1600)
            await g.close()
            return g.got, other.got

    got, refused = run(go())
    assert [m["type"] for m in got] == ["opened", "closed"], got  # no disconnect for idleness
    assert [m["type"] for m in refused] == ["disconnect", "closed"]
