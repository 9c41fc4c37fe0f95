"""Twilio Media Streams (`ws /v1/twilio`) into the same `CallSession` as `/v1/listen`.

Twilio opens a websocket to us and speaks its own JSON: `connected`, then
`start` (streamSid, callSid, tracks, customParameters, mediaFormat
audio/x-mulaw 8000 Hz mono), then `media` messages (base64 µ-law, 20 ms each,
`track` inbound or outbound, `timestamp` in ms since the stream started,
`chunk` counting per track), `dtmf`, `mark`, and `stop` (docs/protocol.md has
the TwiML). This module turns that into what a softphone would have sent: a
2-channel µ-law 8 kHz stream, agent on channel 0 (Twilio's `outbound` track,
what the caller hears) and customer on channel 1 (`inbound`, what the caller
says), each track placed by its timestamps (gaps filled with silence, a track
that falls behind padded so the other is not held up). `TwilioSocket` has the
three methods `LiveCall` uses of a websocket, so the call runs through the very
`LiveCall`/`CallSession` a `/v1/listen` call does: the desktop feed, the
assistant, the stored log and its redaction are the same.

Twilio can set no header on the socket and its URL takes no query, so the
credential and the call id ride in `customParameters` (`token`, `call_id`;
without `call_id` the call is Twilio's callSid; optionally `language`, as
`/v1/listen` takes it) and are checked on `start`, before any audio is
accepted; the handshake itself is let through (`routes.py`). We never send
audio, so Twilio gets nothing back: transcripts go to the call's event feed,
not to Twilio, which accepts only media, mark and clear. A `mark` from Twilio
(the echo of a mark we would have sent after audio) is counted and ignored.
With `SOUFFLEUR_TWILIO_AUTH_TOKEN` set, the handshake must also carry Twilio's
`X-Twilio-Signature` (`signature_problem`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from streaming.live.protocol import CloseCode
from streaming.options import OptionError
from streaming.service.auth import AuthError
from streaming.service.telephony import (
    AGENT,
    CLOSE_STREAM,
    CUSTOMER,
    RATE,
    SILENCE,
    PhoneHost,
    close_quietly,
    phone_call_options,
    phone_principal,
)

log = logging.getLogger("souffleur")

TWILIO_PATH = "/v1/twilio"
TRACK_CHANNEL = {"outbound": AGENT, "inbound": CUSTOMER}
JITTER_SAMPLES = 40  # 5 ms: timestamps this close to the track's end are contiguous
MAX_SKEW_S = 0.5  # a track this far behind the other is padded with silence
MAX_GAP_S = 5.0  # a timestamp further than this from where the track is is a jump (or a
# bogus value), not lost audio: the track goes on from there, nothing is filled
START_TIMEOUT_S = 10.0


class TrackAligner:
    """Two µ-law tracks placed by timestamp, taken out as interleaved 2-channel frames.

    Pure: no I/O. Each track's samples sit at absolute positions (timestamp × 8);
    a gap becomes silence (a jump of more than `MAX_GAP_S` either way, a restarted or
    bogus clock, is followed instead, so no value can make it allocate hours of
    silence), audio overlapping what the track already has is dropped,
    and frames come out as soon as both tracks have them (or one track leads by
    `MAX_SKEW_S`, when the other is padded: a track that stops or never comes does
    not stall the call).
    """

    def __init__(self, tracks: set[int], max_skew_s: float = MAX_SKEW_S) -> None:
        self.live = set(tracks)  # channels that send audio; the others are silent
        self.max_skew = int(max_skew_s * RATE)
        self.pos = 0  # absolute sample position of the next frame taken
        self.buf = {AGENT: bytearray(), CUSTOMER: bytearray()}
        self.padded = {AGENT: 0, CUSTOMER: 0}  # samples of silence inserted (gaps, lag)
        self.dropped = {AGENT: 0, CUSTOMER: 0}  # samples that arrived too late or twice
        self.offset = {AGENT: 0, CUSTOMER: 0}  # samples subtracted from a track's timestamps
        self.jumps = {AGENT: 0, CUSTOMER: 0}  # timestamp jumps past MAX_GAP_S (not filled)

    def add(self, channel: int, timestamp_ms: int, payload: bytes) -> None:
        start = timestamp_ms * RATE // 1000 - self.offset[channel]
        end = self.pos + len(self.buf[channel])
        if abs(start - end) > MAX_GAP_S * RATE:  # a jump, not a gap: continue from here
            self.offset[channel] += start - end
            self.jumps[channel] += 1
            start = end
        if start > end + JITTER_SAMPLES:
            self._pad(channel, start - end)
        elif start < end - JITTER_SAMPLES:
            cut = min(len(payload), end - start)
            self.dropped[channel] += cut
            payload = payload[cut:]
        self.buf[channel] += payload

    def take(self, final: bool = False) -> bytes:
        """The interleaved frames both tracks have (all of them when `final`)."""
        lead = max(len(b) for b in self.buf.values())
        for c, b in self.buf.items():
            want = lead if final or c not in self.live else lead - self.max_skew
            if len(b) < want:
                self._pad(c, want - len(b))
        n = min(len(b) for b in self.buf.values())
        if n == 0:
            return b""
        out = np.empty(2 * n, np.uint8)
        out[AGENT::2] = np.frombuffer(bytes(self.buf[AGENT][:n]), np.uint8)
        out[CUSTOMER::2] = np.frombuffer(bytes(self.buf[CUSTOMER][:n]), np.uint8)
        for b in self.buf.values():
            del b[:n]
        self.pos += n
        return out.tobytes()

    def _pad(self, channel: int, n: int) -> None:
        self.buf[channel] += bytes([SILENCE]) * n
        self.padded[channel] += n


class TwilioSocket:
    """The websocket `LiveCall` reads and writes, made of a Twilio Media Streams socket."""

    def __init__(self, ws: ServerConnection, aligner: TrackAligner, stream_sid: str, call_id: str) -> None:
        self.ws = ws
        self.aligner = aligner
        self.stream_sid = stream_sid
        self.call_id = call_id
        self.request = ws.request
        self._ready: list[bytes | str] = []
        self._stopped = False
        self.marks: list[str] = []
        self.media = 0
        self.not_sent = 0  # results that Twilio does not take (they go to the event feed)

    async def recv(self) -> bytes | str:
        while not self._ready:
            raw = await self.ws.recv()
            if self._stopped:
                continue  # after `stop` only the close matters
            self._on(raw)
        return self._ready.pop(0)

    def _on(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            event = msg.get("event")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: nested past the parser's limit
            log.warning("twilio %s: a message that is not Twilio JSON was ignored", self.call_id)
            return
        if event == "media":
            m = msg.get("media") or {}
            channel = TRACK_CHANNEL.get(m.get("track", "inbound"))
            try:
                payload = base64.b64decode(m.get("payload", ""), validate=True)
                ts = int(m.get("timestamp", 0))
            except (binascii.Error, ValueError, TypeError):
                log.warning("twilio %s: a media message with a bad payload or timestamp was ignored",
                            self.call_id)
                return
            if channel is None:
                return
            self.media += 1
            self.aligner.add(channel, ts, payload)
            if frames := self.aligner.take():
                self._ready.append(frames)
        elif event == "stop":
            self._stopped = True
            if frames := self.aligner.take(final=True):
                self._ready.append(frames)
            self._ready.append(CLOSE_STREAM)  # flush everything, as a softphone's CloseStream
        elif event == "mark":
            self.marks.append(str((msg.get("mark") or {}).get("name", "")))
        # connected, start (again), dtmf and anything newer: nothing to do

    async def send(self, message: str) -> None:
        self.not_sent += 1
        if '"Error"' in message[:40]:
            err = json.loads(message)
            log.warning("twilio %s: %s %s", self.call_id, err.get("err_code"), err.get("err_msg"))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)


def signature_problem(headers: Any, path: str, env: dict[str, str] | None = None) -> str | None:
    """Twilio's own request signature on the websocket handshake, when configured.

    With `SOUFFLEUR_TWILIO_AUTH_TOKEN` set, the upgrade must carry `X-Twilio-Signature`:
    base64(HMAC-SHA1(auth token, the Stream url as Twilio dialled it)). That url is
    `SOUFFLEUR_TWILIO_URL` (the public wss:// address, e.g. behind a TLS proxy) or else
    wss://<Host header><path>. A second lock beside the token; None when it passes or
    is not configured.
    """
    env = os.environ if env is None else env
    secret = env.get("SOUFFLEUR_TWILIO_AUTH_TOKEN")
    if not secret:
        return None
    got = headers.get("X-Twilio-Signature")
    if not got:
        return "X-Twilio-Signature missing (SOUFFLEUR_TWILIO_AUTH_TOKEN is set)"
    url = env.get("SOUFFLEUR_TWILIO_URL") or f"wss://{headers.get('Host', '')}{path}"
    want = base64.b64encode(hmac.new(secret.encode(), url.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(want, got.strip()):
        return "X-Twilio-Signature does not match (check SOUFFLEUR_TWILIO_URL and the auth token)"
    return None


async def serve_twilio(host: PhoneHost, ws: ServerConnection) -> None:
    """One Twilio Media Stream: wait for `start`, check it, run the call."""
    try:
        start = await asyncio.wait_for(_start_message(ws), START_TIMEOUT_S)
    except (TimeoutError, ConnectionClosed, ValueError) as e:
        log.warning("twilio stream refused: %s", e or "no start message")
        await close_quietly(ws, CloseCode.POLICY, "expected Twilio's start message")
        return
    fmt = start.get("mediaFormat") or {}
    params = start.get("customParameters") or {}
    tracks_said = start.get("tracks") or ["inbound"]
    if not isinstance(fmt, dict) or not isinstance(params, dict) or not isinstance(tracks_said, list):
        await close_quietly(ws, CloseCode.POLICY, "start: mediaFormat and customParameters must be "
                                                  "objects, tracks a list")
        return
    if (fmt.get("encoding"), _int(fmt.get("sampleRate")), _int(fmt.get("channels") or 1)) \
            != ("audio/x-mulaw", RATE, 1):
        await close_quietly(ws, CloseCode.UNSUPPORTED_DATA, f"unsupported mediaFormat {str(fmt)[:200]}")
        return
    call_id = str(params.get("call_id") or start.get("callSid") or "")
    try:
        opts = phone_call_options(host, call_id, str(params.get("language") or "") or None)
    except OptionError as e:
        log.warning("twilio stream for %s refused: %s", call_id, e)
        await close_quietly(ws, CloseCode.UNSUPPORTED_DATA, str(e))
        return
    try:
        principal = phone_principal(host.auth, params.get("token"), opts.call_id,
                                    "no token in the start message's customParameters")
    except AuthError as e:
        log.warning("twilio stream for %s denied: %s", opts.call_id, e.reason)
        await close_quietly(ws, CloseCode.POLICY, "unauthorized: " + e.reason)
        return
    tracks = {TRACK_CHANNEL[t] for t in tracks_said if isinstance(t, str) and t in TRACK_CHANNEL}
    sock = TwilioSocket(ws, TrackAligner(tracks), str(start.get("streamSid", "")), opts.call_id)
    log.info("twilio stream %s for call %s (tracks %s)", sock.stream_sid, opts.call_id,
             ",".join(sorted(str(t)[:20] for t in tracks_said)))
    await host.run_call(sock, opts, principal)
    a = sock.aligner
    log.info("twilio stream %s ended: %d media, silence padded agent %d / customer %d samples, "
             "late %d / %d, marks %d", sock.stream_sid, sock.media, a.padded[AGENT], a.padded[CUSTOMER],
             a.dropped[AGENT], a.dropped[CUSTOMER], len(sock.marks))


def _int(v: Any) -> int | None:
    """A number Twilio sends as a number (or a numeric string); anything else is None."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


async def _start_message(ws: ServerConnection) -> dict[str, Any]:
    while True:
        raw = await ws.recv()
        try:
            msg = json.loads(raw)
        except RecursionError:  # nested past the parser's limit (JSONDecodeError is a ValueError)
            raise ValueError("not a Twilio message") from None
        if not isinstance(msg, dict):
            raise ValueError("not a Twilio message")
        if msg.get("event") == "start":
            start = msg.get("start")
            if not isinstance(start, dict):
                raise ValueError("start message without its start object")
            return start
        if msg.get("event") != "connected":
            raise ValueError(f"expected start, got {str(msg.get('event'))[:20]!r}")
