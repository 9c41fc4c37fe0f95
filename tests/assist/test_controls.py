"""Supervisor controls: what a mute, a threshold or a retired document does to a call's
suggestions, mid-call changes, scopes, and the report's before/after per control.

Expectations come from the same call run without controls (what would have been shown),
never from the controlled run's own output.
"""

from __future__ import annotations

import json

import pytest

from assist.control_targets import check_target, control_targets
from assist.controls import Control, ControlError, ControlSet, LiveControls
from assist.engine import AssistSession
from assist.feedback import MemoryAuditStore, report
from assist.knowledge import KnowledgeBase
from assist.transcript_io import load_transcript
from assist.types import Feedback
from tests.assist.helpers import DEV_CALLS


def ctl(target: str, target_id: str, action: str = "mute", **kw) -> Control:
    return Control.from_dict({"target": target, "target_id": target_id, "action": action, **kw},
                             who=kw.pop("who", "sup"), when=kw.pop("when", 10.0))


def run(name: str, controls=None, **kw) -> tuple[AssistSession, list[dict]]:
    t = load_transcript(DEV_CALLS / f"{name}.json")
    s = AssistSession(t.call_id, t.language, controls=controls, clock=lambda: 100.0, **kw)
    events = [e for seg in t.segments for e in s.on_segment(seg)] + s.finish()
    return s, events


def shown(events: list[dict], kind: str, key: str) -> list:
    return [e.get(key, None) for e in events if e["type"] == kind and e.get("status") != "done"]


def alert_kinds(events: list[dict]) -> list[str]:
    return [e["kind"] + (f".{e['subkind']}" if e["subkind"] else "") for e in events if e["type"] == "Alert"]


def test_control_parsing_refuses_what_cannot_be_applied():
    c = Control.from_dict({"target": "hint", "target_id": "verify_identity", "action": "threshold",
                           "value": "0.8", "why": " fires on every call "}, who="ann", when=5.0)
    assert (c.value, c.why, c.who, c.when, c.scope) == (0.8, "fires on every call", "ann", 5.0, "")
    assert c.id.startswith("ctl-") and Control.from_dict(c.to_dict()) == c
    for bad in ({"target": "rule", "target_id": "x", "action": "mute"},
                {"target": "hint", "target_id": "", "action": "mute"},
                {"target": "hint", "target_id": "x", "action": "hide"},
                {"target": "hint", "target_id": "x", "action": "retire"},
                {"target": "hint", "target_id": "x", "action": "threshold"},
                {"target": "hint", "target_id": "x", "action": "threshold", "value": 1.5},
                {"target": "hint", "target_id": "x", "action": "mute", "scope": "team:blue"},
                {"target": "hint", "target_id": "x", "action": "mute", "why": "x" * 501}):
        with pytest.raises(ControlError):
            Control.from_dict(bad)
    assert Control.from_dict({"target": "hint", "target_id": "x", "action": "mute",
                              "scope": "everywhere"}).scope == ""


def test_muted_hint_rule_is_never_shown_and_the_rest_is_unchanged():
    _, plain = run("dev_en_01")
    assert "never_take_passcode" in shown(plain, "Hint", "rule")
    s, muted = run("dev_en_01", ControlSet((ctl("hint", "never_take_passcode"),)))
    rules = shown(muted, "Hint", "rule")
    assert "never_take_passcode" not in rules
    # every other hint still comes (the muted one took no rate-limit slot)
    assert set(rules) == set(shown(plain, "Hint", "rule")) - {"never_take_passcode"}
    assert shown(muted, "FormValue", "value") == shown(plain, "FormValue", "value")
    assert [x["target"] for x in s.suppressed] == ["never_take_passcode"]
    assert s.suppressed[0]["reason"] == "muted"


def test_muted_playbook_and_threshold():
    _, plain = run("dev_en_03")
    rules = shown(plain, "Hint", "rule")
    assert {"log_formal_complaint", "complaint_next_steps"} <= set(rules)
    _, muted = run("dev_en_03", ControlSet((ctl("playbook", "complaints"),)))
    assert not {"log_formal_complaint", "complaint_next_steps"} & set(shown(muted, "Hint", "rule"))
    # a threshold drops hints below it, and only those
    conf = dict(zip(rules, shown(plain, "Hint", "confidence"), strict=True))
    _, high = run("dev_en_03", ControlSet((ctl("playbook", "complaints", "threshold", value=0.7),)))
    kept = set(shown(high, "Hint", "rule"))
    assert "complaint_next_steps" not in kept and conf["complaint_next_steps"] < 0.7
    assert "log_formal_complaint" in kept and conf["log_formal_complaint"] >= 0.7


def test_muted_alert_kind_covers_its_subkinds_and_leaves_escalation():
    s0, plain = run("dev_en_05")
    assert "vulnerability.hardship" in alert_kinds(plain) and s0.alerts.escalated
    s, muted = run("dev_en_05", ControlSet((ctl("alert", "vulnerability"),)))
    assert "vulnerability.hardship" not in alert_kinds(muted)
    assert "compliance.closing" in alert_kinds(muted)
    summary = next(e for e in muted if e["type"] == "Summary")
    assert not any("vulnerab" in json.dumps(a) for a in summary["alerts"])


def test_muted_field_is_not_emitted_nor_in_the_summary_and_its_hints_stay_quiet():
    _, plain = run("dev_nl_01")
    assert "iban" in shown(plain, "FormValue", "field")
    s, muted = run("dev_nl_01", ControlSet((ctl("field", "iban"),)))
    assert "iban" not in shown(muted, "FormValue", "field")
    assert "iban" not in next(e for e in muted if e["type"] == "Summary")["form"]
    # other fields come as before
    others = [e["value"] for e in plain if e["type"] == "FormValue" and e["field"] != "iban"]
    assert [e["value"] for e in muted if e["type"] == "FormValue"] == others
    # no hint is about the muted value ("read the IBAN back")
    assert not any("IBAN" in e["text"] for e in muted if e["type"] == "Hint")


def test_threshold_on_a_field_drops_values_below_it():
    _, plain = run("dev_en_01")
    values = [(e["field"], e["confidence"]) for e in plain if e["type"] == "FormValue"]
    cut = 0.9
    _, high = run("dev_en_01", ControlSet((ctl("field", "email", "threshold", value=cut),)))
    got = [(e["field"], e["confidence"]) for e in high if e["type"] == "FormValue"]
    assert got == [(f, c) for f, c in values if f != "email" or c >= cut]


def test_retired_document_is_never_answered_from_until_it_is_edited():
    kb = KnowledgeBase.from_dir()
    _, plain = run("dev_nl_03", kb=kb)
    assert "gemeente-parkeervergunning.md" in shown(plain, "KnowledgeAnswer", "doc")
    retired = check_target(ctl("kb", "gemeente-parkeervergunning.md", "retire"), control_targets(kb=kb), kb)
    assert retired.version == kb.doc_version("gemeente-parkeervergunning.md")
    s, out = run("dev_nl_03", ControlSet((retired,)), kb=kb)
    assert "gemeente-parkeervergunning.md" not in shown(out, "KnowledgeAnswer", "doc")
    assert any(x["reason"] == "retired" for x in s.suppressed)
    # the document was edited after it was retired: the retirement lapses
    edited = Control.from_dict({**retired.to_dict(), "version": "0123456789abcdef"})
    _, back = run("dev_nl_03", ControlSet((edited,)), kb=kb)
    assert shown(back, "KnowledgeAnswer", "doc") == shown(plain, "KnowledgeAnswer", "doc")


def test_scope_form_and_playbook():
    other_form = ControlSet((ctl("hint", "never_take_passcode", scope="form:claims"),))
    _, out = run("dev_en_01", other_form)
    assert "never_take_passcode" in shown(out, "Hint", "rule")  # the call uses the identity form
    this_form = ControlSet((ctl("hint", "never_take_passcode", scope="form:identity"),))
    _, out = run("dev_en_01", this_form)
    assert "never_take_passcode" not in shown(out, "Hint", "rule")
    # playbook scope: the hardship alert muted only where the vulnerable playbook is in play
    _, out = run("dev_en_05", ControlSet((ctl("alert", "vulnerability.hardship", scope="playbook:vulnerable"),)))
    assert "vulnerability.hardship" not in alert_kinds(out)
    _, out = run("dev_en_05", ControlSet((ctl("alert", "vulnerability.hardship", scope="playbook:cards"),)))
    assert "vulnerability.hardship" in alert_kinds(out)


def test_a_change_mid_call_applies_from_the_next_segment_and_unmuting_brings_it_back():
    t = load_transcript(DEV_CALLS / "dev_en_01.json")
    rule = "never_take_passcode"

    def fired_at(live: LiveControls, change_at: int | None = None, to: ControlSet | None = None) -> list[int]:
        s = AssistSession(t.call_id, t.language, controls=live)
        at = []
        for i, seg in enumerate(t.segments):
            if i == change_at:
                live.set(to or ControlSet())
            if any(e["type"] == "Hint" and e["rule"] == rule and e["status"] == "shown"
                   for e in s.on_segment(seg)):
                at.append(i)
        return at

    first = fired_at(LiveControls())
    assert len(first) == 1 and first[0] > 2
    mute = ControlSet((ctl("hint", rule),))
    # muted during the call, before the rule's moment: it never shows
    assert fired_at(LiveControls(), change_at=first[0] - 1, to=mute) == []
    # muted from the start and unmuted before its moment: it shows exactly when it would have
    assert fired_at(LiveControls(mute), change_at=first[0] - 1, to=ControlSet()) == first
    # muted at the start and never unmuted
    assert fired_at(LiveControls(mute)) == []


def test_deterministic_with_controls():
    cs = ControlSet((ctl("hint", "verify_identity"), ctl("field", "email", "threshold", value=0.95)))
    a = run("dev_en_02", cs)[1]
    b = run("dev_en_02", cs)[1]
    assert json.dumps(a) == json.dumps(b)


def test_check_target_knows_the_catalogue():
    targets = control_targets()
    assert {"verify_identity", "never_take_passcode"} <= {t["id"] for t in targets["hint"]}
    assert {"vulnerability", "vulnerability.health"} <= {t["id"] for t in targets["alert"]}
    assert "iban" in {t["id"] for t in targets["field"]} and "form:identity" in targets["scopes"]
    with pytest.raises(ControlError, match="no hint 'nope'"):
        check_target(ctl("hint", "nope"), targets)
    with pytest.raises(ControlError, match="scope"):
        check_target(ctl("hint", "verify_identity", scope="form:nope"), targets)


def test_report_before_and_after_a_control():
    """Acceptance of a target before its control and while it is in force, from the trail."""
    store = MemoryAuditStore()
    clock = {"t": 0.0}

    def call(i: int, controls: ControlSet, verdicts: dict[str, str]) -> None:
        t = load_transcript(DEV_CALLS / "dev_en_01.json")
        s = AssistSession(f"c{i}", t.language, audit=store, controls=controls, clock=lambda: clock["t"])
        for seg in t.segments:
            for e in s.on_segment(seg):
                if e["type"] == "Hint" and e["status"] == "shown" and e["rule"] in verdicts:
                    s.on_feedback(Feedback(e["id"], verdicts[e["rule"]]))  # type: ignore[arg-type]

    for i in range(3):  # agents dismiss the passcode hint, accept identity checks
        clock["t"] = 100.0 + i
        call(i, ControlSet(), {"never_take_passcode": "dismiss", "verify_identity": "accept"})
    mute = ctl("hint", "never_take_passcode", when=200.0, who="ann", why="misfires on app resets")
    store.append({"kind": "control", "op": "add", "ts": 200.0, "who": "ann", "control": mute.to_dict()})
    threshold = ctl("hint", "verify_identity", "threshold", value=0.7, when=200.0)
    for i in range(3, 5):
        clock["t"] = 300.0 + i
        call(i, ControlSet((mute, threshold)), {"never_take_passcode": "dismiss", "verify_identity": "accept"})
    rep = report(store, controls=[threshold.to_dict()])
    rows = {r["control"]["id"]: r for r in rep["controls"]}
    m = rows[mute.id]
    assert (m["before"]["shown"], m["before"]["dismiss"], m["after"]["shown"]) == (3, 3, 0)
    assert m["control"]["who"] == "ann" and m["control"]["why"] == "misfires on app resets"
    th = rows[threshold.id]  # given as in force, not in the trail: still reported
    assert (th["before"]["shown"], th["before"]["accept"]) == (3, 3)
    assert (th["after"]["shown"], th["after"]["accept"]) == (2, 2)
    # removed: what comes after the removal is not counted as 'after'
    store.append({"kind": "control", "op": "remove", "ts": 350.0, "who": "bob", "why": "fixed",
                  "control": mute.to_dict()})
    clock["t"] = 400.0
    call(9, ControlSet(), {"never_take_passcode": "dismiss"})
    again = {r["control"]["id"]: r for r in report(store)["controls"]}[mute.id]
    assert again["removed"]["who"] == "bob" and again["after"]["shown"] == 0
    assert again["before"]["shown"] == 3
    # the ranked rows: the dismissed rule first, with examples and its fix target
    top = report(store)["ranked"][0]
    assert (top["target"], top["target_id"], top["dismiss"]) == ("hint", "never_take_passcode", 4)
    assert top["examples"] and top["examples"][0]["evidence"]
    assert "never_take_passcode muted" in report(store)["table"]
