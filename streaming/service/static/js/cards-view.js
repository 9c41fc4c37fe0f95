// Cards: next-best-action hints and knowledge answers (with their reason or source,
// accept / dismiss) and alerts. Each list is re-rendered from the model when it
// changes; the lists are short (bounded by the model), so that is cheap.

import { h, clear, pct } from "./dom.js";

function feedbackButtons(sid, fb, readonly, onAction) {
  if (readonly) return null;
  const pending = Boolean(fb && fb.pending);
  return h("div", { class: "actions" },
    h("button", { type: "button", class: "accept", disabled: pending || (fb && fb.action === "accept"),
      onclick: () => onAction(sid, "accept", null) }, fb && fb.action === "accept" ? "Accepted" : "Accept"),
    h("button", { type: "button", class: "dismiss", disabled: pending,
      onclick: () => onAction(sid, "dismiss", null) }, "Dismiss"));
}

function state(fb) {
  if (!fb) return "";
  return fb.pending ? "sending…" : { accept: "accepted", dismiss: "dismissed", edit: "edited" }[fb.action] || "";
}

export class HintsView {
  constructor(root, { readonly = false, onAction = () => {}, onEvidence = () => {} } = {}) {
    Object.assign(this, { root, readonly, onAction, onEvidence });
    this.list = h("ul", { class: "cards hints" });
    this.empty = h("p", { class: "empty" }, "No suggestions right now.");
    clear(root).append(this.empty, this.list);
  }

  /** Open hints first (most urgent, newest), then done ones; dismissed ones are hidden. */
  render(model) {
    const hints = [...model.hints.values()].filter((x) => model.feedbackFor(x.sid)?.action !== "dismiss"
      || model.feedbackFor(x.sid)?.pending);
    const order = (x) => [x.status === "done" ? 1 : 0, x.priority || 3];
    hints.reverse().sort((a, b) => {
      const [a0, a1] = order(a);
      const [b0, b1] = order(b);
      return a0 - b0 || a1 - b1;
    });
    clear(this.list);
    this.empty.hidden = hints.length > 0;
    for (const x of hints) {
      const fb = model.feedbackFor(x.sid);
      const done = x.status === "done";
      this.list.append(h("li", {
        class: `card hint p${x.priority || 3}${done ? " done" : ""}${fb ? " fb-" + fb.action : ""}`,
        dataset: { sid: x.sid, rule: x.rule || "" },
      },
      h("p", { class: "card-text" }, done ? h("span", { class: "tick", "aria-label": "done" }, "✓ ") : null, x.text),
      h("p", { class: "why" }, h("span", { class: "k" }, "Why: "), x.why || ""),
      h("p", { class: "meta" }, `${x.playbook || x.source || ""} · ${pct(x.confidence)}`,
        x.supervisor ? " · supervisor notified" : "", state(fb) ? ` · ${state(fb)}` : ""),
      done ? null : feedbackButtons(x.sid, fb, this.readonly, this.onAction)));
    }
  }
}

export class KnowledgeView {
  constructor(root, { readonly = false, onAction = () => {}, onEvidence = () => {} } = {}) {
    Object.assign(this, { root, readonly, onAction, onEvidence });
    this.list = h("ul", { class: "cards knowledge" });
    this.empty = h("p", { class: "empty" }, "No knowledge answers yet.");
    clear(root).append(this.empty, this.list);
  }

  render(model) {
    const items = [...model.knowledge.values()].reverse()
      .filter((x) => model.feedbackFor(x.sid)?.action !== "dismiss" || model.feedbackFor(x.sid)?.pending);
    clear(this.list);
    this.empty.hidden = items.length > 0;
    for (const x of items) {
      const fb = model.feedbackFor(x.sid);
      this.list.append(h("li", { class: `card knowledge${fb ? " fb-" + fb.action : ""}`, dataset: { sid: x.sid, doc: x.doc || "" } },
        h("p", { class: "card-title" }, x.title || x.doc, x.heading ? ` — ${x.heading}` : ""),
        h("p", { class: "card-text" }, x.text),
        h("p", { class: "meta" },
          h("button", { type: "button", class: "linkish", title: "Show the question in the transcript",
            onclick: () => this.onEvidence(x.evidence, "question") }, `Asked: “${x.question}”`),
          ` · source ${x.doc} · ${pct(x.confidence)}`, state(fb) ? ` · ${state(fb)}` : ""),
        feedbackButtons(x.sid, fb, this.readonly, this.onAction)));
    }
  }
}

export class AlertsView {
  constructor(root) {
    this.root = root;
    this.list = h("ul", { class: "alerts" });
    clear(root).append(this.list);
  }

  render(model) {
    const alerts = [...model.alerts.values()].reverse();
    clear(this.list);
    this.root.hidden = alerts.length === 0;
    for (const a of alerts) {
      this.list.append(h("li", { class: `alert ${a.severity || "info"}`, dataset: { sid: a.sid, kind: a.kind } },
        h("strong", {}, `${a.severity || "info"}: `), a.text,
        a.escalate ? h("span", { class: "escalate" }, " · escalate") : null));
    }
  }
}
