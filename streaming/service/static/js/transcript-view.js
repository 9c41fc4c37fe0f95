// The live transcript: agent/customer turns of fixed final pieces, then the provisional
// (interim) text of whoever is speaking. Rendered incrementally from the model's ops,
// so a final is painted with one append, not a re-render; pieces that leave the
// model's window leave the DOM too, so the page stays the same size however long
// the call. `highlight` marks the words an evidence item points at.

import { h, clear, speakerLabel } from "./dom.js";

export class TranscriptView {
  constructor(root) {
    this.root = root;
    this.note = h("p", { class: "trimmed-note", hidden: true });
    this.list = h("ol", { class: "turns" });
    this.interims = h("div", { class: "interims", "aria-hidden": "true" });
    clear(root).append(this.note, this.list, this.interims);
    this.turnEls = new Map(); // turn key -> .text element
    this.segEls = new Map(); // segment id -> span
    this.interimEls = new Map(); // speaker -> element
    this.trimmed = 0;
    this.marked = [];
  }

  /** Apply transcript ops from CallModel.apply (in order). */
  apply(ops) {
    if (!ops.length) return;
    const stick = this._nearBottom();
    for (const op of ops) {
      if (op.op === "turn") this._turn(op.turn, op.speaker);
      else if (op.op === "seg") this._seg(op.turn, op.seg);
      else if (op.op === "drop") this._drop(op);
      else if (op.op === "interim") this._interim(op.speaker, op.text);
      else if (op.op === "revise") this._revise(op);
    }
    if (stick) this.scroller().scrollTop = this.scroller().scrollHeight;
  }

  /** Rebuild from the model (after a burst too large to replay op by op). */
  rebuild(model) {
    clear(this.list);
    clear(this.interims);
    this.turnEls.clear();
    this.segEls.clear();
    this.interimEls.clear();
    this.marked = [];
    for (const turn of model.turns) {
      this._turn(turn.key, turn.speaker);
      for (const seg of turn.segs) this._seg(turn.key, seg);
    }
    for (const [who, text] of model.interims) this._interim(who, text);
    this.trimmed = model.trimmed;
    this._updateNote();
    this.scroller().scrollTop = this.scroller().scrollHeight;
  }

  scroller() {
    return this.root;
  }

  /** Mark the words of each evidence item; returns how many were found in the window.
   *
   * The assistant reads the transcript of record: an evidence item's segment_id is a
   * `Record`, which replaced its live pieces in place, so the offsets run over that one
   * span's text. With records off it reads utterances (streaming/live/utterances.py):
   * segment_id is the utterance's first piece and the offsets run over the pieces'
   * texts joined by single spaces, so walk that speaker's pieces from the first one
   * and mark the part of each that the range covers (one piece when it fits in it). */
  highlight(evidence) {
    this.clearHighlight();
    let found = 0;
    const ranges = new Map(); // span -> [[lo, hi], ...] (several items may share a piece)
    for (const ev of evidence || []) {
      const start = this.segEls.get(ev.segment_id);
      if (!start) continue;
      const pieces = this._piecesFrom(start);
      let a = Number(ev.char_start);
      let b = Number(ev.char_end);
      let joined = "";
      let used = 0;
      while (used < pieces.length && (joined.length < b || used === 0)) {
        joined += (used ? " " : "") + pieces[used].dataset.text;
        used++;
      }
      if (!(a >= 0 && b > a && b <= joined.length) || (ev.text && joined.slice(a, b) !== ev.text)) {
        // offsets that do not fit: find the quoted words in the first piece, else mark it whole
        const text = start.dataset.text;
        const at = ev.text ? text.indexOf(ev.text) : -1;
        [a, b] = at >= 0 ? [at, at + ev.text.length] : [0, text.length];
        used = 1;
      }
      let offset = 0;
      for (const span of pieces.slice(0, used)) {
        const text = span.dataset.text;
        const lo = Math.max(a - offset, 0);
        const hi = Math.min(b - offset, text.length);
        if (hi > lo) ranges.set(span, [...(ranges.get(span) || []), [lo, hi]]);
        offset += text.length + 1;
      }
      found++;
    }
    for (const [span, rs] of ranges) this._mark(span, rs);
    if (this.marked.length) this.marked[0].scrollIntoView({ block: "center", behavior: "auto" });
    return found;
  }

  _mark(span, rs) {
    const text = span.dataset.text;
    const parts = [];
    let at = 0;
    for (const [lo, hi] of rs.sort((x, y) => x[0] - y[0])) {
      if (lo < at) continue; // overlapping ranges: the first one wins
      parts.push(text.slice(at, lo), h("mark", { class: "evidence" }, text.slice(lo, hi)));
      at = hi;
    }
    parts.push(text.slice(at));
    clear(span).append(...parts);
    span.classList.add("has-evidence");
    this.marked.push(span);
  }

  /** The pieces of the same speaker from `span` on, in order (the rest of its channel). */
  _piecesFrom(span) {
    const speaker = span.closest(".turn").dataset.speaker;
    const all = [...this.list.querySelectorAll(`.turn[data-speaker="${CSS.escape(speaker)}"] .seg`)];
    return all.slice(all.indexOf(span), all.indexOf(span) + 60);
  }

  clearHighlight() {
    for (const span of this.marked) {
      span.textContent = span.dataset.text;
      span.classList.remove("has-evidence");
    }
    this.marked = [];
  }

  _nearBottom() {
    const s = this.scroller();
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  _turn(key, speaker) {
    const text = h("span", { class: "text" });
    const li = h("li", { class: `turn ${speaker}`, dataset: { turn: key, speaker } },
      h("span", { class: "who" }, speakerLabel(speaker)), " ", text);
    this.list.append(li);
    this.turnEls.set(key, text);
    // a turn starting moves the speaker's provisional line below it
    const interim = this.interimEls.get(speaker);
    if (interim) this.interims.append(interim);
  }

  _seg(turnKey, seg) {
    const text = this.turnEls.get(turnKey);
    if (!text) return;
    const span = h("span", { class: "seg", dataset: { seg: seg.id, text: seg.text } }, seg.text);
    if (text.childNodes.length) text.append(" ");
    text.append(span);
    this.segEls.set(seg.id, span);
  }

  /** The transcript of record replaces live pieces: the first in place, the rest removed. */
  _revise({ from, seg, remove }) {
    const span = this.segEls.get(from);
    if (span && seg) {
      this.segEls.delete(from);
      span.dataset.seg = seg.id;
      span.dataset.text = seg.text;
      span.textContent = seg.text;
      span.classList.toggle("revised", !!seg.revised);
      if (seg.revised) span.title = "corrected by the transcript of record";
      this.segEls.set(seg.id, span);
    }
    for (const r of remove) this._remove(r.turn, r.seg, r.turnEmpty);
  }

  _remove(turn, seg, turnEmpty) {
    const span = this.segEls.get(seg);
    if (span) {
      const prev = span.previousSibling;
      if (prev && prev.nodeType === Node.TEXT_NODE) prev.remove();
      else if (span.nextSibling && span.nextSibling.nodeType === Node.TEXT_NODE) span.nextSibling.remove();
      span.remove();
      this.segEls.delete(seg);
      this.marked = this.marked.filter((s) => s !== span);
    }
    if (turnEmpty) {
      const text = this.turnEls.get(turn);
      if (text) text.parentElement.remove();
      this.turnEls.delete(turn);
    }
  }

  _drop({ turn, seg, turnEmpty }) {
    this._remove(turn, seg, turnEmpty);
    this.trimmed++;
    this._updateNote();
  }

  _interim(speaker, text) {
    let el = this.interimEls.get(speaker);
    if (!text) {
      if (el) el.remove();
      this.interimEls.delete(speaker);
      return;
    }
    if (!el) {
      el = h("p", { class: `interim ${speaker}`, dataset: { speaker } },
        h("span", { class: "who" }, speakerLabel(speaker)), " ", h("span", { class: "text" }),
        h("span", { class: "provisional-tag" }, " (provisional)"));
      this.interimEls.set(speaker, el);
      this.interims.append(el);
    }
    el.querySelector(".text").textContent = text;
  }

  _updateNote() {
    this.note.hidden = this.trimmed === 0;
    this.note.textContent = `${this.trimmed} earlier transcript pieces are no longer shown.`;
  }
}
