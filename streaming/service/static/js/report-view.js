// The AI-quality report (GET /v1/report): how often agents accept, correct or dismiss
// what the assistant suggests, per form field, hint rule, knowledge document and summary;
// first what agents dismiss or correct most, with a few examples. Each row of a field,
// rule or document has a "fix" button that leads straight to the control for it.

import { h, clear, pct } from "./dom.js";

const SECTIONS = [
  ["form", "Form fields", "field", "field"],
  ["hints", "Hints", "rule", "hint"],
  ["knowledge", "Knowledge answers", "document", "kb"],
  ["summary", "Summaries", "summary", null],
];

function fixButton(target, key, onFix) {
  return h("button", { type: "button", class: "fix", "aria-label": `Fix ${target} ${key}`,
    onclick: () => onFix({ target, target_id: key }) }, "fix");
}

function table(rows, keyName, target, onFix) {
  return h("table", { class: "report-table" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, keyName),
      ...["shown", "accepted", "edited", "dismissed", "no feedback"].map((c) => h("th", { scope: "col", class: "num" }, c)),
      target ? h("th", { scope: "col" }, "") : null)),
    h("tbody", {}, ...rows.map(([key, r]) => h("tr", { dataset: { key } },
      h("th", { scope: "row" }, key),
      h("td", { class: "num" }, r.shown),
      h("td", { class: "num accept" }, pct(r.acceptance_rate)),
      h("td", { class: "num edit" }, pct(r.edit_rate)),
      h("td", { class: "num dismiss" }, pct(r.dismissal_rate)),
      h("td", { class: "num none" }, r.none),
      target ? h("td", {}, fixButton(target, key, onFix)) : null))));
}

function ranked(rows, onFix) {
  return h("ol", { class: "ranked" }, ...rows.map((r) => h("li", { dataset: { key: r.key, target: r.target } },
    h("strong", {}, `${r.target} ${r.key}`), " ",
    h("span", { class: "muted" }, `${r.dismiss} dismissed, ${r.edit} corrected of ${r.shown} (${pct(r.bad_rate)})`), " ",
    fixButton(r.target, r.target_id, onFix),
    r.examples && r.examples.length ? h("ul", { class: "examples" }, ...r.examples.map((x) => h("li", {},
      h("span", { class: "action" }, x.action), ": ", h("q", {}, x.suggested),
      x.evidence && x.evidence.length ? [" from ", h("q", { class: "evidence" }, x.evidence.join(" … "))] : null))) : null)));
}

export class ReportView {
  constructor(root, { onFix = () => {} } = {}) {
    this.root = root;
    this.onFix = onFix;
  }

  render(rep) {
    clear(this.root);
    if (!rep) {
      this.root.append(h("p", { class: "report-empty" }, "Report not available."));
      return;
    }
    const t = rep.totals || {};
    this.root.append(h("p", { class: "report-totals" },
      `${rep.calls || 0} calls, ${t.shown || 0} suggestions: ${pct(t.acceptance_rate)} accepted, `,
      `${pct(t.edit_rate)} corrected, ${pct(t.dismissal_rate)} dismissed, ${pct(t.feedback_rate)} with feedback.`));
    if (rep.ranked && rep.ranked.length) {
      this.root.append(h("section", { class: "report-ranked", "aria-label": "Most dismissed or corrected" },
        h("h3", {}, "Most dismissed or corrected"), ranked(rep.ranked, this.onFix)));
    }
    for (const [kind, title, keyName, target] of SECTIONS) {
      const rows = Object.entries(rep[kind] || {});
      if (!rows.length) continue;
      this.root.append(h("section", { class: `report-${kind}`, "aria-label": title },
        h("h3", {}, title), table(rows, keyName, target, this.onFix)));
    }
  }
}
