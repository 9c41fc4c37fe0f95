"""Genesys Cloud AudioHook Monitor, the protocol alone: messages in, replies and audio out.

Genesys (the client) opens a websocket per conversation and speaks JSON text
messages, each `{version: "2", type, seq, id, parameters}`; the client's also carry
`serverseq` (the last of ours it has) and `position` (audio so far, "PT1.5S"), ours
carry `clientseq` (the last of its we have). `seq` counts each side's text messages
from 1; binary frames are audio and are not counted. The client sends `open`,
offering media (`[{type: audio, format: PCMU, channels: [external, internal],
rate: 8000}, …]`); we answer `opened` with the one we take, and only then does audio
come: µ-law samples interleaved in that entry's channel order. `external` is the
customer, `internal` the agent. `ping` gets `pong`; `paused`/`resumed` and
`discarded` say audio stopped or was dropped (the position runs on: `discarded` /
`resumed` give how much); `update`, `error` and `dtmf` are for us to note. The
client ends with `close`, answered by `closed` once the transcript is complete; we
end (a refusal, an error) with `disconnect` and the client then does its close.

`AudioHookSession` is that protocol without I/O, so every rule is tested without a
socket (`tests/streaming/test_audiohook.py`): it checks sequence numbers and the
session id, picks the media (`select_media`), and turns the audio into what a
softphone sends `/v1/listen`, two µ-law channels with the agent on channel 0 (the
customer alone on channel 1 when only `external` is offered), gaps Genesys reports
filled with silence (up to `MAX_FILL_S` each, so a bogus duration cannot allocate
hours). Anything it cannot take (not JSON, audio before `opened`, a `seq` out of
order) is answered with a `disconnect` saying what, and the caller ends the stream: what
was received is still transcribed. A message type it does not know is noted and ignored. The socket side is
`audiohook_socket.py`.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaming.service.telephony import AGENT, CUSTOMER, RATE, SILENCE

AUDIOHOOK_PATH = "/v1/audiohook"
VERSION = "2"
NULL_UUID = "00000000-0000-0000-0000-000000000000"  # conversationId of a connection probe
CHANNEL_ROLE = {"internal": AGENT, "external": CUSTOMER}
MAX_FILL_S = 5.0  # a reported gap longer than this is noted, not filled (Twilio's MAX_GAP_S)
IGNORED_TYPES = frozenset({"update", "dtmf"})  # known, nothing to do for a monitor
_DURATION = re.compile(r"^PT(\d+(?:\.\d+)?)S$")


def parse_duration(value: Any) -> float | None:
    """An AudioHook duration ("PT12.34S", seconds only) in seconds, or None if it is not one."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    return float(m.group(1)) if m else None


def select_media(offered: Any) -> dict[str, Any] | None:
    """The offered entry we take: PCMU 8 kHz, both parties before one, the customer before
    the agent alone; among equals the first offered. None when no entry is PCMU 8 kHz audio
    with known channels (L16 and other rates are left to the client to drop)."""
    best: tuple[int, int, dict[str, Any]] | None = None
    for i, m in enumerate(offered if isinstance(offered, list) else []):
        if not isinstance(m, dict) or m.get("type") != "audio" or str(m.get("format", "")).upper() != "PCMU":
            continue
        channels = m.get("channels")
        if m.get("rate") != RATE or not isinstance(channels, list) or not 1 <= len(channels) <= 2 \
                or not all(isinstance(c, str) and c in CHANNEL_ROLE for c in channels) \
                or len(set(channels)) != len(channels):
            continue
        rank = 2 * len(channels) + ("external" in channels)
        if best is None or rank > best[0]:
            best = (rank, -i, m)
    return best[2] if best else None


def describe_media(offered: Any) -> str:
    """The offer in a few words, for the reason of a refusal."""
    entries = offered if isinstance(offered, list) else []
    def channels(m: dict[str, Any]) -> str:
        c = m.get("channels")
        return "+".join(map(str, c)) if isinstance(c, list) else str(c or "")

    return ", ".join(f"{m.get('format')}/{m.get('rate')}/{channels(m)}"
                     for m in entries if isinstance(m, dict))[:200] or "nothing"


@dataclass(frozen=True)
class OpenRequest:
    """What an `open` asks for, once its media is taken; the caller answers it (`accept`)
    or refuses it (`disconnect`)."""

    conversation_id: str
    organization_id: str
    media: dict[str, Any]
    language: str | None = None  # BCP 47 as Genesys sends it, e.g. en-US
    custom_config: dict[str, Any] = field(default_factory=dict)

    @property
    def probe(self) -> bool:
        """Genesys checks an integration (when it is saved or activated) with a session for
        no conversation: it must be answered, and it is not a call."""
        return self.conversation_id == NULL_UUID

    @property
    def call_id(self) -> str:
        """The conversation, unless the integration's Custom Config names one (`call_id`)."""
        cfg = self.custom_config.get("call_id")
        return str(cfg) if isinstance(cfg, str) and cfg else self.conversation_id

    @property
    def call_language(self) -> str | None:
        """The language as `/v1/listen` takes it: en-US is en."""
        return self.language.split("-")[0].lower()[:20] if self.language else None  # a bad one is refused, quoted


@dataclass
class Step:
    """What one message from the client came to."""

    replies: list[dict[str, Any]] = field(default_factory=list)  # to send now, in order
    audio: bytes = b""  # 2-channel µ-law 8 kHz, agent on channel 0
    open: OpenRequest | None = None
    end: bool = False  # the stream is over (close, or a message we could not take): flush it
    note: str | None = None  # worth a log line


class AudioHookSession:
    """One AudioHook session, sans I/O.

    States: `new` (no open yet), `opening` (open taken, no answer yet), `open`
    (`opened` sent: audio flows), `closing` (the client's close came: answer it with
    `closed()` once the transcript is out), `closed`. `disconnected` is set once our
    `disconnect` is out; after it only `close` and `ping` are answered.
    """

    def __init__(self, session_id: str | None = None) -> None:
        self.id = session_id or None  # Audiohook-Session-Id; else the first message's id
        self.seq = 0  # our last seq
        self.clientseq = 0  # the client's last seq
        self.state = "new"
        self.disconnected = False
        self.paused = False
        self.media: dict[str, Any] | None = None
        self._roles: list[int] = []  # the media's channels, in frame order -> our channel
        self._carry = b""  # a sample frame cut across two binary messages
        self.position: float | None = None  # the client's, from its last message
        self.frames = 0  # binary messages taken
        self.samples = 0  # samples per channel taken (without filled gaps)
        self.filled = 0  # samples of silence put in for reported gaps
        self.skipped = 0.0  # seconds of reported gaps beyond MAX_FILL_S, not filled
        self.late = 0  # audio bytes dropped: after close or disconnect
        self.client_errors: deque[str] = deque(maxlen=20)  # Genesys' last `error`s
        self.client_error_count = 0

    # -- what the caller sends ---------------------------------------------------------
    def message(self, kind: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        self.seq += 1
        return {"version": VERSION, "type": kind, "seq": self.seq, "clientseq": self.clientseq,
                "id": self.id or NULL_UUID, "parameters": parameters or {}}

    def accept(self) -> dict[str, Any]:
        """`opened` with the media taken: from now on the client sends audio."""
        assert self.state == "opening" and self.media is not None, self.state
        self.state = "open"
        return self.message("opened", {"media": [self.media], "startPaused": False})

    def disconnect(self, reason: str, info: str) -> dict[str, Any] | None:
        """Ask the client to end the session (`completed`, `unauthorized` or `error`), once;
        None when it is already ending."""
        if self.disconnected or self.state in ("closing", "closed"):
            return None
        self.disconnected = True
        return self.message("disconnect", {"reason": reason, "info": info[:500]})

    def closed(self) -> dict[str, Any] | None:
        """The answer to the client's close, once; None before it came or after."""
        if self.state != "closing":
            return None
        self.state = "closed"
        return self.message("closed")

    # -- what the client sends ---------------------------------------------------------
    def receive_binary(self, data: bytes) -> Step:
        if self.state in ("closing", "closed") or self.disconnected:
            self.late += len(data)
            return Step()
        if self.state != "open" or self.media is None:
            return self._refuse(f"audio ({len(data)} bytes) before opened")
        self.frames += 1
        width = len(self._roles)
        data = self._carry + data
        n = len(data) // width * width
        self._carry = data[n:]
        src = np.frombuffer(data[:n], np.uint8).reshape(-1, width)
        out = np.full((len(src), 2), SILENCE, np.uint8)
        for i, role in enumerate(self._roles):
            out[:, role] = src[:, i]
        self.samples += len(src)
        return Step(audio=out.tobytes())

    def receive_text(self, raw: str) -> Step:
        if self.state == "closed":
            return Step()
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
            return self._refuse(f"a text message that is not JSON: {raw[:40]!r}")
        if not isinstance(msg, dict):
            return self._refuse("a text message that is not a JSON object")
        kind, seq = msg.get("type"), msg.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            return self._refuse(f"a {str(kind)[:20]!r} message without a valid seq")
        expected = self.clientseq + 1
        self.clientseq = max(self.clientseq, seq)  # what we answer acknowledges what came
        if self.disconnected:  # ending already: only the client's close matters now
            return self._closing() if kind == "close" else self._ping(kind)
        if seq != expected:
            return self._refuse(f"seq {seq} where {expected} was expected")
        serverseq = msg.get("serverseq", 0)
        if not isinstance(serverseq, int) or serverseq > self.seq:
            shown = serverseq if isinstance(serverseq, int) else str(serverseq)[:20]
            return self._refuse(f"serverseq {shown!r}, but the server has sent {self.seq}")
        if msg.get("version") != VERSION:
            return self._refuse(f"version {str(msg.get('version'))[:10]!r}; this server speaks {VERSION}")
        if self.id is None and isinstance(msg.get("id"), str) and len(msg["id"]) <= 64:
            self.id = msg["id"]  # a UUID: a longer one is not taken (it is in every reply and log line)
        if msg.get("id") != self.id:
            return self._refuse(f"id {str(msg.get('id'))[:40]!r} is not this session's ({self.id})")
        params = msg.get("parameters", {})
        if not isinstance(params, dict):
            return self._refuse(f"{str(kind)[:20]!r} parameters that are not an object")
        if (position := parse_duration(msg.get("position"))) is not None:
            self.position = position
        return self._dispatch(str(kind), params)

    def _dispatch(self, kind: str, params: dict[str, Any]) -> Step:
        if kind == "ping":
            return self._ping(kind)
        if kind == "open":
            return self._open(params)
        if kind == "close":
            return self._closing()
        if kind == "paused":
            self.paused = True
            return Step(note="paused")
        if kind in ("resumed", "discarded"):
            if kind == "resumed":
                self.paused = False
            return self._gap(kind, params.get("discarded"))
        if kind == "error":
            err = f"{str(params.get('code'))[:40]} {str(params.get('message'))[:200]}"
            self.client_errors.append(err)
            self.client_error_count += 1
            return Step(note=f"client error {err}")
        if kind in IGNORED_TYPES:
            return Step(note=f"{kind} ignored")
        # a type Genesys adds later must not end a live call's transcript: noted, ignored
        return Step(note=f"unknown message type {kind[:40]!r} ignored")

    def _open(self, params: dict[str, Any]) -> Step:
        if self.state != "new":
            return Step(note=f"a second open ignored (state {self.state})")
        conversation = params.get("conversationId")
        if not isinstance(conversation, str) or not conversation:
            return self._refuse("open without a conversationId")
        media = select_media(params.get("media"))
        if media is None:
            return self._refuse("no PCMU 8000 Hz audio (external and/or internal channels) offered; "
                                f"offered: {describe_media(params.get('media'))}")
        self.media, self._roles = media, [CHANNEL_ROLE[c] for c in media["channels"]]
        self.state = "opening"
        language, cfg = params.get("language"), params.get("customConfig")
        return Step(open=OpenRequest(conversation, str(params.get("organizationId", "")), media,
                                     language if isinstance(language, str) and language else None,
                                     cfg if isinstance(cfg, dict) else {}))

    def _ping(self, kind: Any) -> Step:
        return Step(replies=[self.message("pong")]) if kind == "ping" else Step()

    def _closing(self) -> Step:
        """The client's close: the stream ends (flush); `closed` waits for the transcript."""
        if self.state not in ("closing", "closed"):
            self.state = "closing"
        return Step(end=True)

    def _gap(self, kind: str, discarded: Any) -> Step:
        """Audio Genesys dropped (`discarded`, or during a pause, `resumed`): silence in its
        place keeps the words on both sides of it apart and in time, up to MAX_FILL_S."""
        seconds = parse_duration(discarded) or 0.0
        if self.media is None or seconds <= 0:
            return Step(note=kind if kind == "resumed" else None)
        fill = int(min(seconds, MAX_FILL_S) * RATE)
        self.filled += fill
        self.skipped += max(0.0, seconds - MAX_FILL_S)
        return Step(audio=bytes([SILENCE]) * (2 * fill), note=f"{kind}: {seconds:g} s of audio dropped by Genesys")

    def _refuse(self, info: str) -> Step:
        """A message we cannot take: say so (once) and end the stream; nothing received is lost."""
        bye = self.disconnect("error", info)
        return Step(replies=[bye] if bye else [], end=True, note=info)
