// The supervisor's table of calls: status, duration, customer mood, alerts and the
// hints currently open, with a button to open the call's overlay read-only.

import { h, clear } from "./dom.js";
import { sentimentText, moodLabel } from "./header-view.js";

function duration(info, nowS) {
  const end = info.ended || nowS;
  const s = Math.max(0, Math.round(end - (info.started || end)));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Open hints, most urgent first: what the agent is being told to do right now. */
export function openHints(model) {
  return [...model.hints.values()]
    .filter((x) => x.status !== "done" && !model.feedbackFor(x.sid))
    .sort((a, b) => (a.priority || 3) - (b.priority || 3));
}

export class CallsView {
  constructor(root, { onOpen = () => {} } = {}) {
    this.root = root;
    this.onOpen = onOpen;
    this.selected = null;
  }

  /** calls: [{info, model}] in display order. */
  render(calls, nowS = Date.now() / 1000) {
    clear(this.root);
    if (!calls.length) {
      this.root.append(h("p", { class: "empty" }, "No calls yet."));
      return;
    }
    const rows = calls.map(({ info, model }) => {
      const mood = model && model.sentiment.get("customer");
      const alerts = model ? [...model.alerts.values()].reverse() : [];
      const hints = model ? openHints(model) : [];
      const live = info.status === "active";
      return h("tr", { class: info.call_id === this.selected ? "selected" : "", dataset: { call: info.call_id } },
        h("th", { scope: "row" }, info.call_id),
        h("td", { class: "status" }, live ? "● live" : info.status),
        h("td", { class: "num" }, duration(info, nowS)),
        h("td", { class: "mood-cell", dataset: { label: mood ? moodLabel(Number(mood.running ?? mood.score)) : "" } },
          mood ? sentimentText(mood) : "–"),
        h("td", { class: "alerts-cell" }, alerts.length ? alerts.slice(0, 2).map((a) =>
          h("span", { class: `alert-line ${a.severity}` }, `${a.severity}: ${a.text}`)) : "–",
        alerts.length > 2 ? h("span", { class: "alert-line" }, `+${alerts.length - 2} more`) : null),
        h("td", { class: "hints-cell" }, hints.length ? hints.slice(0, 2).map((x) =>
          h("span", { class: "hint-line" }, x.supervisor ? "⚑ " : "", x.text)) : "–"),
        h("td", {}, h("button", { type: "button", class: "open", "aria-label": `View call ${info.call_id}`,
          onclick: () => {
            this.selected = info.call_id;
            this.onOpen(info.call_id);
          } }, "View")));
    });
    this.root.append(h("table", { class: "calls" },
      h("thead", {}, h("tr", {}, ...["Call", "Status", "Duration", "Customer mood", "Alerts", "Open hints", ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows)));
  }
}
