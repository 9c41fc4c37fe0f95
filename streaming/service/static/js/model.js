// The call as the overlay sees it: a pure reducer over the events of one call's feed.
// No DOM here, so it is tested on its own (tests/browser/test_overlay_units.py).
//
// Why a reducer: events arrive live, then again after a reconnect (history after
// `since`), possibly more than once; applying an event whose id is at or below the
// last one applied is a no-op, so the views never show a turn twice. Everything the
// model keeps is bounded (transcript window, cards), so a 30-minute call does not
// grow the page's memory.

import { compareIds } from "./ids.js";

export const DEFAULT_WINDOW = 300; // final transcript pieces kept (and shown)
export const MAX_CARDS = 12; // hints, knowledge answers, alerts kept (and shown) per kind

const EMPTY = Object.freeze({ parts: new Set(), ops: [] });

function setBounded(map, key, value, max) {
  map.delete(key); // re-inserting moves it to the end: newest last
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value);
}

/** The id Feedback must name: the assistant's own id, kept by the bus as suggestion_id. */
export function suggestionId(e) {
  return e.suggestion_id || e.id;
}

export function transcriptOf(e) {
  const alt = (e.channel && e.channel.alternatives && e.channel.alternatives[0]) || {};
  return (alt.transcript || "").trim();
}

export class CallModel {
  constructor({ windowSize = DEFAULT_WINDOW, maxCards = MAX_CARDS } = {}) {
    this.windowSize = windowSize;
    this.maxCards = maxCards;
    this.status = "pending"; // pending | active | ended
    this.lastId = null; // last durable id applied: the `since` of the next connect
    this.turns = []; // [{key, speaker, segs: [{id, text, start, end}]}]
    this.segs = new Map(); // segment_id -> {turn, seg}
    this.trimmed = 0; // pieces dropped from the window
    this.interims = new Map(); // speaker -> provisional text
    this.fields = new Map(); // field -> FormValue (latest)
    this.hints = new Map(); // suggestion id -> Hint
    this.knowledge = new Map(); // suggestion id -> KnowledgeAnswer
    this.alerts = new Map(); // suggestion id -> Alert
    this.sentiment = new Map(); // speaker -> latest Sentiment
    this.summary = null;
    this.feedback = new Map(); // suggestion id -> {action, value, pending}
    this.notices = []; // last few AssistNotices
    this.error = null; // last Error message from the server
    this.duplicates = 0; // events skipped because already applied
    this.applied = 0;
    this._turnSeq = 0;
  }

  /** Apply one feed event; returns which parts changed and the transcript ops to render. */
  apply(e) {
    if (!e || typeof e !== "object") return EMPTY;
    const durable = e.id !== undefined && e.id !== null && e.type !== "CallState";
    if (durable) {
      if (this.lastId !== null && compareIds(e.id, this.lastId) <= 0) {
        this.duplicates++;
        return EMPTY;
      }
      this.lastId = String(e.id);
    }
    this.applied++;
    const parts = new Set();
    const ops = [];
    switch (e.type) {
      case "CallState":
        this.status = e.status || this.status;
        parts.add("status");
        break;
      case "Results":
        if (this.status === "pending") {
          this.status = "active";
          parts.add("status");
        }
        if (e.is_final) this._final(e, ops);
        else this._interim(e.speaker || `channel ${(e.channel_index || [0])[0]}`, transcriptOf(e), ops);
        if (ops.length) parts.add("transcript");
        break;
      case "Record":
        // the transcript of record replaces the live pieces it names, in place
        this._record(e, ops);
        if (ops.length) parts.add("transcript");
        break;
      case "UtteranceEnd":
        if (this.interims.has(e.speaker)) {
          this._interim(e.speaker, "", ops);
          parts.add("transcript");
        }
        break;
      case "Metadata":
      case "CallEnded":
        this.status = "ended";
        for (const who of [...this.interims.keys()]) this._interim(who, "", ops);
        parts.add("status");
        if (ops.length) parts.add("transcript");
        break;
      case "FormValue":
        this.fields.set(e.field, { ...e, sid: suggestionId(e) });
        this._settle(suggestionId(e), e.status);
        parts.add("form");
        break;
      case "Hint": {
        const sid = suggestionId(e);
        const prev = this.hints.get(sid);
        // a later event with the same id and status "done" ticks the hint off
        setBounded(this.hints, sid, prev && e.status === "done" ? { ...prev, status: "done" } : { ...e, sid },
          this.maxCards);
        parts.add("hints");
        break;
      }
      case "KnowledgeAnswer":
        setBounded(this.knowledge, suggestionId(e), { ...e, sid: suggestionId(e) }, this.maxCards);
        parts.add("knowledge");
        break;
      case "Alert":
        setBounded(this.alerts, suggestionId(e), { ...e, sid: suggestionId(e) }, this.maxCards);
        parts.add("alerts");
        break;
      case "Sentiment":
        this.sentiment.set(e.speaker || "customer", e);
        parts.add("sentiment");
        break;
      case "Summary":
        this.summary = { ...e, sid: suggestionId(e) };
        parts.add("summary");
        break;
      case "FeedbackRecorded":
        this.feedback.set(e.suggestion_id, { action: e.action, value: e.value ?? null, pending: false });
        while (this.feedback.size > 4 * this.maxCards + 50) this.feedback.delete(this.feedback.keys().next().value);
        parts.add(partOf(e.suggestion_type));
        break;
      case "AssistNotice":
        this.notices.push(e);
        if (this.notices.length > 5) this.notices.shift();
        parts.add("notices");
        break;
      case "Error":
        this.error = e;
        parts.add("status");
        break;
      default:
        break;
    }
    return { parts, ops };
  }

  /** The agent clicked: remember it as pending until the server's FeedbackRecorded. */
  markPending(sid, action, value = null) {
    this.feedback.set(sid, { action, value, pending: true });
  }

  feedbackFor(sid) {
    return this.feedback.get(sid) || null;
  }

  /** The transcript piece an evidence item points into, if still in the window. */
  segment(segmentId) {
    const hit = this.segs.get(segmentId);
    return hit ? hit.seg : null;
  }

  segmentCount() {
    return this.segs.size;
  }

  _settle(sid, status) {
    const fb = this.feedback.get(sid);
    if (fb && fb.pending && status && status !== "proposed") fb.pending = false;
  }

  _interim(speaker, text, ops) {
    if (text) this.interims.set(speaker, text);
    else if (this.interims.has(speaker)) this.interims.delete(speaker);
    else return;
    ops.push({ op: "interim", speaker, text });
  }

  _final(e, ops) {
    const speaker = e.speaker || `channel ${(e.channel_index || [0])[0]}`;
    // the words are now fixed; the next interim of this speaker shows what is still open
    this._interim(speaker, "", ops);
    const text = transcriptOf(e);
    if (!text) return; // a speech_final marker: the words were already final
    const id = e.segment_id || `${(e.channel_index || [0])[0]}-${e.start}`;
    if (this.segs.has(id)) return;
    const seg = { id, text, start: e.start, end: (e.start || 0) + (e.duration || 0), speaker };
    let turn = this.turns[this.turns.length - 1];
    if (!turn || turn.speaker !== speaker) {
      turn = { key: `t${++this._turnSeq}`, speaker, segs: [] };
      this.turns.push(turn);
      ops.push({ op: "turn", turn: turn.key, speaker });
    }
    turn.segs.push(seg);
    this.segs.set(id, { turn, seg });
    ops.push({ op: "seg", turn: turn.key, seg });
    while (this.segs.size > this.windowSize) this._dropOldest(ops);
  }

  _record(e, ops) {
    const speaker = e.speaker || `channel ${(e.channel_index || [0])[0]}`;
    const text = transcriptOf(e);
    const id = e.segment_id || e.record_id;
    if (!id || this.segs.has(id)) return;
    const hits = (e.replaces || []).map((pid) => this.segs.get(pid)).filter(Boolean);
    const revised = e.revised !== false;
    if (!hits.length) {
      if (text) this._final({ ...e, segment_id: id, speaker }, ops); // nothing live to replace
      return;
    }
    const [first, ...rest] = hits;
    const old = first.seg.id;
    this.segs.delete(old);
    if (text) {
      first.seg.id = id;
      first.seg.text = text;
      first.seg.end = (e.start || 0) + (e.duration || 0);
      first.seg.revised = revised;
      this.segs.set(id, first);
    }
    const removed = text ? [] : [{ turn: first.turn, id: old }];
    for (const hit of rest) {
      this.segs.delete(hit.seg.id);
      removed.push({ turn: hit.turn, id: hit.seg.id });
    }
    for (const r of [...removed]) {
      r.turn.segs = r.turn.segs.filter((s) => s.id !== r.id);
      r.turnEmpty = r.turn.segs.length === 0;
      if (r.turnEmpty) this.turns = this.turns.filter((t) => t !== r.turn);
    }
    ops.push({ op: "revise", from: old, seg: text ? first.seg : null,
      remove: removed.map((r) => ({ turn: r.turn.key, seg: r.id, turnEmpty: r.turnEmpty })) });
  }

  _dropOldest(ops) {
    const turn = this.turns[0];
    const seg = turn.segs.shift();
    this.segs.delete(seg.id);
    this.trimmed++;
    const turnEmpty = turn.segs.length === 0;
    if (turnEmpty) this.turns.shift();
    ops.push({ op: "drop", turn: turn.key, seg: seg.id, turnEmpty });
  }
}

function partOf(type) {
  return { FormValue: "form", Hint: "hints", KnowledgeAnswer: "knowledge", Summary: "summary" }[type] || "form";
}
