// The AI-quality report (GET /v1/report): how often agents accept, correct or dismiss
// what the assistant suggests, per form field, hint rule, knowledge document and summary.

import { h, clear, pct } from "./dom.js";

const SECTIONS = [
  ["form", "Form fields", "field"],
  ["hints", "Hints", "rule"],
  ["knowledge", "Knowledge answers", "document"],
  ["summary", "Summaries", "summary"],
];

function table(rows, keyName) {
  return h("table", { class: "report-table" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, keyName),
      ...["shown", "accepted", "edited", "dismissed", "no feedback"].map((c) => h("th", { scope: "col", class: "num" }, c)))),
    h("tbody", {}, ...rows.map(([key, r]) => h("tr", { dataset: { key } },
      h("th", { scope: "row" }, key),
      h("td", { class: "num" }, r.shown),
      h("td", { class: "num accept" }, pct(r.acceptance_rate)),
      h("td", { class: "num edit" }, pct(r.edit_rate)),
      h("td", { class: "num dismiss" }, pct(r.dismissal_rate)),
      h("td", { class: "num none" }, r.none)))));
}

export class ReportView {
  constructor(root) {
    this.root = root;
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
    for (const [kind, title, keyName] of SECTIONS) {
      const rows = Object.entries(rep[kind] || {});
      if (!rows.length) continue;
      this.root.append(h("section", { class: `report-${kind}`, "aria-label": title },
        h("h3", {}, title), table(rows, keyName)));
    }
  }
}
