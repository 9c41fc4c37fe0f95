// The supervisor view: every call this node (or the shared bus) knows, live ones
// followed over their event feeds (mood, alerts, open hints), a read-only overlay of
// the call picked, the AI-quality report, and the controls that correct the assistant
// (a report row's "fix" leads to the control for it).

import { CallFeed } from "./feed.js";
import { CallModel } from "./model.js";
import { CallsView } from "./calls-view.js";
import { ControlsView } from "./controls-view.js";
import { ReportView } from "./report-view.js";
import { pageParams, apiUrl, overlayUrl } from "./urls.js";

const MAX_CALLS = 50; // rows shown, and feeds followed at most
const params = pageParams(window.location.search);
const $ = (id) => document.getElementById(id);

const tracked = new Map(); // call id -> {info, model, feed}
let calls = []; // CallInfo from /v1/calls, display order
const callsView = new CallsView($("calls"), { onOpen: open });
const reportView = new ReportView($("report"), { onFix: (t) => controlsView.prefill(t) });
const controlsView = new ControlsView($("controls"), { onAdd: addControl, onRemove: removeControl });
let scheduled = false;

function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(render);
  setTimeout(render, 500);
}

function render() {
  if (!scheduled) return;
  scheduled = false;
  callsView.render(calls.map((info) => ({ info, model: tracked.get(info.call_id)?.model || null })));
  $("calls-count").textContent = `${calls.filter((c) => c.status === "active").length} live, ${calls.length} shown`;
}

function follow(info) {
  const model = new CallModel({ windowSize: 1 }); // the supervisor needs no transcript
  const feed = new CallFeed({ callId: info.call_id, token: params.token, lastId: () => model.lastId,
    onEvent: (e) => {
      if (model.apply(e).parts.size) schedule();
    } });
  tracked.set(info.call_id, { info, model, feed: feed.start() });
}

// A call that ended before this page saw it: its log once over HTTP, no socket kept.
function loadEnded(info) {
  const model = new CallModel({ windowSize: 1 });
  tracked.set(info.call_id, { info, model, feed: { stop() {} } });
  getJson(`/v1/calls/${encodeURIComponent(info.call_id)}`).then((body) => {
    for (const e of body.events || []) model.apply(e);
    model.status = "ended";
    schedule();
  }).catch(() => {});
}

function open(callId) {
  $("viewer-title").textContent = `Call ${callId} (read-only)`;
  $("viewer").src = overlayUrl(callId, { token: params.token, readonly: true });
  $("viewer-link").href = $("viewer").src;
  $("viewer-link").hidden = false;
  schedule();
}

async function getJson(path) {
  const r = await fetch(apiUrl(path, params.token), { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function refreshCalls() {
  try {
    const body = await getJson("/v1/calls");
    calls = body.calls
      .sort((a, b) => (a.status === "active" ? 0 : 1) - (b.status === "active" ? 0 : 1) || b.started - a.started)
      .slice(0, MAX_CALLS);
    const keep = new Set(calls.map((c) => c.call_id));
    for (const info of calls) {
      const t = tracked.get(info.call_id);
      if (t) t.info = info;
      else if (info.status === "active") follow(info);
      else loadEnded(info);
    }
    for (const [id, t] of tracked) {
      if (!keep.has(id)) {
        t.feed.stop();
        tracked.delete(id);
      }
    }
    $("calls-error").hidden = true;
  } catch (err) {
    $("calls-error").hidden = false;
    $("calls-error").textContent = String(err.message || err);
  }
  schedule();
}

async function sendJson(method, path, body) {
  const r = await fetch(apiUrl(path, params.token), { method, cache: "no-store",
    headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const doc = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${doc.err_msg || doc.description || r.statusText}`);
  return doc;
}

async function addControl(control) {
  const made = await sendJson("POST", "/v1/controls", control);
  await Promise.all([refreshControls(), refreshReport()]);
  return made.control;
}

async function removeControl(id, why) {
  await sendJson("DELETE", `/v1/controls/${encodeURIComponent(id)}`, { why });
  await Promise.all([refreshControls(), refreshReport()]);
}

async function refreshControls() {
  try {
    controlsView.render(await getJson("/v1/controls"));
    $("controls-error").hidden = true;
  } catch (err) {
    $("controls-error").hidden = false;
    $("controls-error").textContent = String(err.message || err);
  }
}

async function refreshReport() {
  try {
    reportView.render(await getJson("/v1/report"));
    $("report-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("report-updated").textContent = String(err.message || err);
  }
}

$("report-refresh").addEventListener("click", refreshReport);
window.souffleurSupervisor = { tracked, refreshCalls, refreshReport, refreshControls, open };
refreshCalls();
refreshReport();
refreshControls();
setInterval(refreshCalls, 3000);
setInterval(refreshReport, 15000);
setInterval(refreshControls, 5000);
setInterval(schedule, 1000); // durations tick
