// The overlay's header line: call status, connection state and the customer's mood.

import { h, clear } from "./dom.js";

const ARROWS = { improving: "↗", worsening: "↘", declining: "↘", stable: "→" };
const CONNECTION = { connecting: "connecting…", live: "connected", reconnecting: "reconnecting…", closed: "closed" };

// the engine's thresholds (assist/sentiment.py), applied to the running score
export function moodLabel(score) {
  return score >= 0.2 ? "positive" : score <= -0.25 ? "negative" : "neutral";
}

/** "negative ↘ (-0.41)": the running mood of a speaker and where it is heading. */
export function sentimentText(s) {
  if (!s) return "";
  const score = Number(s.running ?? s.score ?? 0);
  const sign = score >= 0 ? "+" : "";
  return `${moodLabel(score)} ${ARROWS[s.direction] || ""} (${sign}${score.toFixed(2)})`.replace("  ", " ");
}

export class HeaderView {
  constructor(root, { callId, readonly }) {
    this.status = h("span", { class: "call-status", role: "status" });
    this.conn = h("span", { class: "conn" });
    this.mood = h("span", { class: "mood", title: "Customer sentiment" });
    this.notice = h("p", { class: "notice", hidden: true, role: "alert" });
    clear(root).append(
      h("div", { class: "head-line" },
        h("h1", {}, "Souffleur"),
        h("span", { class: "call-id" }, callId || "no call"),
        readonly ? h("span", { class: "readonly-tag" }, "read-only") : null),
      h("div", { class: "head-line" }, this.status, this.conn, this.mood),
      this.notice);
  }

  render(model, connState) {
    const s = { pending: "waiting for the call", active: "call in progress", ended: "call ended" }[model.status]
      || model.status;
    this.status.textContent = s;
    this.status.dataset.status = model.status;
    this.conn.textContent = CONNECTION[connState] || connState || "";
    this.conn.dataset.state = connState || "";
    const mood = model.sentiment.get("customer");
    this.mood.textContent = mood ? `Customer: ${sentimentText(mood)}` : "";
    this.mood.dataset.label = mood ? moodLabel(Number(mood.running ?? mood.score ?? 0)) : "";
    const err = model.error;
    const notice = model.notices[model.notices.length - 1];
    const msg = err ? `${err.err_code || "Error"}: ${err.err_msg || err.description || ""}`
      : notice && notice.level !== "info" ? `Assistant: ${notice.message}` : "";
    this.notice.hidden = !msg;
    this.notice.textContent = msg;
  }
}
