"""Human in charge: feedback applied to suggestions, the audit trail and its report."""

from __future__ import annotations

import json
from pathlib import Path

from assist.engine import AssistSession
from assist.feedback import JsonlAuditStore, MemoryAuditStore, default_audit_path, report
from assist.types import Feedback
from tests.assist.helpers import script

CALL = ["A: Harbour Bank, how can I help?",
        "C: Hi, I've moved and need to change my address. My name is Anna de Boer.",
        "A: Sure, what's your date of birth?",
        "C: Fourth of April nineteen eighty-eight.",
        "A: And the new postcode?",
        "C: It's L S six, two Q T."]


def session(store=None) -> tuple[AssistSession, list[dict]]:
    s = AssistSession("fb1", "en", audit=store if store is not None else MemoryAuditStore(),
                      clock=lambda: 1000.0)
    ev = [e for seg in script(CALL) for e in s.on_segment(seg)]
    return s, ev


def value_event(events, field):
    return next(e for e in events if e["type"] == "FormValue" and e["field"] == field)


def test_every_suggestion_is_recorded_with_its_id():
    store = MemoryAuditStore()
    s, ev = session(store)
    recorded = {r["suggestion_id"] for r in store.records() if r["kind"] == "suggestion"}
    shown = {e["id"] for e in ev if e["type"] in ("FormValue", "Hint", "KnowledgeAnswer")
             and e.get("status") != "done"}
    assert shown and shown <= recorded
    assert all(r["call_id"] == "fb1" and r["ts"] == 1000.0 for r in store.records())


def test_edit_locks_the_field_and_is_audited():
    store = MemoryAuditStore()
    s, ev = session(store)
    pc = value_event(ev, "postcode")
    out = s.on_feedback(Feedback(pc["id"], "edit", value="LS6 2QU", agent="jess"))
    assert out[0]["type"] == "FeedbackRecorded" and out[0]["action"] == "edit"
    updated = next(e for e in out if e["type"] == "FormValue")
    assert updated["value"] == "LS6 2QU" and updated["status"] == "edited"
    assert s.form_values()["postcode"] == "LS6 2QU"
    # locked: a later, different value from the transcript does not replace it
    s.on_segment(script(["A: x"] * 6 + ["C: Sorry, my postcode is L S nine, one A B."])[6])
    assert s.form_values()["postcode"] == "LS6 2QU"
    fb = [r for r in store.records() if r["kind"] == "feedback"]
    assert fb == [{**fb[0], "suggestion_id": pc["id"], "action": "edit", "value": "LS6 2QU",
                   "suggested": pc["value"], "agent": "jess", "key": "postcode"}]


def test_dismissed_hint_and_unknown_id():
    s, ev = session()
    hint = next(e for e in ev if e["type"] == "Hint")
    out = s.on_feedback(Feedback(hint["id"], "dismiss"))
    assert out[0]["type"] == "FeedbackRecorded" and out[0]["suggestion_type"] == "Hint"
    notice = s.on_feedback(Feedback("nope-1", "accept"))
    assert notice[0]["type"] == "AssistNotice" and notice[0]["code"] == "unknown_suggestion"
    bad = s.on_feedback(Feedback(hint["id"], "maybe"))  # type: ignore[arg-type]
    assert bad[0]["code"] == "bad_feedback"


def test_report_rates_are_exact():
    store = MemoryAuditStore()
    recs = []
    for i, (key, action) in enumerate([("postcode", "accept"), ("postcode", "edit"), ("postcode", None),
                                       ("postcode", "dismiss"), ("email", "accept")]):
        recs.append({"kind": "suggestion", "call_id": "c", "suggestion_id": f"fv-{i}",
                     "suggestion_type": "FormValue", "key": key})
        if action:
            recs.append({"kind": "feedback", "call_id": "c", "suggestion_id": f"fv-{i}",
                         "suggestion_type": "FormValue", "key": key, "action": action})
    recs.append({"kind": "suggestion", "call_id": "c", "suggestion_id": "hint-1",
                 "suggestion_type": "Hint", "key": "verify_identity"})
    recs.append({"kind": "feedback", "call_id": "c", "suggestion_id": "hint-1",
                 "suggestion_type": "Hint", "key": "verify_identity", "action": "accept"})
    # a later verdict on the same suggestion replaces the earlier one
    recs.append({"kind": "feedback", "call_id": "c", "suggestion_id": "hint-1",
                 "suggestion_type": "Hint", "key": "verify_identity", "action": "dismiss"})
    for r in recs:
        store.append(r)
    rep = report(store)
    pc = rep["form"]["postcode"]
    assert (pc["shown"], pc["accept"], pc["edit"], pc["dismiss"], pc["none"]) == (4, 1, 1, 1, 1)
    assert pc["acceptance_rate"] == 0.25 and pc["edit_rate"] == 0.25 and pc["dismissal_rate"] == 0.25
    assert pc["feedback_rate"] == 0.75
    assert rep["form"]["email"]["acceptance_rate"] == 1.0
    assert rep["hints"]["verify_identity"]["dismissal_rate"] == 1.0
    assert rep["totals"]["shown"] == 6 and rep["calls"] == 1
    assert "postcode" in rep["table"] and "verify_identity" in rep["table"]


def test_jsonl_store_roundtrip_and_torn_line(tmp_path: Path):
    path = tmp_path / "a" / "audit.jsonl"
    store = JsonlAuditStore(path)
    s, ev = session(store)
    pc = value_event(ev, "postcode")
    s.on_feedback(Feedback(pc["id"], "accept"))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"kind": "suggestion", "call_id": "torn"')  # a crash mid-write
    again = JsonlAuditStore(path)
    recs = again.records("fb1")
    assert any(r["kind"] == "feedback" and r["action"] == "accept" for r in recs)
    assert all(json.dumps(r) for r in recs)
    assert report(again)["form"]["postcode"]["acceptance_rate"] == 1.0


def test_default_audit_path_from_env(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SOUFFLEUR_DATA_DIR", str(tmp_path))
    assert default_audit_path() == tmp_path / "audit.jsonl"
    monkeypatch.delenv("SOUFFLEUR_DATA_DIR")
    assert default_audit_path() == Path("./souffleur-data/audit.jsonl")
