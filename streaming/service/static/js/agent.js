// The agent overlay page: wires the feed, the model and the views together.
//
// Events are applied to the model as they arrive; the DOM is updated once per frame
// (requestAnimationFrame, with a timer as fallback for a hidden tab), so a burst of
// replayed history costs one render, and a live final is painted in the next frame.

import { CallFeed } from "./feed.js";
import { CallModel, DEFAULT_WINDOW, transcriptOf } from "./model.js";
import { TranscriptView } from "./transcript-view.js";
import { FormView } from "./form-view.js";
import { HintsView, KnowledgeView, AlertsView } from "./cards-view.js";
import { SummaryView } from "./summary-view.js";
import { HeaderView } from "./header-view.js";
import { pageParams, apiUrl } from "./urls.js";

const params = pageParams(window.location.search);
const $ = (id) => document.getElementById(id);
const now = () => performance.timeOrigin + performance.now();

if (!params.callId) {
  $("pick-call").hidden = false;
  $("overlay").hidden = true;
} else {
  start();
}

function start() {
  document.title = `Souffleur · ${params.callId}`;
  document.body.classList.toggle("readonly", params.readonly);
  const windowSize = params.window || DEFAULT_WINDOW;
  const model = new CallModel({ windowSize });
  const note = $("evidence-note");

  const act = (sid, action, value) => {
    if (params.readonly || !sid) return;
    model.markPending(sid, action, value);
    feed.send({ type: "Feedback", suggestion_id: sid, action, value });
    for (const p of ["form", "hints", "knowledge", "summary"]) dirty.add(p);
    schedule();
  };
  const showEvidence = (evidence, label) => {
    const found = transcript.highlight(evidence);
    const quoted = (evidence || []).map((e) => `“${e.text}”`).join(" … ");
    note.hidden = found > 0 || !quoted;
    note.textContent = found ? "" : `${label || "This"} came from earlier in the call: ${quoted}`;
  };

  const header = new HeaderView($("header"), params);
  const transcript = new TranscriptView($("transcript"));
  const views = {
    form: new FormView($("form"), { readonly: params.readonly, onAction: act, onEvidence: showEvidence }),
    hints: new HintsView($("hints"), { readonly: params.readonly, onAction: act, onEvidence: showEvidence }),
    knowledge: new KnowledgeView($("knowledge"), { readonly: params.readonly, onAction: act, onEvidence: showEvidence }),
    alerts: new AlertsView($("alerts")),
    summary: new SummaryView($("summary"), { readonly: params.readonly, onAction: act }),
  };

  // -- render batching -------------------------------------------------------
  let ops = [];
  let rebuild = false;
  const dirty = new Set();
  let scheduled = false;
  const bench = params.bench ? [] : null; // [{id, ts, recv, painted}] for benchmarks/overlay.py
  let benchPending = [];

  function onEvent(e) {
    const recv = now();
    const r = model.apply(e);
    if (r.ops.length && !rebuild) {
      ops.push(...r.ops);
      if (ops.length > 2 * windowSize + 50) { // a replayed history: rebuild once instead
        ops = [];
        rebuild = true;
      }
    }
    for (const p of r.parts) dirty.add(p);
    if (bench && e.type === "Results" && e.is_final && e.id && r.ops.some((o) => o.op === "seg")) {
      benchPending.push({ id: e.id, ts: e.ts * 1000, recv, text: transcriptOf(e) });
    }
    if (r.parts.size) schedule();
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => flush(true));
    setTimeout(() => flush(false), 250); // rAF does not run in a hidden tab
  }

  function flush(inFrame) {
    if (!scheduled) return;
    scheduled = false;
    if (rebuild) transcript.rebuild(model);
    else transcript.apply(ops);
    ops = [];
    rebuild = false;
    for (const p of dirty) if (views[p]) views[p].render(model);
    header.render(model, feed.state);
    dirty.clear();
    if (bench && benchPending.length) markPainted(benchPending.splice(0), inFrame);
  }

  // After-paint time: a message posted from a frame callback runs once that frame is
  // painted; outside a frame, wait for the next one first.
  function markPainted(batch, inFrame) {
    const after = () => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        const painted = now();
        for (const b of batch) bench.push({ ...b, painted });
        if (bench.length > 20000) bench.splice(0, bench.length - 20000);
      };
      ch.port2.postMessage(0);
    };
    if (inFrame) after();
    else requestAnimationFrame(after);
  }

  // -- the feed --------------------------------------------------------------
  const feed = new CallFeed({
    callId: params.callId,
    token: params.token,
    lastId: () => model.lastId,
    onEvent,
    onState: (state, f) => {
      dirty.add("status");
      schedule();
      if (state === "reconnecting" && f.connects === 0 && f.attempt === 3) explainRefusal();
    },
  });

  // A websocket refused at the handshake looks like any network error to a page;
  // ask the HTTP side once why (401/403 carry a reason).
  async function explainRefusal() {
    try {
      const r = await fetch(apiUrl(`/v1/calls/${encodeURIComponent(params.callId)}`, params.token));
      if (r.status === 401 || r.status === 403) {
        const body = await r.json();
        model.error = { err_code: body.err_code || String(r.status), err_msg: body.err_msg || "" };
        dirty.add("status");
        schedule();
      }
    } catch {
      // offline: the feed keeps retrying
    }
  }

  window.souffleur = { model, feed, transcript, views, params, bench, flush: () => flush(false) };
  header.render(model, "connecting");
  feed.start();
}
