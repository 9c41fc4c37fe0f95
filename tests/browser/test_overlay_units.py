"""The overlay's modules in a real browser, without a server or a model: ids, URLs,
the call model (dedupe, bounded window, hint ticks, feedback), the transcript view
(incremental render, highlight, trimming) and the form view (edits survive updates).
"""

from __future__ import annotations

import pytest

from .conftest import watch_errors

pytestmark = pytest.mark.browser


@pytest.fixture
def page(context, static_url):
    p = context.new_page()
    errors = watch_errors(p)
    p.goto(f"{static_url}/static/index.html")
    yield p
    assert errors == []


# A small call in the feed's shapes: finals of two speakers, an interim, assist events.
EVENTS_JS = r"""
const fin = (id, seg, speaker, text, start) => ({type: "Results", id: String(id), is_final: true,
  speech_final: false, start, duration: 1, speaker, segment_id: seg, ts: 1,
  channel_index: [speaker === "agent" ? 0 : 1, 2], channel: {alternatives: [{transcript: text, words: []}]}});
const interim = (speaker, text) => ({type: "Results", is_final: false, speaker, start: 0, duration: 1,
  channel_index: [1, 2], channel: {alternatives: [{transcript: text}]}});
const events = [
  {type: "CallState", status: "active"},
  fin(1, "0-1", "agent", "Harbour Bank, how can I help?", 0.5),
  interim("customer", "my email is"),
  fin(2, "1-2", "customer", "My email is", 3),
  fin(3, "1-3", "customer", "ann at example dot com.", 4),
  {type: "FormValue", id: "4", suggestion_id: "fv-1", field: "email", label: "Email address",
   value: "ann@example.com", confidence: 0.8, status: "proposed",
   evidence: [{segment_id: "1-3", text: "ann at example dot com", char_start: 0, char_end: 22}]},
  {type: "Hint", id: "5", suggestion_id: "hint-1", rule: "verify_identity", text: "Verify identity",
   why: "account question", priority: 1, status: "shown", confidence: 0.75},
  fin(6, "0-4", "agent", "Thanks, Ann.", 6),
  {type: "Hint", id: "7", suggestion_id: "hint-1", rule: "verify_identity", text: "Verify identity",
   why: "account question", priority: 1, status: "done", confidence: 0.75},
  {type: "FeedbackRecorded", id: "8", suggestion_id: "fv-1", suggestion_type: "FormValue", action: "accept"},
];
"""


def test_ids_urls_and_page_params(page):
    r = page.evaluate("""async () => {
      const {compareIds} = await import('/static/js/ids.js');
      const u = await import('/static/js/urls.js');
      return {
        ids: [compareIds("9", "10"), compareIds("10", "10"), compareIds("1716-3", "1716-10"),
              compareIds("1717-0", "1716-99"), compareIds("12", "11")],
        ws: u.eventsUrl({protocol: "http:", host: "h:1"}, "C 1", {since: "41", token: "t/k"}),
        wss: u.eventsUrl({protocol: "https:", host: "h"}, "c", {}),
        api: [u.apiUrl("/v1/report", "t&k"), u.apiUrl("/v1/calls?x=1", "t"), u.apiUrl("/v1/report", "")],
        params: u.pageParams("?call_id=c7&token=abc&readonly=1&window=50"),
        plain: u.pageParams("?call_id=c7&readonly=0"),
        overlay: u.overlayUrl("c7", {token: "abc", readonly: true}),
      };
    }""")
    assert r["ids"] == [-1, 0, -1, 1, 1]
    assert r["ws"] == "ws://h:1/v1/calls/C%201/events?wait=true&since=41&token=t%2Fk"
    assert r["wss"] == "wss://h/v1/calls/c/events?wait=true"
    assert r["api"] == ["/v1/report?token=t%26k", "/v1/calls?x=1&token=t", "/v1/report"]
    assert r["params"] == {"callId": "c7", "token": "abc", "readonly": True, "bench": False, "window": 50}
    assert r["plain"]["readonly"] is False and r["plain"]["window"] is None
    assert r["overlay"] == "/agent?call_id=c7&readonly=1&token=abc"


def test_model_applies_each_event_once_across_a_replay(page):
    r = page.evaluate("""async () => {
      const {CallModel} = await import('/static/js/model.js');
      """ + EVENTS_JS + """
      const m = new CallModel();
      for (const e of events) m.apply(e);
      const first = {segs: m.segmentCount(), turns: m.turns.map(t => [t.speaker, t.segs.map(s => s.id)]),
                     last: m.lastId, hint: m.hints.get("hint-1").status,
                     field: m.fields.get("email").value, fb: m.feedbackFor("fv-1")};
      // a reconnect that replays everything (since too old) plus one new final
      const again = [{type: "CallState", status: "active"}, ...events.slice(1),
                     fin(9, "1-5", "customer", "Thank you.", 7)];
      let changed = 0;
      for (const e of again) if (m.apply(e).ops.some(o => o.op === "seg")) changed++;
      return {first, changed, dup: m.duplicates, segs: m.segmentCount(), last: m.lastId,
              turns: m.turns.map(t => [t.speaker, t.segs.map(s => s.id)]), interims: [...m.interims]};
    }""")
    f = r["first"]
    assert f["segs"] == 4
    assert f["turns"] == [["agent", ["0-1"]], ["customer", ["1-2", "1-3"]], ["agent", ["0-4"]]]
    assert f["last"] == "8" and f["hint"] == "done" and f["field"] == "ann@example.com"
    assert f["fb"] == {"action": "accept", "value": None, "pending": False}
    assert r["dup"] == 8  # every durable event of the replay was skipped
    assert r["changed"] == 1 and r["segs"] == 5 and r["last"] == "9"
    assert r["turns"][-1] == ["customer", ["1-5"]]
    assert r["interims"] == []  # the customer's final replaced their provisional text


def test_model_window_is_bounded(page):
    r = page.evaluate("""async () => {
      const {CallModel} = await import('/static/js/model.js');
      """ + EVENTS_JS + """
      const m = new CallModel({windowSize: 5, maxCards: 3});
      const drops = [];
      for (let i = 1; i <= 40; i++) {
        const who = Math.floor(i / 3) % 2 ? "agent" : "customer";
        for (const o of m.apply(fin(i, `x-${i}`, who, `piece ${i}`, i)).ops) if (o.op === "drop") drops.push(o.seg);
      }
      for (let i = 41; i <= 50; i++) m.apply({type: "Hint", id: String(i), suggestion_id: `h${i}`, text: "t"});
      return {segs: m.segmentCount(), kept: m.turns.flatMap(t => t.segs.map(s => s.id)),
              trimmed: m.trimmed, drops: drops.length, turns: m.turns.length, hints: [...m.hints.keys()]};
    }""")
    assert r["segs"] == 5 and r["kept"] == [f"x-{i}" for i in range(36, 41)]
    assert r["trimmed"] == 35 and r["drops"] == 35 and r["turns"] <= 5
    assert r["hints"] == ["h48", "h49", "h50"]


def test_transcript_view_renders_highlights_and_trims(page):
    r = page.evaluate("""async () => {
      const {CallModel} = await import('/static/js/model.js');
      const {TranscriptView} = await import('/static/js/transcript-view.js');
      """ + EVENTS_JS + """
      const root = document.createElement("div");
      root.style.height = "200px"; root.style.overflow = "auto";
      document.body.append(root);
      const m = new CallModel({windowSize: 4});
      const v = new TranscriptView(root);
      const out = {};
      v.apply(m.apply(events[1]).ops);
      v.apply(m.apply(events[2]).ops);
      out.interim = root.querySelector(".interim.customer .text")?.textContent;
      for (const e of events.slice(3)) v.apply(m.apply(e).ops);
      out.interimAfter = root.querySelectorAll(".interim").length;
      out.turns = [...root.querySelectorAll(".turn")].map(li => [li.dataset.speaker,
        li.querySelector(".text").textContent]);
      const fv = m.fields.get("email");
      out.found = v.highlight(fv.evidence);
      out.mark = root.querySelector("mark.evidence")?.textContent;
      out.markSeg = root.querySelector("mark.evidence")?.parentElement.dataset.seg;
      // offsets that do not match the text fall back to finding the quoted words
      out.found2 = v.highlight([{segment_id: "0-1", char_start: 90, char_end: 99, text: "how can I help"}]);
      out.mark2 = root.querySelector("mark.evidence")?.textContent;
      out.marks = root.querySelectorAll("mark").length;
      // utterance-level evidence: offsets over the pieces "My email is" + " " + "ann at example dot com."
      out.found3 = v.highlight([{segment_id: "1-2", char_start: 3, char_end: 26, text: "email is ann at example"}]);
      out.spread = [...root.querySelectorAll("mark")].map(m => [m.parentElement.dataset.seg, m.textContent]);
      // the utterance's id names its first piece; the words may all lie in a later one
      out.found5 = v.highlight([{segment_id: "1-2", char_start: 12, char_end: 34, text: "ann at example dot com"}]);
      out.later = [...root.querySelectorAll("mark")].map(m => [m.parentElement.dataset.seg, m.textContent]);
      // two items in one piece keep both marks
      out.found4 = v.highlight([{segment_id: "0-1", char_start: 0, char_end: 7, text: "Harbour"},
                                {segment_id: "0-1", char_start: 18, char_end: 21, text: "can"}]);
      out.both = [...root.querySelectorAll("mark")].map(m => m.textContent);
      out.pieceText = root.querySelector('[data-seg="0-1"]').textContent;
      v.clearHighlight();
      out.cleared = root.querySelectorAll("mark").length;
      out.notFound = v.highlight([{segment_id: "nope", char_start: 0, char_end: 1}]);
      // the window drops the oldest pieces from the DOM too
      v.apply(m.apply(fin(20, "1-20", "customer", "one", 9)).ops);
      v.apply(m.apply(fin(21, "0-21", "agent", "two", 10)).ops);
      out.segsInDom = [...root.querySelectorAll(".seg")].map(s => s.dataset.seg);
      out.note = root.querySelector(".trimmed-note").hidden ? "" : root.querySelector(".trimmed-note").textContent;
      out.turnCount = root.querySelectorAll(".turn").length;
      return out;
    }""")
    assert r["interim"] == "my email is"
    assert r["interimAfter"] == 0
    assert r["turns"] == [["agent", "Harbour Bank, how can I help?"],
                          ["customer", "My email is ann at example dot com."], ["agent", "Thanks, Ann."]]
    assert r["found"] == 1 and r["mark"] == "ann at example dot com" and r["markSeg"] == "1-3"
    assert r["found2"] == 1 and r["mark2"] == "how can I help" and r["marks"] == 1
    assert r["found3"] == 1 and r["spread"] == [["1-2", "email is"], ["1-3", "ann at example"]]
    assert r["found5"] == 1 and r["later"] == [["1-3", "ann at example dot com"]]
    assert r["found4"] == 2 and r["both"] == ["Harbour", "can"]
    assert r["pieceText"] == "Harbour Bank, how can I help?"
    assert r["cleared"] == 0 and r["notFound"] == 0
    assert r["segsInDom"] == ["1-3", "0-4", "1-20", "0-21"]
    assert r["note"].startswith("2 earlier")
    assert r["turnCount"] == 4


def test_form_view_keeps_an_open_edit_and_sends_feedback(page):
    r = page.evaluate("""async () => {
      const {CallModel} = await import('/static/js/model.js');
      const {FormView} = await import('/static/js/form-view.js');
      """ + EVENTS_JS + """
      const root = document.createElement("div");
      document.body.append(root);
      const m = new CallModel();
      const sent = [];
      const shown = [];
      const v = new FormView(root, {onAction: (...a) => sent.push(a), onEvidence: (ev) => shown.push(ev)});
      for (const e of events.slice(0, 6)) m.apply(e);
      v.render(m);
      const row = root.querySelector('[data-field="email"]');
      const out = {value: row.querySelector(".value").textContent, conf: row.querySelector(".conf").textContent,
                   status: row.querySelector(".status").textContent,
                   label: row.querySelector(".field-label").textContent};
      row.querySelector(".value").click();
      out.shown = shown.length && shown[0][0].segment_id;
      row.querySelector("button.edit").click();
      const input = row.querySelector("input");
      input.value = "ann.smith@example.com";
      // a new event re-renders the form while the agent types
      m.apply({type: "FormValue", id: "10", suggestion_id: "fv-1", field: "email", label: "Email address",
               value: "ann@example.com", confidence: 0.9, status: "proposed", evidence: []});
      v.render(m);
      out.kept = root.querySelector('[data-field="email"] input').value;
      out.sameRow = root.querySelector('[data-field="email"]') === row;
      row.querySelector("form.edit").requestSubmit();
      row.querySelector("button.accept").click();
      m.markPending("fv-1", "accept");
      v.render(m);
      out.pendingDisabled = [...row.querySelectorAll(".actions button")].every(b => b.disabled);
      out.sent = sent;
      out.labelled = row.querySelector("input").labels.length;
      return out;
    }""")
    assert r["value"] == "ann@example.com" and r["conf"] == "80%" and r["label"] == "Email address"
    assert r["status"] == "suggested"
    assert r["shown"] == "1-3"
    assert r["kept"] == "ann.smith@example.com" and r["sameRow"]
    assert r["sent"] == [["fv-1", "edit", "ann.smith@example.com"], ["fv-1", "accept", None]]
    assert r["pendingDisabled"] and r["labelled"] == 1


def test_record_replaces_live_pieces_in_place_once_and_keeps_evidence_valid(page):
    """A `Record` (the transcript of record) swaps the live pieces it names for its own
    text at the first piece's place; evidence that names the record highlights its words;
    a reconnect replaying the same Record changes nothing."""
    r = page.evaluate("""async () => {
      const {CallModel} = await import('/static/js/model.js');
      const {TranscriptView} = await import('/static/js/transcript-view.js');
      """ + EVENTS_JS + """
      const record = {type: "Record", id: "9", record_id: "1-r1", segment_id: "1-r1", replaces: ["1-2", "1-3"],
        revised: true, speaker: "customer", start: 3, duration: 2.4, channel_index: [1, 2],
        channel: {alternatives: [{transcript: "My email is anne at example dot com.", words: []}]}};
      const root = document.createElement("div");
      document.body.append(root);
      const m = new CallModel();
      const v = new TranscriptView(root);
      for (const e of events) v.apply(m.apply(e).ops);
      const before = [...root.querySelectorAll(".seg")].map(s => s.dataset.seg);
      v.apply(m.apply(record).ops);
      const after = [...root.querySelectorAll(".seg")].map(s => [s.dataset.seg, s.textContent]);
      const turns = m.turns.map(t => [t.speaker, t.segs.map(s => s.id)]);
      const found = v.highlight([{segment_id: "1-r1", text: "anne at example dot com", char_start: 12, char_end: 35}]);
      const marked = [...root.querySelectorAll("mark.evidence")].map(x => x.textContent);
      const replay = m.apply({...record}).ops.length;  // the same event again after a reconnect
      return {before, after, turns, found, marked, replay, revised: root.querySelectorAll(".seg.revised").length};
    }""")
    assert r["before"] == ["0-1", "1-2", "1-3", "0-4"]
    assert r["after"] == [["0-1", "Harbour Bank, how can I help?"],
                          ["1-r1", "My email is anne at example dot com."], ["0-4", "Thanks, Ann."]]
    assert r["turns"] == [["agent", ["0-1"]], ["customer", ["1-r1"]], ["agent", ["0-4"]]]
    assert r["found"] == 1 and r["marked"] == ["anne at example dot com"] and r["revised"] == 1
    assert r["replay"] == 0


def test_feed_reconnects_with_since_when_its_node_goes_away(page):
    """A node shutting down closes the desktop with 1001 (docs/scaling.md, rolling
    restarts): the feed must come back by itself, soon, asking for what it missed; only
    the page's own stop() ends it."""
    r = page.evaluate("""async () => {
      const {CallFeed} = await import('/static/js/feed.js');
      const sockets = [];
      class FakeSocket {  // the browser's WebSocket, as far as the feed uses it
        static OPEN = 1;
        constructor(url) {
          this.url = url; this.readyState = 0; this.sent = []; sockets.push(this);
          setTimeout(() => { this.readyState = 1; this.onopen(); }, 0);
        }
        send(m) { this.sent.push(m); }
        close(code, reason) { this.readyState = 3; this.onclose({code, reason}); }
      }
      window.WebSocket = FakeSocket;
      const tick = (ms) => new Promise((r) => setTimeout(r, ms));
      let last = null;
      const feed = new CallFeed({callId: "C-1", lastId: () => last, onEvent: (e) => { if (e.id) last = e.id; },
                                 location: {protocol: "https:", host: "lb.example"}});
      feed.start();
      await tick(5);
      sockets[0].onmessage({data: JSON.stringify({type: "Results", id: "1716-4", is_final: true})});
      const t0 = performance.now();
      sockets[0].close(1001, "node shutting down; reconnect with since");  // the server's close
      while (sockets.length < 2) await tick(5);
      const waited = performance.now() - t0;
      await tick(5);
      const state = feed.state;
      feed.stop();
      await tick(600);
      return {urls: sockets.map((s) => s.url), waited, state, lastClose: feed.lastClose, count: sockets.length};
    }""")
    assert r["urls"] == ["wss://lb.example/v1/calls/C-1/events?wait=true",
                         "wss://lb.example/v1/calls/C-1/events?wait=true&since=1716-4"]
    assert r["waited"] < 1000  # first retry after 125-250 ms
    assert r["state"] == "live"
    assert r["lastClose"] == {"code": 1000, "reason": "closed by the page"} and r["count"] == 2


def test_a_value_to_check_asks_the_agent_and_offers_the_other_readings(page):
    """`display: "check"` (below the display threshold): the row is marked, says why, and
    each other valid reading is a one-click correction; filled values show none of it."""
    r = page.evaluate("""async () => {
      const {CallModel} = await import('/static/js/model.js');
      const {FormView} = await import('/static/js/form-view.js');
      const root = document.createElement("div");
      document.body.append(root);
      const m = new CallModel();
      const sent = [];
      const v = new FormView(root, {onAction: (...a) => sent.push(a)});
      const base = {type: "FormValue", status: "proposed", evidence: [], replaces: null, correction: false};
      m.apply({...base, id: "1", suggestion_id: "fv-1", field: "customer_number", label: "Customer number",
               value: "47128839", confidence: 0.69, display: "check", alternatives: ["47128838"], valid: true});
      m.apply({...base, id: "2", suggestion_id: "fv-2", field: "iban", label: "IBAN",
               value: "NL91ABNA0417164301", confidence: 0.2, display: "check", alternatives: [], valid: false,
               heard: "It's NL91 ABNA 0417 1643 01."});
      m.apply({...base, id: "3", suggestion_id: "fv-3", field: "postcode", label: "Postcode",
               value: "LS6 2QT", confidence: 0.93, display: "filled", alternatives: [], valid: true});
      v.render(m);
      const row = (f) => root.querySelector(`[data-field="${f}"]`);
      const out = {
        numClass: row("customer_number").className, pcClass: row("postcode").className,
        numCheck: row("customer_number").querySelector(".check").hidden ? null
          : row("customer_number").querySelector(".check").textContent,
        ibanCheck: row("iban").querySelector(".check").textContent,
        pcCheckHidden: row("postcode").querySelector(".check").hidden,
        pcAltsHidden: row("postcode").querySelector(".alternatives").hidden,
        alts: [...row("customer_number").querySelectorAll("button.alt")].map(b => b.textContent),
      };
      row("customer_number").querySelector("button.alt").click();
      out.sent = sent;
      // accepted: no longer a value to check, whatever its confidence
      m.apply({...base, id: "4", suggestion_id: "fv-1", field: "customer_number", label: "Customer number",
               value: "47128838", confidence: 1.0, status: "edited", display: "filled", alternatives: [], valid: true});
      v.render(m);
      out.afterEdit = row("customer_number").className;
      return out;
    }""")
    assert "display-check" in r["numClass"] and "display-check" not in r["pcClass"]
    assert r["numCheck"] and "check" in r["numCheck"].lower()
    assert "not a valid" in r["ibanCheck"] and "NL91 ABNA 0417 1643 01" in r["ibanCheck"]
    assert r["pcCheckHidden"] and r["pcAltsHidden"]
    assert r["alts"] == ["47128838"]
    assert r["sent"] == [["fv-1", "edit", "47128838"]]
    assert "display-check" not in r["afterEdit"]
