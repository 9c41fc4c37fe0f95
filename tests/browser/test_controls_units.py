"""The supervisor's controls panel and the report's "fix" buttons in a real browser, without a
server: the list (who, when, why, effect), the form (what it sends, retire only for documents,
the threshold value), remove with a why, a refresh keeping what is being typed, and "fix"
leading to the control in force or filling the form."""

from __future__ import annotations

import pytest

from .test_overlay_units import page  # noqa: F401  (the static page, no JS errors allowed)

pytestmark = pytest.mark.browser


SETUP = r"""
const {ControlsView} = await import('/static/js/controls-view.js');
const {ReportView} = await import('/static/js/report-view.js');
document.body.innerHTML = '<div id="c"></div><div id="r"></div>';
const sent = [];
const view = new ControlsView(document.getElementById("c"), {
  onAdd: async (c) => { sent.push(["add", c]); if (c.target_id === "bad") throw new Error("HTTP 400: no hint 'bad'"); return {id: "ctl-new"}; },
  onRemove: async (id, why) => { sent.push(["remove", id, why]); },
});
const report = new ReportView(document.getElementById("r"), {onFix: (t) => view.prefill(t)});
const targets = {hint: [{id: "verify_identity", label: "Verify"}, {id: "never_take_passcode", label: "Never"}],
  kb: [{id: "klachtenprocedure.md", label: "klachtenprocedure.md"}], playbook: [], alert: [], field: [{id: "iban", label: "IBAN"}],
  scopes: ["", "form:identity", "playbook:vulnerable"]};
const mute = {id: "ctl-1", target: "hint", target_id: "never_take_passcode", action: "mute", scope: "",
  value: null, who: "sup-carla", when: 1764890000, why: "agents know it"};
const effect = {control: mute, before: {shown: 4, acceptance_rate: 0.25, dismissal_rate: 0.75},
  after: {shown: 0, acceptance_rate: 0, dismissal_rate: 0}};
view.render({controls: [mute], targets, effects: [effect]});
const rowOf = (t) => document.querySelector(`.controls-table tr[data-target="${t}"]`);
"""


def test_controls_list_form_and_remove(page):  # noqa: F811 (the fixture imported above)
    r = page.evaluate("""async () => {""" + SETUP + """
      const row = rowOf("hint:never_take_passcode");
      const listed = [...row.querySelectorAll("th, td")].map((x) => x.textContent);
      // the form: a threshold on a field, scoped to a form
      const f = (id) => document.getElementById(id);
      f("control-target").value = "field"; f("control-target").dispatchEvent(new Event("change"));
      const retireForField = [...f("control-action").options].find((o) => o.value === "retire").disabled;
      const ids = [...document.querySelectorAll("#control-target-ids option")].map((o) => o.value);
      f("control-target-id").value = "iban";
      f("control-action").value = "threshold"; f("control-action").dispatchEvent(new Event("change"));
      const valueShown = !f("control-value").hidden;
      f("control-value").value = "0.9";
      f("control-scope").value = "form:identity";
      f("control-why").value = "  misreads account numbers  ";
      // a refresh while the supervisor types keeps the form as it is
      view.render({controls: [mute], targets, effects: [effect]});
      const kept = [f("control-target").value, f("control-target-id").value, f("control-why").value];
      document.querySelector("button.add-control").click();
      await new Promise((ok) => setTimeout(ok, 20));
      const status = document.querySelector(".controls-status").textContent;
      const whyCleared = f("control-why").value;
      f("control-target").value = "hint"; f("control-target").dispatchEvent(new Event("change"));
      f("control-target-id").value = "bad"; f("control-why").value = "x";
      document.querySelector("button.add-control").click();
      await new Promise((ok) => setTimeout(ok, 20));
      const error = document.querySelector(".controls-status").textContent;
      row.querySelector(".remove-why").value = "rule fixed";
      row.querySelector("button.remove-control").click();
      await new Promise((ok) => setTimeout(ok, 20));
      view.render({controls: [], targets, effects: []});
      return {listed, retireForField, ids, valueShown, kept, sent, status, whyCleared, error,
              empty: document.querySelector("#c .empty").textContent};
    }""")
    assert r["listed"][0] == "hint never_take_passcode" and r["listed"][1:4] == ["muted", "everywhere", "sup-carla"]
    assert r["listed"][5] == "agents know it"
    assert r["listed"][6] == "before: 25% accepted, 75% dismissed of 4 · since: none shown"
    assert r["retireForField"] is True and r["ids"] == ["iban"] and r["valueShown"] is True
    assert r["kept"] == ["field", "iban", "  misreads account numbers  "]
    assert r["sent"][0] == ["add", {"target": "field", "target_id": "iban", "action": "threshold",
                                    "scope": "form:identity", "why": "misreads account numbers", "value": 0.9}]
    assert r["status"].startswith("Control added") and r["whyCleared"] == ""
    assert r["error"] == "HTTP 400: no hint 'bad'"
    assert r["sent"][2] == ["remove", "ctl-1", "rule fixed"]
    assert r["empty"].startswith("No controls")


def test_report_fix_leads_to_the_control_or_fills_the_form(page):  # noqa: F811
    r = page.evaluate("""async () => {""" + SETUP + """
      const row = (key, r) => [key, {shown: 4, accept: 1, edit: 0, dismiss: 3, none: 0, acceptance_rate: 0.25,
        edit_rate: 0, dismissal_rate: 0.75, feedback_rate: 1}];
      report.render({calls: 2, totals: {shown: 8}, hints: Object.fromEntries([row("never_take_passcode"), row("verify_identity")]),
        knowledge: Object.fromEntries([row("klachtenprocedure.md")]), summary: Object.fromEntries([row("summary")]),
        ranked: [{section: "hints", key: "verify_identity", target: "hint", target_id: "verify_identity", shown: 4,
                  dismiss: 3, edit: 0, bad_rate: 0.75, examples: [{action: "dismiss", suggested: "Verify identity",
                  evidence: ["I just want opening hours"]}]}]});
      const fixes = [...document.querySelectorAll("#r button.fix")].map((b) => b.getAttribute("aria-label"));
      const ranked = document.querySelector(".report-ranked li").textContent;
      document.querySelector('.report-hints tr[data-key="never_take_passcode"] button.fix').click();
      const marked = [...document.querySelectorAll(".controls-table tr.highlight")].map((x) => x.dataset.target);
      const focus1 = document.activeElement.id;
      document.querySelector('.report-knowledge tr[data-key="klachtenprocedure.md"] button.fix').click();
      const f = (id) => document.getElementById(id);
      return {fixes, ranked, marked, focus1, kind: f("control-target").value, id: f("control-target-id").value,
              retireAllowed: ![...f("control-action").options].find((o) => o.value === "retire").disabled,
              markedAfter: document.querySelectorAll(".controls-table tr.highlight").length,
              status: document.querySelector(".controls-status").textContent};
    }""")
    assert r["fixes"] == ["Fix hint verify_identity", "Fix hint never_take_passcode", "Fix hint verify_identity",
                          "Fix kb klachtenprocedure.md"]  # ranked first; summaries have none
    assert "3 dismissed, 0 corrected of 4 (75%)" in r["ranked"] and "I just want opening hours" in r["ranked"]
    assert r["marked"] == ["hint:never_take_passcode"] and r["focus1"] == "control-why"
    assert (r["kind"], r["id"], r["retireAllowed"], r["markedAfter"]) == ("kb", "klachtenprocedure.md", True, 0)
    assert r["status"] == "New control on kb klachtenprocedure.md: say why, then Add."
