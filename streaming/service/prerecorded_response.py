"""Deepgram's pre-recorded response, built from a recording's transcript of record.

A recording's session sends one `Record` per utterance (docs/protocol.md); this
module lays them out the way `POST https://api.deepgram.com/v1/listen` answers,
so Deepgram's SDKs parse the response into their typed models
(`ListenV1Response`) and caption tools (`deepgram-captions`) read it:

    {"metadata": {transaction_key, request_id, sha256, created, duration, channels,
                  models, model_info},
     "results": {"channels": [{"alternatives": [{transcript, confidence, words}]}],
                 "utterances": [...]}}        # with utterances=true

One channel entry per audio channel with `multichannel=true`, else one for the
mixed audio. `words[]` carry word/start/end/confidence/punctuated_word. An
utterance is a record, split where its words pause `utt_split` seconds or more.
Pure: no I/O.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from streaming.live.formatting import TextFormat

DEFAULT_UTT_SPLIT_S = 0.8  # Deepgram's default; the records already end at 0.8 s pauses


@dataclass(frozen=True)
class ResponseShape:
    """What the request asked about the response's layout."""

    channels: int  # channel entries in results.channels
    utterances: bool = False
    utt_split: float = DEFAULT_UTT_SPLIT_S
    redact: tuple[str, ...] = ()  # Deepgram's redact kinds (pci, name, pii…); () keeps the words
    roles: tuple[str, ...] = ()  # names of the channels (multichannel): an extra `role` on utterances
    text_format: TextFormat = field(default_factory=TextFormat)  # numerals / smart_format / punctuate


def records_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `Record` messages with words, in time order (channel breaks ties)."""
    recs = [m for m in messages if m.get("type") == "Record" and m["channel"]["alternatives"][0]["words"]]
    return sorted(recs, key=lambda m: (m["start"], m["channel_index"][0]))


def redacted_records(records: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """`redact=…`: what those kinds name removed, as on a live call's own results (assist's
    Redactor, one per request: a name learnt early is removed wherever it recurs)."""
    from assist.api import Redactor, redaction_kinds

    r = Redactor(kinds=redaction_kinds(kinds))
    return [r.event(m) for m in records]


def prerecorded_response(messages: list[dict[str, Any]], shape: ResponseShape, *, request_id: str,
                         sha256: str, duration: float, model_name: str, created: float | None = None,
                         extra_metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    records = records_of(messages)
    if shape.redact:
        records = redacted_records(records, shape.redact)
    records = [shape.text_format.message(r) for r in records]
    channels = [_channel([r for r in records if _channel_of(r, shape) == c]) for c in range(shape.channels)]
    created = time.time() if created is None else created
    doc: dict[str, Any] = {
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": request_id,
            "sha256": sha256,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(created))
            + f"{int(created % 1 * 1000):03d}Z",
            "duration": round(duration, 3),
            "channels": shape.channels,
            "models": [model_name],
            "model_info": {model_name: {"name": model_name, "version": "souffleur", "arch": "whisper"}},
            **(extra_metadata or {}),
        },
        "results": {"channels": channels},
    }
    if shape.utterances:
        doc["results"]["utterances"] = [u for r in records for u in _utterances(r, shape)]
    return doc


def _channel_of(record: dict[str, Any], shape: ResponseShape) -> int:
    return min(record["channel_index"][0], shape.channels - 1)


def _channel(records: list[dict[str, Any]]) -> dict[str, Any]:
    words = [_word(w) for r in records for w in r["channel"]["alternatives"][0]["words"]]
    transcript = " ".join(t for r in records if (t := r["channel"]["alternatives"][0]["transcript"].strip()))
    return {"alternatives": [{"transcript": transcript, "confidence": _confidence(words), "words": words}]}


def _word(w: dict[str, Any]) -> dict[str, Any]:
    return {"word": w["word"], "start": w["start"], "end": w["end"], "confidence": w["confidence"],
            "punctuated_word": w.get("punctuated_word") or w["word"]}


def _confidence(words: list[dict[str, Any]]) -> float:
    return round(sum(w["confidence"] for w in words) / len(words), 4) if words else 0.0


def _utterances(record: dict[str, Any], shape: ResponseShape) -> list[dict[str, Any]]:
    """One record as utterances: split where its words pause `utt_split` s or more."""
    alt = record["channel"]["alternatives"][0]
    words = [_word(w) for w in alt["words"]]
    pieces: list[list[dict[str, Any]]] = [[]]
    for w in words:
        if pieces[-1] and w["start"] - pieces[-1][-1]["end"] >= shape.utt_split:
            pieces.append([])
        pieces[-1].append(w)
    channel = _channel_of(record, shape)
    out = []
    for ws in pieces:
        text = alt["transcript"].strip() if len(pieces) == 1 else " ".join(w["punctuated_word"] for w in ws)
        u: dict[str, Any] = {"start": ws[0]["start"], "end": ws[-1]["end"], "confidence": _confidence(ws),
                             "channel": channel, "transcript": text, "words": ws, "id": str(uuid.uuid4())}
        if len(shape.roles) > channel and shape.channels > 1:
            u["role"] = shape.roles[channel]  # ours: agent / customer
        out.append(u)
    return out
