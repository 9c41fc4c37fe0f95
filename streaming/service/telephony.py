"""What every telephony way in shares: the call it stands for, who may stream it, how it ends.

A contact-centre platform that streams a call to us (Twilio Media Streams,
`twilio.py`; Genesys Cloud AudioHook, `audiohook.py`) is turned into what a
softphone would have sent to `/v1/listen`: µ-law 8 kHz, two channels, agent on
channel 0 and customer on channel 1. The options, the credential check and the
quiet close are the same for each, so they live here once: a rule changed for one
platform (a language the model cannot do, a key for another call) is changed for all.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Protocol
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed

from streaming.options import OptionError, StreamOptions, parse_stream_query
from streaming.service.auth import Authenticator, AuthError, Principal

RATE = 8000
AGENT, CUSTOMER = 0, 1
SILENCE = 0xFF  # µ-law zero
CLOSE_STREAM = json.dumps({"type": "CloseStream"})  # flush everything, as a softphone ends a call
KEEP_ALIVE = json.dumps({"type": "KeepAlive"})  # no audio for a while, on purpose (a pause)


class PhoneHost(Protocol):
    """What a telephony adapter uses of the server (`SouffleurServer`)."""

    auth: Authenticator

    async def run_call(self, ws: Any, opts: StreamOptions, principal: Principal) -> None: ...

    def language_problem(self, opts: StreamOptions) -> str | None: ...


def phone_call_options(host: PhoneHost, call_id: str, language: str | None = None) -> StreamOptions:
    """The `/v1/listen` options a telephony stream stands for, or OptionError saying why not.

    Built as the query a softphone would send, so every rule of `/v1/listen` (call id
    shape, language codes, what this model can do) applies unchanged.
    """
    q: dict[str, str | int] = {"encoding": "mulaw", "sample_rate": RATE, "channels": 2,
                               "multichannel": "true", "call_id": call_id}
    if language:
        q["language"] = language
    opts = parse_stream_query(urlencode(q))
    if (problem := host.language_problem(opts)) is not None:
        raise OptionError(problem)
    return opts


def phone_principal(auth: Authenticator, credential: str | None, call_id: str, missing: str) -> Principal:
    """Who streams this call: the credential as a softphone's, checked for `stream` on `call_id`.

    A softphone key, or a softphone token for this one call; `missing` says where the
    platform should have put it. On an open (loopback) server none is needed. AuthError
    otherwise, with the reason to log and send back.
    """
    if not credential and not auth.open:
        raise AuthError(401, missing)
    principal = auth.authenticate(f"Token {credential}" if credential else None)
    auth.authorize(principal, "stream", call_id)
    return principal


async def close_quietly(ws: Any, code: int, reason: str) -> None:
    """Close with a reason that fits a close frame; a peer already gone is no error."""
    with contextlib.suppress(ConnectionClosed):
        await ws.close(code, reason[:120])
