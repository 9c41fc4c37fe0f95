"""Deepgram's `redact` on /v1/listen: the softphone gets its own results redacted, the
desktops (the call's event feed) keep the words as said (docs/security.md)."""

from __future__ import annotations

import json

import numpy as np

from streaming.asr.base import ScriptedRecognizer
from streaming.client import audio_frames, listen_url, stream_frames
from streaming.options import parse_stream_query
from tests.conftest import clip, run

SAID = [(" My", 0.0, 0.2), (" name", 0.2, 0.4), (" is", 0.4, 0.5), (" Chivon", 0.5, 0.8),
        (" Kelly,", 0.8, 1.0), (" card", 1.0, 1.2), (" 4111", 1.2, 1.4), (" 1111", 1.4, 1.6),
        (" 1111", 1.6, 1.8), (" 1111.", 1.8, 2.0)]


def test_redact_query_is_parsed_repeated_or_comma_separated():
    assert parse_stream_query("redact=pci&redact=name").redact == ("pci", "name")
    assert parse_stream_query("redact=pci,numbers,pci").redact == ("pci", "numbers")
    assert parse_stream_query("redact=false").redact == () and parse_stream_query("").redact == ()


def _call(server_factory, redact: str | None) -> tuple[list[dict], list[dict]]:
    srv = server_factory(recognizer_=ScriptedRecognizer(lambda r: SAID), assist=False)
    x, rate, _ = clip("ljspeech/LJ001-0008.flac")
    audio = np.concatenate([x, np.zeros((rate, 1), np.float32)])
    call_id = f"redact-{redact}"

    async def go():
        url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1, call_id=call_id,
                         redact=redact, record=True)
        return await stream_frames(url, audio_frames(audio, rate, frame_ms=100), realtime=False)

    res = run(go())
    assert res.close_code == 1000 and not res.of_type("Error"), res.of_type("Error")
    stored = srv.call(srv.server.bus.history(call_id))
    texts = [m for m in res.messages if m.get("type") in ("Results", "Record")]
    return texts, [e for e in stored if e.get("type") in ("Results", "Record")]


def test_softphone_results_are_redacted_and_desktops_get_the_words(server_factory):
    phone, desk = _call(server_factory, "name")
    said = json.dumps(phone)
    assert phone and "Chivon" not in said and "Kelly" not in said and "[name]" in said
    assert "4111" in said  # only names were asked for
    assert any(e["channel"]["alternatives"][0]["words"] for e in phone)
    assert "Chivon" in json.dumps(desk)  # the desktop's feed: as said


def test_pii_removes_numbers_too_and_no_redact_changes_nothing(server_factory):
    phone, _ = _call(server_factory, "pii")
    said = json.dumps(phone)
    assert "Chivon" not in said and "4111" not in said
    plain, _ = _call(server_factory, None)
    assert "Chivon" in json.dumps(plain) and "4111" in json.dumps(plain)


def test_batch_outputs_redact_a_name_said_before_it_was_recognised(tmp_path):
    """Batch reads the whole recording before writing: "Chivon" said first, recognised as a
    name only when "my name is Chivon Kelly" comes later, is removed in both places."""
    from pathlib import Path

    from streaming.batch.engine import BatchItem, FileTranscript
    from streaming.batch.outputs import redacted

    def rec(text: str, start: float) -> dict:
        return {"type": "Record", "channel_index": [1, 2], "start": start,
                "channel": {"alternatives": [{"transcript": text, "words": [
                    {"word": w.strip(".,").lower(), "punctuated_word": w} for w in text.split()]}]}}

    t = FileTranscript(BatchItem(Path(tmp_path / "c.wav")), [rec("Chivon here.", 0.0),
                                                            rec("My name is Chivon Kelly.", 2.0)],
                       4.0, 2, 16000, 1.0)
    out, _ = redacted(t, None)
    assert "Chivon" not in json.dumps(out.messages) and "[name]" in json.dumps(out.messages)
    assert "Chivon" in json.dumps(t.messages)  # the transcript itself untouched


def test_stored_pieces_are_redacted_again_once_the_record_names_the_caller():
    """The live pieces "Chivon", "Kelly," are stored before the record "My name is Chivon
    Kelly" tells the redactor they are a name; then they are stored again, redacted."""
    from streaming.service.redis_redaction import StoredRedaction

    def piece(text: str, start: float, kind: str = "Results") -> dict:
        return {"type": kind, "is_final": True, "call_id": "c", "start": start, "channel_index": [1, 2],
                "channel": {"alternatives": [{"transcript": text, "words": [
                    {"word": w.strip(",.").lower(), "punctuated_word": w} for w in text.split()]}]}}

    store = StoredRedaction()
    log: dict[str, str] = {}
    said = [piece("Chivon", 0.0), piece("Kelly,", 0.5), piece("it's Irish.", 1.0),
            piece("My name is Chivon Kelly, it's Irish.", 0.0, "Record")]
    for n, e in enumerate(said):
        eid = f"{n + 1}-0"
        log[eid] = store.stored("c", e)
        for rid, now in store.earlier("c", e, eid, log[eid]):
            log[rid] = now
    everything = json.dumps(log)
    assert "Chivon" not in everything and "Kelly" not in everything, log
    assert "Irish" in log["3-0"]  # what mentions no name is left as stored
