"""Genesys Cloud AudioHook Monitor (`ws /v1/audiohook`) into the same `CallSession` as `/v1/listen`.

The protocol is `audiohook.py` (sans I/O); this is its asyncio side, kept thin.
`serve_audiohook` takes the client's `open`, checks it and either refuses it
(`disconnect`, then the client's close transaction) or runs the call: a probe
(Genesys checking the integration, conversationId all zeros) is answered `opened`
and runs none. `AudioHookSocket` has the three methods `LiveCall` uses of a
websocket, as `twilio.TwilioSocket` does, so the call runs through the very
`LiveCall`/`CallSession` a softphone's does: the desktop feed, the assistant, the
stored log and its redaction are the same. `opened` goes out when the call is
admitted (its first read), so a refused call (capacity, a call id already
streaming) is a `disconnect` in answer to the `open`, before any audio.

Genesys sets headers on the upgrade, so the credential is the integration's API
Key, sent as `X-API-KEY`: a softphone key (or an admin key) from
`SOUFFLEUR_API_KEYS`, checked on `open` with the call id (the conversation, or
`customConfig.call_id`); without it, or with a key that may not stream, the answer
is `disconnect` with reason `unauthorized`. The HTTP message signature Genesys adds
when the integration has a Client Secret is not checked (docs/protocol.md).
Transcripts go to the call's event feed; Genesys gets protocol replies only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from streaming.live.protocol import CloseCode
from streaming.options import OptionError
from streaming.service.audiohook import AudioHookSession, OpenRequest, Step
from streaming.service.auth import AuthError
from streaming.service.telephony import (
    CLOSE_STREAM,
    KEEP_ALIVE,
    RATE,
    PhoneHost,
    close_quietly,
    phone_call_options,
    phone_principal,
)

log = logging.getLogger("souffleur")

OPEN_TIMEOUT_S = 10.0  # for the open after the upgrade
CLOSE_WAIT_S = 10.0  # for the client's close after our disconnect, and its socket close after closed
KEEPALIVE_S = 1.0  # while paused, the call is told this often that the silence is meant (a
# pause, e.g. Genesys' secure pause, may last minutes; the call's idle timeout is 10 s)


class AudioHookSocket:
    """The websocket `LiveCall` reads and writes, made of an AudioHook session.

    Reads (`step`) are one at a time: `LiveCall` reads, and so does `close` while it
    waits for the client's close. Each message is taken and its replies are sent under
    one write lock, so our `seq` goes out in order whoever sends.
    """

    def __init__(self, ws: ServerConnection, session: AudioHookSession) -> None:
        self.ws = ws
        self.request = ws.request
        self.session = session
        self.call_id = ""
        self._read = asyncio.Lock()
        self._write = asyncio.Lock()
        self._pending: deque[bytes | str] = deque()  # for LiveCall: audio, KeepAlive, CloseStream
        self._ended = False  # CloseStream is queued
        self.last_error: str | None = None  # the call's last Error: the disconnect's info
        self.not_sent = 0  # results Genesys does not take (they go to the event feed)

    # -- what LiveCall uses ------------------------------------------------------------
    async def recv(self) -> bytes | str:
        if self.session.state == "opening":  # admitted: audio may come now
            await self.reply(self.session.accept)
        while not self._pending:
            await self.step()
        return self._pending.popleft()

    async def send(self, message: str) -> None:
        self.not_sent += 1
        if '"Error"' in message[:40]:
            err = json.loads(message)
            self.last_error = f"{err.get('err_code')}: {err.get('err_msg')}"
            log.warning("audiohook %s: %s", self.call_id, self.last_error)

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """The call is over: answer the client's close now the transcript is out, or ask
        for one (`disconnect`, with the call's last error) and wait for it."""
        if self.session.state not in ("closing", "closed"):
            why = "completed" if code == CloseCode.NORMAL else "error"
            info = self.last_error or reason or "the call ended"
            await self.reply(lambda: self.session.disconnect(why, info))
        await self.finish(code, reason)

    # -- the protocol over the socket --------------------------------------------------
    async def step(self, stop: Callable[[], bool] | None = None) -> Step | None:
        """Read one message, take it, send its replies; None when `stop()` held before a
        read began, or (paused) when none came for KEEPALIVE_S."""
        async with self._read:
            if stop is not None and stop():
                return None
            try:
                raw = await asyncio.wait_for(self.ws.recv(), KEEPALIVE_S if self.session.paused else None)
            except TimeoutError:
                self._pending.append(KEEP_ALIVE)
                return None
            async with self._write:
                s = (self.session.receive_binary(raw) if isinstance(raw, bytes)
                     else self.session.receive_text(raw))
                await self._send(s.replies)
        if s.note:
            log.info("audiohook %s: %s", self.call_id or self.session.id, s.note)
        if s.audio:
            self._pending.append(s.audio)
        if s.end and not self._ended:
            self._ended = True
            self._pending.append(CLOSE_STREAM)
        return s

    async def reply(self, make: Callable[[], dict[str, Any] | None]) -> None:
        """Send what `make` builds now (it numbers the message), if anything."""
        async with self._write:
            if (msg := make()) is not None:
                await self._send([msg])

    async def open_request(self) -> OpenRequest | None:
        """The client's open, once taken; None if the session ended before one."""
        while True:
            s = await self.step()
            if s is not None and s.open is not None:
                return s.open
            if s is not None and s.end:
                return None

    async def refuse(self, reason: str, info: str) -> None:
        log.warning("audiohook session %s refused (%s): %s", self.session.id, reason, info[:500])
        await self.reply(lambda: self.session.disconnect(reason, info))
        await self.finish(CloseCode.POLICY, info)

    async def finish(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """The end of a session: wait (bounded) for the client's close, answer `closed`,
        let the client close the socket (the protocol has it do so), else close it."""
        def ending() -> bool:
            return self.session.state in ("closing", "closed")

        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(CLOSE_WAIT_S):
                while not ending():
                    await self.step(stop=ending)
                await self.reply(self.session.closed)
                await self.ws.wait_closed()
        await close_quietly(self.ws, code, reason)

    async def _send(self, messages: list[dict[str, Any]]) -> None:
        with contextlib.suppress(ConnectionClosed):  # the reader sees the close
            for m in messages:
                await self.ws.send(json.dumps(m))


async def serve_audiohook(host: PhoneHost, ws: ServerConnection) -> None:
    """One AudioHook session: take the open, check it, answer it, run the call."""
    headers = ws.request.headers
    sock = AudioHookSocket(ws, AudioHookSession(headers.get("Audiohook-Session-Id")))
    try:
        req = await asyncio.wait_for(sock.open_request(), OPEN_TIMEOUT_S)
    except (TimeoutError, ConnectionClosed):
        log.warning("audiohook session %s refused: no open message", sock.session.id)
        await close_quietly(ws, CloseCode.POLICY, "expected AudioHook's open message")
        return
    if req is None:  # a message it could not take (disconnect sent), or closed before opening
        await sock.finish(CloseCode.POLICY, "no open")
        return
    try:
        opts = phone_call_options(host, req.call_id, None if req.probe else req.call_language)
        principal = phone_principal(host.auth, headers.get("X-API-KEY"), opts.call_id,
                                    "no X-API-KEY header: set the AudioHook integration's API Key")
    except OptionError as e:
        await sock.refuse("error", str(e))
        return
    except AuthError as e:
        await sock.refuse("unauthorized", e.reason)
        return
    if req.probe:  # Genesys checking the integration: answered, no call
        await sock.reply(sock.session.accept)
        await sock.finish()
        log.info("audiohook probe from organization %s answered (%s)", req.organization_id, principal.name)
        return
    sock.call_id = opts.call_id
    log.info("audiohook session %s for call %s (correlation %s, media %s)", sock.session.id, opts.call_id,
             headers.get("Audiohook-Correlation-Id"), "+".join(req.media["channels"]))
    await host.run_call(sock, opts, principal)
    s = sock.session
    log.info("audiohook session %s ended: %d frames, %.1f s of audio (client position %s), %.1f s of "
             "gaps filled, %.1f s not, %d bytes late, client errors %d", s.id, s.frames, s.samples / RATE,
             s.position, s.filled / RATE, s.skipped, s.late, s.client_error_count)
