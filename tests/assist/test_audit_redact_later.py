"""Issue 16: the audit trail gets the retroactive pass the stored event log has. A name
or value the call's redactor learns late (the form captures it at the end, the record
"my name is ..." names the caller) is removed from the audit records written before it,
in the JSONL file and in the memory store; other calls' records are left as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assist.feedback import JsonlAuditStore, MemoryAuditStore
from assist.redact import RedactingAuditStore

# "Quorvath" is in no lexicon and follows no cue: the redactor keeps it until it learns it
SAID = "Caller confirmed Quorvath on the account."


def hint(call_id: str, n: int, text: str = SAID) -> dict[str, Any]:
    return {"kind": "suggestion", "call_id": call_id, "ts": float(n), "suggestion_id": f"h-{n}",
            "suggestion_type": "Hint", "key": "verify",
            "event": {"type": "Hint", "rule": "verify", "text": "Verify the caller.",
                      "evidence": [{"text": text}]}}


def name_value(call_id: str, n: int, value: str) -> dict[str, Any]:
    return {"kind": "suggestion", "call_id": call_id, "ts": float(n), "suggestion_id": f"fv-{n}",
            "suggestion_type": "FormValue", "key": "full_name",
            "event": {"type": "FormValue", "field": "full_name", "value": value,
                      "evidence": [{"text": f"That is {value}."}]}}


def lines_of(path: Path, call_id: str) -> list[bytes]:
    return [x for x in path.read_bytes().split(b"\n") if f'"call_id": "{call_id}"'.encode() in x]


def test_jsonl_records_written_before_a_value_was_captured_are_redacted_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = RedactingAuditStore(JsonlAuditStore(path))
    audit.append(hint("other-1", 0))  # before the call: its line is copied, never read
    audit.append(hint("a", 1))
    audit.append(hint("other-2", 2))
    audit.append(hint("a", 3, "Quorvath, yes, that is right."))
    assert b"Quorvath" in b"".join(lines_of(path, "a"))  # nothing told the redactor yet
    others = {c: lines_of(path, c) for c in ("other-1", "other-2")}

    audit.append(name_value("a", 4, "Olumide Quorvath"))  # the form captures the name

    data = path.read_bytes()
    mine = lines_of(path, "a")
    assert len(mine) == 3 and not any(b"quorvath" in x.lower() or b"olumide" in x.lower() for x in mine), mine
    assert {c: lines_of(path, c) for c in others} == others  # byte for byte, "Quorvath" and all
    assert data.count(b"Quorvath") == 2  # the other calls' lines only
    assert data.endswith(b"\n") and len(data.split(b"\n")) == 6  # five lines, none lost or torn
    assert [r["suggestion_id"] for r in JsonlAuditStore(path).records("a")] == ["h-1", "h-3", "fv-4"]
    assert audit.rewritten == 2


def test_jsonl_name_learnt_from_the_event_log_reaches_the_audit_trail(tmp_path: Path) -> None:
    """The bus's redactor hears "my name is Quorvath Ndlovu" in a record the audit trail
    never sees: `learn` redacts the call's records written before, and those to come."""
    path = tmp_path / "audit.jsonl"
    audit = RedactingAuditStore(JsonlAuditStore(path))
    audit.append(hint("a", 1))
    audit.append(hint("b", 2))
    before_b = lines_of(path, "b")
    assert audit.learn("a", names=["quorvath", "ndlovu"]) == 1
    audit.append(hint("a", 3, "Quorvath again."))
    assert b"Quorvath" not in b"".join(lines_of(path, "a"))
    assert lines_of(path, "b") == before_b


def test_rewrite_keeps_offsets_right_for_calls_after_the_rewritten_one(tmp_path: Path) -> None:
    """A rewrite moves the lines after it; a later rewrite of a call whose lines moved
    still finds them (and no line is torn or lost)."""
    path = tmp_path / "audit.jsonl"
    audit = RedactingAuditStore(JsonlAuditStore(path))
    audit.append(hint("a", 1))
    audit.append(hint("b", 2))
    audit.append(hint("a", 3))
    audit.learn("a", names=["quorvath"])  # "Quorvath" -> "[name]": shorter, b's line moves
    audit.learn("b", values=["Quorvath"])
    recs = JsonlAuditStore(path).records()
    assert len(recs) == 3 and "Quorvath" not in path.read_text(encoding="utf-8")


def test_memory_store_is_redacted_in_place() -> None:
    inner = MemoryAuditStore()
    audit = RedactingAuditStore(inner)
    audit.append(hint("a", 1))
    audit.append(hint("b", 2))
    audit.append(name_value("a", 3, "Olumide Quorvath"))
    assert "Quorvath" not in json.dumps(inner.records("a"))
    assert "Quorvath" in json.dumps(inner.records("b"))


def test_stored_redaction_tells_its_watchers_what_it_learnt() -> None:
    """The Redis bus's retroactive pass and the audit trail's learn from one place."""
    from streaming.service.redis_redaction import StoredRedaction

    store = StoredRedaction()
    heard: list[tuple[str, list[str], list[str]]] = []
    store.watch(lambda c, n, v: heard.append((c, n, v)))
    e = {"type": "Record", "start": 0.0, "channel": {"alternatives": [
        {"transcript": "My name is Quorvath Ndlovu.", "words": []}]}}
    store.earlier("a", e, "1-0", store.stored("a", e))
    fv = {"type": "FormValue", "field": "full_name", "value": "Olumide Quorvath", "alternatives": ["Olumide Corvath"]}
    store.earlier("a", fv, "2-0", store.stored("a", fv))
    assert heard == [("a", ["ndlovu", "quorvath"], []),  # the record; then the form's name, its words
                     ("a", ["corvath", "olumide"], ["Olumide Quorvath", "Olumide Corvath"])]


def test_a_captured_names_words_are_redacted_on_their_own() -> None:
    """The form caught "Olumide Quorvath": "Quorvath" alone is the caller's name too, in
    the event log as in the audit trail (and reported for the retroactive pass)."""
    from assist.redact import Redactor

    r = Redactor()
    r.event({"type": "FormValue", "field": "full_name", "value": "Olumide van Quorvath"})
    assert r.text(SAID) == "Caller confirmed [name] on the account."
    assert set(r.learned()) == {"olumide", "quorvath"}  # no particle: "van" stays a word


def test_learning_for_a_call_with_no_audit_lines_reads_nothing(tmp_path: Path, monkeypatch) -> None:
    """Most calls learn names long before (or without) any feedback record: the audit
    file, which only grows, must not be read whole each time."""
    store = JsonlAuditStore(tmp_path / "audit.jsonl")
    store.append({"call_id": "other", "event": {"text": "x"}})
    opened: list[Any] = []
    real_open = Path.open

    def spy(self: Path, *a: Any, **k: Any):
        opened.append(self)
        return real_open(self, *a, **k)

    monkeypatch.setattr(Path, "open", spy)
    assert store.rewrite("silent-call", lambda r: {**r, "x": 1}) == 0
    assert opened == []
