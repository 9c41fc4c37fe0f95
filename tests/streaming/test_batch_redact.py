"""Issue 16: batch outputs with redaction on hold no PII, on a resumed run too.
Text level: a `FileTranscript` as the engine gives it, no audio, no model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streaming.batch.engine import BatchItem, FileTranscript
from streaming.batch.jobs import JobSpec
from streaming.batch.outputs import FORMATS, OutputPlan, transcript_json


def rec(text: str, start: float, channel: int = 1) -> dict[str, Any]:
    return {"type": "Record", "channel_index": [channel, 2], "start": start, "duration": 1.0,
            "speaker": ("agent", "customer")[channel],
            "channel": {"alternatives": [{"transcript": text, "words": [
                {"word": w.strip(".,").lower(), "punctuated_word": w, "start": start, "end": start + 0.1}
                for w in text.split()]}]}}


def call(tmp_path: Path) -> FileTranscript:
    src = tmp_path / "c.wav"
    src.write_bytes(b"RIFF")  # only its size and mtime are read (the resume fingerprint)
    # no cue, no question before it, in no lexicon: only the form tells the redactor
    return FileTranscript(BatchItem(src, "c"), [rec("Good morning, how can I help?", 0.0, 0),
                                                rec("Quorvath here, about my bill. My number is 07700 900123.", 1.0),
                                                rec("Fine, one moment.", 2.0, 0)], 3.0, 2, 16000, 1.0)


def test_every_output_format_is_free_of_a_captured_names_words(tmp_path: Path) -> None:
    """The form caught "Olumide Quorvath"; "Quorvath here" alone is the caller's name too."""
    t = call(tmp_path)
    plan = OutputPlan(t.item.path, tmp_path / "out" / "c", FORMATS, True)
    files = plan.write(transcript_json(t, {"form": {"full_name": "Olumide Quorvath", "reason": "bill"}},
                                       redact=True))
    assert set(files) == set(FORMATS)
    for f, p in files.items():
        data = p.read_bytes()
        assert b"Quorvath" not in data and b"Olumide" not in data and b"900123" not in data, (f, data)
    assert "about my bill" in files["txt"].read_text()


def test_a_no_redact_runs_files_are_not_done_for_a_redacting_run(tmp_path: Path) -> None:
    """`transcribe --no-redact` then `transcribe` (or `submit`) into the same folder: the
    second run must write redacted files, not resume on (and report) the words as said."""
    t = call(tmp_path)
    out = tmp_path / "out"
    spec = JobSpec(str(t.item.path), str(out), ("json", "txt"))  # redact: the default
    clear = spec.plan()
    assert clear.redact
    OutputPlan(t.item.path, clear.base, ("json", "txt"), redact=False).write(transcript_json(t, redact=False))
    assert "900123" in clear.path("txt").read_text()
    assert not clear.done()  # a redacting worker transcribes again: the files hold PII
    assert OutputPlan(t.item.path, clear.base, ("json", "txt"), redact=False).done()
    clear.write(transcript_json(t, redact=True))
    assert clear.done() and "900123" not in clear.path("txt").read_text()
    assert json.loads(clear.path("json").read_text())["redacted"] is True


def test_a_json_from_before_the_redacted_flag_counts_as_not_redacted(tmp_path: Path) -> None:
    t = call(tmp_path)
    plan = OutputPlan(t.item.path, tmp_path / "c", ("json",))
    doc = transcript_json(t, redact=True)
    del doc["redacted"]
    plan.write(doc)
    assert not plan.done()
