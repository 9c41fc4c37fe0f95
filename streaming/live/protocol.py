"""Deepgram-compatible message shapes and client control messages.

Existing softphone integrations speak Deepgram's live API, so messages keep its
field names (`Results`, `channel_index`, `is_final`, `speech_final`,
`channel.alternatives[0].words`...). Our extras ride along in extra fields
(`speaker`, `call_id`) that Deepgram clients ignore. See docs/protocol.md.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from streaming.asr.base import HypWord
from streaming.asr.textnorm import normalize_text
from streaming.live.channel import RecordUpdate, SpeechStarted, TranscriptUpdate, UtteranceEnd


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    TRY_AGAIN_LATER = 1013


class ErrorCode:
    """Stable machine-readable error codes (documented in docs/protocol.md)."""

    BAD_PARAMETER = "INVALID_QUERY_PARAMETER"
    BAD_AUDIO = "INVALID_AUDIO"
    FRAME_TOO_BIG = "FRAME_TOO_LARGE"
    BAD_JSON = "INVALID_JSON"
    UNKNOWN_MESSAGE = "UNKNOWN_MESSAGE"
    AUDIO_AFTER_CLOSE = "AUDIO_AFTER_CLOSE_STREAM"
    IDLE = "NET-0001"
    CAPACITY = "CAPACITY_EXCEEDED"
    UNKNOWN_CALL = "UNKNOWN_CALL"
    CALL_IN_USE = "CALL_ALREADY_STREAMING"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL = "INTERNAL_ERROR"
    SHUTTING_DOWN = "SHUTTING_DOWN"


def error_message(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """An `Error` message: `description` mirrors Deepgram, `err_code`/`err_msg` too."""
    return {
        "type": "Error",
        "err_code": code,
        "err_msg": message,
        "description": message,
        **extra,
    }


CONTROL_TYPES = ("KeepAlive", "Finalize", "CloseStream", "Configure")
# what Deepgram's mid-stream `Configure` may switch here: how this client's text is written
CONFIGURE_FEATURES = ("numerals", "smart_format", "punctuate")


@dataclass(frozen=True)
class Control:
    type: str
    features: tuple[tuple[str, bool], ...] = ()  # Configure: (feature, on), as sent


class ControlError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_control(text: str) -> Control:
    """Parse a client text frame; raises `ControlError` with a readable reason."""
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ControlError(
            ErrorCode.BAD_JSON,
            f"text frames must be JSON control messages like {{\"type\": \"KeepAlive\"}}; "
            f"got {text[:60]!r}",
        ) from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ControlError(ErrorCode.UNKNOWN_MESSAGE, "control message must be an object with a 'type'")
    if msg["type"] not in CONTROL_TYPES:
        raise ControlError(
            ErrorCode.UNKNOWN_MESSAGE,
            f"unknown control message type {msg['type'][:40]!r}; expected one of "
            + ", ".join(CONTROL_TYPES),
        )
    if msg["type"] == "Configure":
        return Control("Configure", _features(msg.get("features")))
    return Control(msg["type"])


def _features(features: Any) -> tuple[tuple[str, bool], ...]:
    """The `features` of a `Configure` message: each a known feature set to true or false.
    Anything else refuses the whole message (nothing of it is applied)."""
    example = '{"type": "Configure", "features": {"numerals": true}}'
    if not isinstance(features, dict) or not features:
        raise ControlError(ErrorCode.UNKNOWN_MESSAGE,
                           f"Configure needs a 'features' object naming what to switch, like {example}")
    unknown = [k for k in features if k not in CONFIGURE_FEATURES]
    if unknown:
        raise ControlError(ErrorCode.UNKNOWN_MESSAGE,
                           f"Configure cannot switch {str(unknown[0])[:40]!r} mid-stream; it takes "
                           + ", ".join(CONFIGURE_FEATURES) + "; nothing was changed")
    bad = [k for k, v in features.items() if not isinstance(v, bool)]
    if bad:
        raise ControlError(ErrorCode.UNKNOWN_MESSAGE,
                           f"Configure feature {bad[0]!r} must be true or false, got "
                           f"{json.dumps(features[bad[0]])[:40]}; nothing was changed")
    return tuple(features.items())


def word_json(w: HypWord, speaker: str | None) -> dict[str, Any]:
    punctuated = w.word.strip()
    d = {
        "word": w.bare or punctuated.lower(),
        "start": round(w.start, 3),
        "end": round(w.end, 3),
        "confidence": round(w.probability, 4),
        "punctuated_word": punctuated,
    }
    if speaker:
        d["speaker"] = speaker
    return d


def alternative(text: str, words: list[HypWord], language: str) -> dict[str, Any]:
    """`channel.alternatives[0]` of Results and Record: the text, its mean word confidence, the words."""
    confidence = round(sum(w.probability for w in words) / len(words), 4) if words else 0.0
    return {"transcript": text, "confidence": confidence, "words": [word_json(w, None) for w in words],
            "languages": [language]}


def results_message(
    u: TranscriptUpdate,
    *,
    channels: int,
    speaker: str,
    call_id: str,
    request_id: str,
    model_name: str,
) -> dict[str, Any]:
    return {
        "type": "Results",
        "channel_index": [u.channel, channels],
        "duration": round(max(0.0, u.end - u.start), 3),
        "start": round(u.start, 3),
        "is_final": u.is_final,
        "speech_final": u.speech_final,
        "from_finalize": u.from_finalize,
        "channel": {"alternatives": [alternative(u.text, u.words, u.language)]},
        "metadata": {
            "request_id": request_id,
            "model_info": {"name": model_name, "version": "souffleur", "arch": "whisper"},
        },
        "speaker": speaker,
        "call_id": call_id,
    }


def record_message(
    r: RecordUpdate,
    *,
    channels: int,
    speaker: str,
    call_id: str,
    record_id: str,
    replaces: list[str],
    live_text: str,
) -> dict[str, Any]:
    """`Record`: the transcript of record of one utterance and the live pieces it replaces.

    Shaped like `Results` (same `channel.alternatives[0]`) so a client reads it with the
    code it already has; `type` differs so a Deepgram client that did not ask for it
    (`record=true`) never gets one (docs/protocol.md).
    """
    return {
        "type": "Record",
        "record_id": record_id,
        "segment_id": record_id,
        "replaces": replaces,
        "revised": normalize_text(r.text) != normalize_text(live_text),
        "channel_index": [r.channel, channels],
        # start/duration cover the words (as in Results); `span` is the audio decoded
        "start": round(r.words[0].start if r.words else r.start, 3),
        "duration": round(max(0.0, (r.words[-1].end - r.words[0].start) if r.words else r.end - r.start), 3),
        "span": [round(r.start, 3), round(r.end, 3)],
        "channel": {"alternatives": [alternative(r.text, r.words, r.language)]},
        "speaker": speaker,
        "call_id": call_id,
    }


def vad_message(e: SpeechStarted | UtteranceEnd, channels: int, call_id: str, speaker: str) -> dict:
    """`SpeechStarted` (with `timestamp`) or `UtteranceEnd` (with `last_word_end`)."""
    if isinstance(e, SpeechStarted):
        kind, field, value = "SpeechStarted", "timestamp", e.timestamp
    else:
        kind, field, value = "UtteranceEnd", "last_word_end", e.last_word_end
    return {"type": kind, "channel": [e.channel, channels], field: value, "speaker": speaker,
            "call_id": call_id}


def metadata_message(
    *, request_id: str, call_id: str, duration: float, channels: int, model_name: str,
    created: float, sha256: str, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created)),
        "duration": round(duration, 3),
        "channels": channels,
        "models": [model_name],
        "model_info": {model_name: {"name": model_name, "version": "souffleur", "arch": "whisper"}},
        "call_id": call_id,
        **(extra or {}),
    }


def new_request_id() -> str:
    return str(uuid.uuid4())
