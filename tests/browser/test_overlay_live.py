"""End to end in Chromium: a real recording streamed through a real server (the
bundled Whisper model, the offline assistant), the agent overlay and the supervisor
view following it live.

One call is streamed per module (the call bundled for `souffleur demo`, 3x real time) and
the tests below look at it in order: transcript turns against the server's own log
after the overlay's connection was killed and restored mid-call, a form value and
its evidence highlight, hints, the summary, accept/edit/dismiss recorded in the
audit trail and the /v1/report rates, the supervisor's view of it all.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ServerThread

from .conftest import save_screenshot, watch_errors

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# the scripted call bundled for `souffleur demo` (in the package: every checkout has it)
DEMO = ROOT / "streaming" / "demo_call"
RECORDING = DEMO / "call.ogg"
SPEED = 3.0
TOKEN = "t0k3n-passed-through"
WAIT_MS = 150_000
CORRECTIONS = json.loads((DEMO / "call.json").read_text(encoding="utf-8"))["form"]  # what the agent types


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def server_finals(srv: ServerThread, call_id: str) -> list[tuple[str, str]]:
    """(segment_id, text) of every final with words, in the server's durable log order."""
    events = http_json(f"{srv.http}/v1/calls/{call_id}")["events"]
    return [(e["segment_id"], e["channel"]["alternatives"][0]["transcript"].strip()) for e in events
            if e["type"] == "Results" and e.get("is_final") and e["channel"]["alternatives"][0]["transcript"].strip()]


def server_transcript(srv: ServerThread, call_id: str) -> list[tuple[str, str]]:
    """(id, text) of the transcript the server's durable log describes: final pieces as they
    were committed, each `Record` (the transcript of record) in place of the live pieces it
    names, the first keeping its place and the rest removed (what a desktop must show)."""
    shown: list[tuple[str, str]] = []
    for e in http_json(f"{srv.http}/v1/calls/{call_id}")["events"]:
        if not (e["type"] == "Record" or (e["type"] == "Results" and e.get("is_final"))):
            continue
        sid, text = e["segment_id"], e["channel"]["alternatives"][0]["transcript"].strip()
        if sid in dict(shown):
            continue  # a replayed record
        replaces = set(e.get("replaces", ()))
        at = [i for i, (s, _) in enumerate(shown) if s in replaces]
        if not at:  # a final piece, or a record with nothing live left to replace
            if text:
                shown.append((sid, text))
            continue
        shown = (shown[:at[0]] + ([(sid, text)] if text else [])
                 + [x for x in shown[at[0] + 1:] if x[0] not in replaces])
    return shown


def page_segments(page) -> list[tuple[str, str]]:
    return [tuple(x) for x in page.eval_on_selector_all(
        "#transcript .seg", "els => els.map(e => [e.dataset.seg, e.dataset.text])")]


def evidence_marks(page, evidence: list[dict]) -> list[tuple[str, str]]:
    """(piece id, marked text) the overlay must show for `evidence`, in page order.

    An item's segment_id names the span its offsets start in: a `Record` (the transcript of
    record, the default), which replaced its live pieces with one span; or, with records off,
    the first final piece of an utterance, the offsets then running over that utterance's
    pieces joined by single spaces (docs/protocol.md). The words may then lie in a later piece
    than the one the id names: a name said after "Yes, my name is" is a piece of its own when
    the words were committed one or two at a time.
    """
    pieces = page.eval_on_selector_all(
        "#transcript .seg", "els => els.map(e => [e.dataset.seg, e.dataset.text, e.closest('.turn').dataset.speaker])")
    ranges: dict[str, list[tuple[int, int]]] = {}
    for ev in evidence:
        at = [p[0] for p in pieces].index(ev["segment_id"])
        own = [p for p in pieces[at:] if p[2] == pieces[at][2]]  # the rest of that speaker's pieces
        a, b = ev["char_start"], ev["char_end"]
        joined, offset = " ".join(p[1] for p in own), 0
        assert joined[a:b] == ev["text"], (ev, joined[:b + 20])
        for sid, text, _ in own:
            lo, hi = max(a - offset, 0), min(b - offset, len(text))
            if hi > lo:
                ranges.setdefault(sid, []).append((lo, hi))
            offset += len(text) + 1
            if offset >= b:
                break
    out = []
    for sid, text, _ in pieces:
        end = 0
        for lo, hi in sorted(ranges.get(sid, [])):
            if lo >= end:  # overlapping ranges: the first one wins (TranscriptView._mark)
                out.append((sid, text[lo:hi]))
                end = hi
    return out


class Link:
    """The overlay's websocket, routed through Playwright so the test can cut it."""

    def __init__(self, page) -> None:
        self.urls: list[str] = []
        self.open: list = []
        self.blocked = False
        page.route_web_socket(re.compile(r"/v1/calls/[^/]+/events"), self._handle)

    def _handle(self, ws) -> None:
        self.urls.append(ws.url)
        if self.blocked:  # the network is down: refuse every reconnect attempt
            ws.close(code=4002, reason="network down (test)")
            return
        self.open.append((ws, ws.connect_to_server()))

    def cut(self) -> None:
        self.blocked = True
        for page_side, server_side in self.open:
            page_side.close(code=4001, reason="connection lost (test)")
            server_side.close()
        self.open.clear()

    def restore(self) -> None:
        self.blocked = False


@pytest.fixture(scope="module")
def live(recognizer, browser, tmp_path_factory):
    """Stream the call with the overlay open; cut its connection for a few seconds mid-call."""
    from streaming.client import stream_file
    from streaming.options import AsrOptions, ServerOptions
    from streaming.service.pipeline import CallPipeline
    from streaming.service.server import SouffleurServer

    # the assistant reads the transcript of record (the default); with records off it would read
    # utterances grouped from the final pieces (SOUFFLEUR_ASSIST_UTTERANCES=0 turns that off too)
    grouped = CallPipeline.group_utterances
    CallPipeline.group_utterances = True

    tmp = tmp_path_factory.mktemp("overlay")
    data = tmp / "data"
    srv = ServerThread(SouffleurServer(replace(ServerOptions(port=0), data_dir=str(data)),
                                       AsrOptions(workers=2), recognizer=recognizer))
    call_id = f"browser-{uuid.uuid4().hex[:6]}"
    ctx = browser.new_context(viewport={"width": 460, "height": 1000})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=srv.http)
    page = ctx.new_page()
    errors = watch_errors(page)
    link = Link(page)
    # the CRM pops the overlay when the phone rings: before the call exists
    page.goto(f"{srv.http}/agent?call_id={call_id}&token={TOKEN}")
    page.wait_for_selector('.call-status[data-status="pending"]')

    result: dict = {}

    def softphone() -> None:
        result["res"] = asyncio.run(stream_file(srv.url, RECORDING, speed=SPEED, call_id=call_id))

    phone = threading.Thread(target=softphone, daemon=True)
    phone.start()

    # mid-call: the agent's network drops for a few seconds while the call goes on
    # (a third of the demo call's ~70 final pieces; the page shows fewer spans, as each
    # utterance's transcript of record replaces its pieces)
    page.wait_for_function("() => window.souffleur.model.segmentCount() >= 1", timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(server_finals(srv, call_id)) < 20 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    finals_at_cut = len(server_finals(srv, call_id))
    link.cut()
    page.wait_for_selector('.conn[data-state="reconnecting"]')
    # nothing reaches the page now: what it applied last is what it must ask for
    cut_at = page.evaluate("() => window.souffleur.model.lastId")
    shown_during_cut = page.evaluate("() => window.souffleur.model.segmentCount()")
    deadline = time.monotonic() + 60
    # stay down until the call has moved on and the page has tried (and failed) to come back
    while ((len(server_finals(srv, call_id)) < finals_at_cut + 5 or len(link.urls) < 3)
           and time.monotonic() < deadline):
        page.wait_for_timeout(250)
    finals_missed = len(server_finals(srv, call_id)) - finals_at_cut
    attempts_while_down = len(link.urls)
    link.restore()
    page.wait_for_function("() => window.souffleur.feed.connects >= 2 && window.souffleur.feed.state === 'live'",
                           timeout=WAIT_MS)

    # a supervisor looks in while the call is live
    sup = ctx.new_page()
    sup.set_viewport_size({"width": 1400, "height": 900})
    sup_errors = watch_errors(sup)
    sup.goto(f"{srv.http}/supervisor?token={TOKEN}")
    sup.wait_for_selector(f'tr[data-call="{call_id}"] td.status:has-text("live")', timeout=WAIT_MS)
    sup.locator(f'tr[data-call="{call_id}"] button.open').click()
    sup.frame_locator("#viewer").locator("#transcript .seg").first.wait_for(timeout=WAIT_MS)
    sup.wait_for_selector(f'tr[data-call="{call_id}"] .mood-cell[data-label]:not([data-label=""])', timeout=WAIT_MS)
    save_screenshot(sup, "supervisor.png", tmp)

    phone.join(timeout=WAIT_MS / 1000)
    page.wait_for_selector("#summary:not([hidden])", timeout=WAIT_MS)
    yield {
        "srv": srv, "call_id": call_id, "page": page, "sup": sup, "link": link, "data": data, "tmp": tmp,
        "cut_at": cut_at, "finals_missed": finals_missed, "shown_during_cut": shown_during_cut,
        "attempts_while_down": attempts_while_down, "phone": result.get("res"),
        "errors": errors, "sup_errors": sup_errors,
    }
    ctx.close()
    srv.stop()
    CallPipeline.group_utterances = grouped


def test_transcript_has_every_turn_once_after_the_connection_came_back(live):
    page, link = live["page"], live["link"]
    assert live["phone"] is not None and live["phone"].close_code == 1000
    # the connection really was down while the call produced finals, and came back with since
    assert live["finals_missed"] >= 5
    assert live["attempts_while_down"] >= 3  # the first connection, then refused reconnects
    since_urls = [u for u in link.urls if "since=" in u]
    assert since_urls, link.urls
    assert f"since={live['cut_at']}" in since_urls[0]
    assert all(f"token={TOKEN}" in u for u in link.urls)  # the page's token goes to the websocket

    expected = server_transcript(live["srv"], live["call_id"])
    finals = dict(server_finals(live["srv"], live["call_id"]))
    assert [sid for sid, _ in expected if sid not in finals], "no transcript of record replaced live pieces"
    shown = page_segments(page)
    assert len(shown) == len({sid for sid, _ in shown}), "a transcript piece is shown twice"
    assert shown == expected  # none missing, none extra, same order, same words
    turns = page.eval_on_selector_all("#transcript .turn", "els => els.map(e => e.dataset.speaker)")
    assert {"agent", "customer"} <= set(turns)
    assert all(a != b for a, b in zip(turns, turns[1:], strict=False))  # consecutive turns change speaker
    assert page.locator(".interim").count() == 0  # nothing provisional left once the call ended
    assert page.locator('.call-status[data-status="ended"]').count() == 1


def test_form_value_highlights_the_words_it_came_from(live):
    page = live["page"]
    field = page.locator("#form .field").first
    field.wait_for(timeout=WAIT_MS)
    fv = page.evaluate("() => [...window.souffleur.model.fields.values()][0]")
    assert fv["evidence"], fv
    assert field.locator(".value").inner_text() == fv["value"]
    assert field.locator(".conf").inner_text() == f"{round(fv['confidence'] * 100)}%"
    assert page.locator("#transcript mark").count() == 0
    field.locator(".value").click()
    # evidence points into an utterance (its first piece's id, offsets over the joined pieces):
    # exactly the quoted words are marked, in whichever pieces of that utterance they are
    marks = page.eval_on_selector_all("#transcript mark.evidence",
                                      "els => els.map(m => [m.parentElement.dataset.seg, m.textContent])")
    assert [tuple(m) for m in marks] == evidence_marks(page, fv["evidence"]), (marks, fv["evidence"])
    marked_words = " ".join(t for _, t in marks)
    for item in fv["evidence"]:
        assert item["text"] in marked_words
    assert page.locator("#transcript mark.evidence").first.is_visible()
    save_screenshot(page, "overlay.png", live["tmp"], full_page=True)


def test_hints_and_summary_are_shown(live):
    page = live["page"]
    hints = page.locator("#hints .card.hint")
    assert hints.count() >= 1
    model_hints = page.evaluate("() => [...window.souffleur.model.hints.values()].map(h => h.text)")
    assert hints.first.locator(".card-text").inner_text().lstrip("✓ ") in model_hints
    assert hints.first.locator(".why").inner_text().startswith("Why:")
    summary = page.locator("#summary-text").input_value()
    server_summary = [e for e in http_json(f"{live['srv'].http}/v1/calls/{live['call_id']}")["events"]
                      if e["type"] == "Summary"][-1]
    assert summary == server_summary["text"] and summary.strip()


def audit_feedback(data: Path, call_id: str) -> list[dict]:
    path = data / "audit.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") == "feedback" and r.get("call_id") == call_id]


def test_accept_edit_dismiss_reach_the_audit_trail_and_report(live):
    page, srv, call_id = live["page"], live["srv"], live["call_id"]
    # form: accept, then correct it (the final verdict is the edit)
    field = page.locator("#form .field").first
    name = field.get_attribute("data-field")
    field.locator("button.accept").click()
    page.wait_for_selector(f'#form .field[data-field="{name}"].status-accepted')
    field.locator("button.edit").click()
    corrected = CORRECTIONS.get(name) or field.locator(".value").inner_text()
    field.locator("input").fill(corrected)
    field.locator("button.save").click()
    page.wait_for_selector(f'#form .field[data-field="{name}"].status-edited')
    assert field.locator(".value").inner_text() == corrected
    live["edited_field"] = name
    # cards: dismiss one (it leaves the overlay), accept the next one if there is one
    cards = "#hints .card.hint:not(.done):not(.fb-accept), #knowledge .card:not(.fb-accept)"
    target = page.locator(cards).first
    dismiss_sid = target.get_attribute("data-sid")
    dismiss_rule = page.evaluate(f"() => window.souffleur.model.hints.get('{dismiss_sid}')?.rule")
    target.locator("button.dismiss").click()
    page.wait_for_selector(f'[data-sid="{dismiss_sid}"]', state="detached")
    accepted = None
    if page.locator(cards).count():
        accepted = page.locator(cards).first.get_attribute("data-sid")
        page.locator(cards).first.locator("button.accept").click()
        # settled (the server recorded it): hint and knowledge cards both say so in their meta line
        page.wait_for_selector(f'[data-sid="{accepted}"] .meta:has-text("accepted")')
    # the summary, corrected by the agent
    edited = page.locator("#summary-text").input_value() + "\nAgent: customer asked for a callback."
    page.locator("#summary-text").fill(edited)
    page.locator("#summary button.save").click()
    page.wait_for_selector('.summary-status:has-text("saved")')

    fb = audit_feedback(live["data"], call_id)
    got = [(r["suggestion_type"], r["action"]) for r in fb]
    assert ("FormValue", "accept") in got and ("FormValue", "edit") in got
    assert ("Summary", "edit") in got
    assert [r["action"] for r in fb if r["suggestion_id"] == dismiss_sid] == ["dismiss"]
    if accepted:
        assert [r["action"] for r in fb if r["suggestion_id"] == accepted] == ["accept"]
    # the audit trail keeps personal data out (assist/redact.py); the feed has the value
    assert [r["value"] for r in fb if r["suggestion_type"] == "FormValue" and r["action"] == "edit"] in (
        [corrected], ["[pii]"])
    [summary_value] = [r["value"] for r in fb if r["suggestion_type"] == "Summary"]
    assert summary_value.endswith("Agent: customer asked for a callback.")
    events = http_json(f"{srv.http}/v1/calls/{call_id}")["events"]
    assert [(e["value"], e["status"]) for e in events if e["type"] == "FormValue" and e.get("field") == name][-1] \
        == (corrected, "edited")

    rep = http_json(f"{srv.http}/v1/report")
    assert rep["form"][name]["edit"] == 1 and rep["form"][name]["edit_rate"] == 1.0
    if dismiss_rule:
        assert rep["hints"][dismiss_rule]["dismiss"] >= 1
    assert rep["summary"]["summary"]["edit"] == 1


def test_summary_copy_button(live):
    page = live["page"]
    page.locator("#summary button.copy").click()
    page.wait_for_selector('.summary-status:has-text("Copied")')
    assert page.evaluate("() => navigator.clipboard.readText()") == page.locator("#summary-text").input_value()


def test_supervisor_sees_the_call_and_the_report(live):
    sup, call_id = live["sup"], live["call_id"]
    row = sup.locator(f'tr[data-call="{call_id}"]')
    row.locator("td.status").filter(has_text="ended").wait_for(timeout=WAIT_MS)
    hint_or_alert = row.locator(".alerts-cell .alert-line, .hints-cell .hint-line")
    assert hint_or_alert.count() >= 1 or row.locator(".mood-cell").inner_text() != "–"
    assert row.locator(".mood-cell").inner_text() != "–"
    sup.locator("#report-refresh").click()
    # the page also refreshes on its own: wait for the figures that include the feedback
    edited = sup.locator(f'.report-form tbody tr[data-key="{live["edited_field"]}"] td.edit')
    edited.filter(has_text=re.compile(r"^100%$")).wait_for(timeout=30_000)
    # click into the call: its overlay, read-only
    row.locator("button.open").click()
    frame = sup.frame_locator("#viewer")
    frame.locator("#summary-text").wait_for(timeout=WAIT_MS)
    assert frame.locator("body.readonly").count() == 1
    assert frame.locator("#form button.accept, #summary button.save").count() == 0
    assert frame.locator("#summary-text").get_attribute("readonly") is not None
    src = sup.locator("#viewer").get_attribute("src")
    assert "readonly=1" in src and f"token={TOKEN}" in src
    frame.locator("#transcript .seg").first.wait_for()


def test_no_javascript_errors(live):
    assert live["errors"] == [] and live["sup_errors"] == []
