// The form the assistant fills in: each value with its confidence, its status and
// where it came from (click the value to highlight the words in the transcript), and
// accept / edit / dismiss. Rows are keyed by field and updated in place, so an
// edit box the agent is typing in survives new events.
//
// A value below the display threshold (`display: "check"`) is not shown as filled: the
// row asks the agent to confirm it with the caller, shows what was heard when no reading
// was valid, and offers the other valid readings as one-click corrections (an "edit").

import { h, clear, pct } from "./dom.js";

const STATUS = { proposed: "suggested", accepted: "accepted", edited: "edited", dismissed: "dismissed" };

export class FormView {
  /** onAction(sid, action, value) sends Feedback; onEvidence(evidence, label) highlights. */
  constructor(root, { readonly = false, onAction = () => {}, onEvidence = () => {} } = {}) {
    this.root = root;
    this.readonly = readonly;
    this.onAction = onAction;
    this.onEvidence = onEvidence;
    this.list = h("ul", { class: "fields" });
    this.empty = h("p", { class: "empty" }, "Nothing captured yet.");
    clear(root).append(this.empty, this.list);
    this.rows = new Map(); // field -> {li, parts…}
  }

  render(model) {
    this.empty.hidden = model.fields.size > 0;
    for (const [field, fv] of model.fields) {
      const row = this.rows.get(field) || this._row(field);
      this._update(row, fv, model.feedbackFor(fv.sid));
    }
    for (const [field, row] of this.rows) {
      if (!model.fields.has(field)) {
        row.li.remove();
        this.rows.delete(field);
      }
    }
  }

  _row(field) {
    const id = `field-${field}`;
    const label = h("span", { class: "field-label", id: `${id}-label` });
    const status = h("span", { class: "status" });
    const value = h("button", { type: "button", class: "value", "aria-describedby": `${id}-label`,
      title: "Show where this came from in the transcript" });
    const meter = h("meter", { min: "0", max: "1", low: "0.5", high: "0.8", optimum: "1" });
    const conf = h("span", { class: "conf" });
    const quote = h("q", { class: "quote" });
    const check = h("p", { class: "check", hidden: true });
    const alts = h("div", { class: "alternatives", role: "group", "aria-label": "Other readings", hidden: true });
    const input = h("input", { type: "text", name: "value", id: `${id}-input`, autocomplete: "off" });
    const editForm = h("form", { class: "edit", hidden: true },
      h("label", { for: `${id}-input` }, "Correct value"), input,
      h("button", { type: "submit", class: "save" }, "Save"),
      h("button", { type: "button", class: "cancel" }, "Cancel"));
    const actions = h("div", { class: "actions", role: "group", "aria-labelledby": `${id}-label` },
      h("button", { type: "button", class: "accept", dataset: { act: "accept" } }, "Accept"),
      h("button", { type: "button", class: "edit", dataset: { act: "edit" } }, "Edit"),
      h("button", { type: "button", class: "dismiss", dataset: { act: "dismiss" } }, "Dismiss"));
    const li = h("li", { class: "field", dataset: { field }, id },
      h("div", { class: "field-head" }, label, status),
      h("div", { class: "field-value" }, value, meter, conf),
      check, alts, quote, this.readonly ? null : actions, this.readonly ? null : editForm);
    const row = { li, label, status, value, meter, conf, quote, check, alts, input, editForm, actions, fv: null };
    alts.addEventListener("click", (ev) => {
      const v = ev.target.closest("button")?.dataset.value;
      if (v && row.fv && !this.readonly) this.onAction(row.fv.sid, "edit", v);
    });
    value.addEventListener("click", () => row.fv && this.onEvidence(row.fv.evidence, row.fv.label));
    actions.addEventListener("click", (ev) => {
      const act = ev.target.closest("button")?.dataset.act;
      if (!act || !row.fv) return;
      if (act === "edit") {
        editForm.hidden = false;
        input.value = row.fv.value;
        input.focus();
        input.select();
        return;
      }
      this.onAction(row.fv.sid, act, null);
    });
    editForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (!v || !row.fv) return;
      editForm.hidden = true;
      this.onAction(row.fv.sid, "edit", v);
    });
    editForm.querySelector(".cancel").addEventListener("click", () => {
      editForm.hidden = true;
    });
    this.list.append(li);
    this.rows.set(field, row);
    return row;
  }

  _update(row, fv, fb) {
    row.fv = fv;
    const checking = fv.display === "check" && fv.status === "proposed";
    row.li.className = `field status-${fv.status}${checking ? " display-check" : ""}${fb && fb.pending ? " pending" : ""}`;
    row.li.dataset.sid = fv.sid;
    row.label.textContent = fv.label || fv.field;
    row.status.textContent = (fb && fb.pending ? "sending… " : "") + (STATUS[fv.status] || fv.status)
      + (fv.correction ? " (correction)" : "");
    row.value.textContent = fv.value;
    row.meter.value = Number(fv.confidence) || 0;
    row.meter.setAttribute("aria-label", `confidence ${pct(fv.confidence)}`);
    row.conf.textContent = pct(fv.confidence);
    row.check.hidden = !checking;
    row.check.textContent = !checking ? "" : fv.valid === false
      ? `Please check: heard "${fv.heard || fv.value}", which is not a valid ${(fv.label || fv.field).toLowerCase()}.`
      : "Please check with the caller before using this value.";
    const others = checking ? (fv.alternatives || []) : [];
    row.alts.hidden = others.length === 0;
    clear(row.alts).append(...(others.length ? [h("span", { class: "alt-label" }, "or:")] : []),
      ...others.map((v) => h("button", { type: "button", class: "alt", dataset: { value: v },
        disabled: this.readonly, title: "Use this reading instead" }, v)));
    const ev = (fv.evidence || [])[0];
    row.quote.textContent = ev ? ev.text : "";
    row.quote.hidden = !ev;
    if (!this.readonly) {
      const pending = Boolean(fb && fb.pending);
      const btn = (c) => row.actions.querySelector(c);
      btn(".accept").disabled = pending || fv.status !== "proposed";
      btn(".dismiss").disabled = pending || fv.status === "dismissed";
      btn(".edit").disabled = pending; // a dismissed value can still be corrected
    }
  }
}
