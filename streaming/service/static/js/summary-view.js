// The post-call summary: shown when the call ends, editable, with Save (sent as an
// `edit` Feedback, so the correction lands in the audit trail), Accept and Copy.
// A refined summary arriving while the agent edits does not overwrite their text.

import { h, clear } from "./dom.js";

export function summaryText(s) {
  return (s && (s.text || (s.points || []).map((p) => (p.text ? `- ${p.text}` : "")).join("\n"))) || "";
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // clipboard API refused (no permission or not a secure context): the old way
    const ta = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand("copy");
    ta.remove();
    return ok;
  }
}

export class SummaryView {
  constructor(root, { readonly = false, onAction = () => {} } = {}) {
    Object.assign(this, { root, readonly, onAction });
    this.meta = h("dl", { class: "summary-meta" });
    this.text = h("textarea", { id: "summary-text", rows: "8", readOnly: readonly, spellcheck: true });
    this.status = h("p", { class: "summary-status", role: "status" });
    this.copyBtn = h("button", { type: "button", class: "copy" }, "Copy");
    this.saveBtn = h("button", { type: "button", class: "save" }, "Save edits");
    this.acceptBtn = h("button", { type: "button", class: "accept" }, "Accept");
    this.dirty = false;
    this.shownId = null;
    this.text.addEventListener("input", () => {
      this.dirty = true;
      this.status.textContent = "Edited, not saved yet.";
    });
    this.copyBtn.addEventListener("click", async () => {
      const ok = await copyText(this.text.value);
      this.status.textContent = ok ? "Copied to the clipboard." : "Could not copy: select the text and copy it.";
    });
    this.saveBtn.addEventListener("click", () => {
      if (!this.summary) return;
      this.onAction(this.summary.sid, "edit", this.text.value);
      this.dirty = false;
    });
    this.acceptBtn.addEventListener("click", () => this.summary && this.onAction(this.summary.sid, "accept", null));
    clear(root).append(
      h("h2", { id: "summary-h" }, "Call summary"),
      this.meta,
      h("label", { for: "summary-text" }, "Summary for the CRM (edit before saving)"),
      this.text,
      h("div", { class: "actions" }, readonly ? null : this.saveBtn, readonly ? null : this.acceptBtn, this.copyBtn),
      this.status);
    root.hidden = true;
  }

  render(model) {
    const s = model.summary;
    if (!s) return;
    this.summary = s;
    this.root.hidden = false;
    if (this.shownId !== s.sid) {
      if (this.dirty) this.status.textContent = "A refined summary arrived; your edits are kept.";
      else this.text.value = summaryText(s);
      this.shownId = s.sid;
    }
    clear(this.meta);
    const row = (k, v) => v && this.meta.append(h("dt", {}, k), h("dd", {}, v));
    row("Outcome", s.outcome && (s.outcome.text || s.outcome.status));
    row("Disposition", s.disposition);
    row("Follow-ups", (s.follow_ups || []).map((f) => `${f.owner}: ${f.text || f.action || ""}`).join("; "));
    const fb = model.feedbackFor(s.sid);
    if (fb) {
      this.status.textContent = fb.pending ? "Sending…"
        : fb.action === "edit" ? "Your edited summary is saved." : `Summary ${fb.action}ed.`;
    }
    this.saveBtn.disabled = Boolean(fb && fb.pending);
    this.acceptBtn.disabled = Boolean(fb && fb.pending);
  }
}
