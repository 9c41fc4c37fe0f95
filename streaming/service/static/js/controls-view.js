// The supervisor's controls on the assistant (GET/POST /v1/controls, DELETE /v1/controls/ID):
// the controls in force with who, when and why and their effect (acceptance of the target
// before and since), a form to mute a rule, playbook, alert kind, document or field, raise
// its threshold or retire a document, and a Remove button per control. The form is built
// once and never re-rendered, so a refresh does not wipe what the supervisor is typing.

import { h, clear, pct } from "./dom.js";

export const KINDS = [
  ["hint", "hint rule"],
  ["playbook", "playbook (all its hints)"],
  ["alert", "alert kind"],
  ["kb", "knowledge document"],
  ["field", "form field"],
];
const ACTIONS = [["mute", "mute"], ["threshold", "raise threshold"], ["retire", "retire (answer is wrong)"]];

function when(ts) {
  const d = new Date(Number(ts) * 1000);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString()}`;
}

function scopeText(scope) {
  return scope ? scope.replace(":", " ") : "everywhere";
}

function actionText(c) {
  if (c.action === "threshold") return `threshold ${Number(c.value).toFixed(2)}`;
  return c.action === "retire" ? "retired" : "muted";
}

function effectText(effect) {
  if (!effect) return "–";
  const side = (x) => (x.shown ? `${pct(x.acceptance_rate)} accepted, ${pct(x.dismissal_rate)} dismissed of ${x.shown}` : "none shown");
  return `before: ${side(effect.before)} · since: ${side(effect.after)}`;
}

export class ControlsView {
  /** onAdd(control) and onRemove(id, why) return promises; a rejection's message is shown. */
  constructor(root, { onAdd = async () => {}, onRemove = async () => {} } = {}) {
    this.root = root;
    this.onAdd = onAdd;
    this.onRemove = onRemove;
    this.targets = {};
    this.highlight = null; // control id to mark (a report row's "fix" led here)
    this.list = h("div", { class: "controls-list" });
    this.status = h("p", { class: "controls-status", role: "status" });
    this.kind = h("select", { id: "control-target", onchange: () => this._kindChanged() },
      ...KINDS.map(([v, label]) => h("option", { value: v }, label)));
    this.ids = h("datalist", { id: "control-target-ids" });
    this.targetId = h("input", { id: "control-target-id", list: "control-target-ids", required: true,
      autocomplete: "off", placeholder: "rule, playbook, alert kind, document or field" });
    this.action = h("select", { id: "control-action", onchange: () => this._actionChanged() },
      ...ACTIONS.map(([v, label]) => h("option", { value: v }, label)));
    this.value = h("input", { id: "control-value", type: "number", min: "0.05", max: "1", step: "0.05",
      value: "0.8", hidden: true, "aria-label": "confidence threshold" });
    this.scope = h("select", { id: "control-scope" }, h("option", { value: "" }, "everywhere"));
    this.why = h("input", { id: "control-why", required: true, maxlength: "500",
      placeholder: "why (kept in the audit trail)" });
    this.form = h("form", { class: "control-form", onsubmit: (ev) => { ev.preventDefault(); this._submit(); } },
      h("label", {}, "Target ", this.kind), h("label", {}, "id ", this.targetId), this.ids,
      h("label", {}, "Action ", this.action), h("label", { class: "value-label" }, this.value),
      h("label", {}, "Scope ", this.scope), h("label", { class: "why-label" }, "Why ", this.why),
      h("button", { type: "submit", class: "add-control" }, "Add control"));
    root.append(this.list, this.form, this.status);
  }

  render(view) {
    this.targets = view.targets || {};
    this._fillScopes(this.targets.scopes || [""]);
    this._kindChanged(false);
    const effects = new Map((view.effects || []).map((e) => [e.control.id, e]));
    clear(this.list);
    const controls = view.controls || [];
    if (!controls.length) {
      this.list.append(h("p", { class: "empty" }, "No controls: the assistant runs as configured."));
      return;
    }
    this.list.append(h("table", { class: "controls-table" },
      h("thead", {}, h("tr", {}, ...["Target", "Action", "Scope", "Who", "When", "Why", "Effect", ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...controls.map((c) => this._row(c, effects.get(c.id))))));
  }

  _row(c, effect) {
    const why = h("input", { class: "remove-why", placeholder: "why remove", "aria-label": `why remove ${c.id}` });
    return h("tr", { dataset: { control: c.id, target: `${c.target}:${c.target_id}` },
      class: c.id === this.highlight ? "highlight" : "" },
      h("th", { scope: "row" }, h("span", { class: "kind" }, c.target), " ", c.target_id),
      h("td", { class: "action" }, actionText(c)),
      h("td", {}, scopeText(c.scope)),
      h("td", { class: "who" }, c.who || "?"),
      h("td", { class: "when" }, when(c.when)),
      h("td", { class: "why" }, c.why || ""),
      h("td", { class: "effect" }, effectText(effect)),
      h("td", {}, why, h("button", { type: "button", class: "remove-control", "aria-label": `Remove control ${c.id}`,
        onclick: () => this._run(this.onRemove(c.id, why.value), "removed") }, "Remove")));
  }

  /** From a report row: the control that exists for it, or the form ready to add one. */
  prefill({ target, target_id: targetId, action = "mute" }) {
    const existing = this.list.querySelector(`tr[data-target="${CSS.escape(`${target}:${targetId}`)}"]`);
    this.highlight = existing ? existing.dataset.control : null;
    for (const tr of this.list.querySelectorAll("tr.highlight")) tr.classList.remove("highlight");
    if (existing) existing.classList.add("highlight");
    this.kind.value = target;
    this._kindChanged(false);
    this.targetId.value = targetId;
    this.action.value = action;
    this._actionChanged();
    this.status.textContent = existing
      ? `A control on ${target} ${targetId} is in force (marked); add another below.`
      : `New control on ${target} ${targetId}: say why, then Add.`;
    (existing || this.form).scrollIntoView({ block: "nearest" });
    this.why.focus();
  }

  _fillScopes(scopes) {
    const keep = this.scope.value;
    if (this.scope.options.length === scopes.length) return;
    clear(this.scope);
    for (const s of scopes) this.scope.append(h("option", { value: s }, scopeText(s)));
    this.scope.value = scopes.includes(keep) ? keep : "";
  }

  _kindChanged(reset = true) {
    const kind = this.kind.value;
    clear(this.ids);
    for (const t of this.targets[kind] || []) this.ids.append(h("option", { value: t.id }, t.label || t.id));
    const retire = [...this.action.options].find((o) => o.value === "retire");
    retire.disabled = kind !== "kb";
    if (retire.disabled && this.action.value === "retire") this.action.value = "mute";
    if (reset) this.targetId.value = "";
    this._actionChanged();
  }

  _actionChanged() {
    this.value.hidden = this.action.value !== "threshold";
  }

  _submit() {
    const control = { target: this.kind.value, target_id: this.targetId.value.trim(), action: this.action.value,
      scope: this.scope.value, why: this.why.value.trim() };
    if (control.action === "threshold") control.value = Number(this.value.value);
    this._run(this.onAdd(control).then((made) => {
      this.highlight = made && made.id;
      this.why.value = "";
    }), "added");
  }

  _run(promise, done) {
    this.status.textContent = "sending…";
    return Promise.resolve(promise)
      .then(() => { this.status.textContent = `Control ${done}; live calls on every node follow it within seconds.`; })
      .catch((err) => { this.status.textContent = String(err.message || err); });
  }
}
