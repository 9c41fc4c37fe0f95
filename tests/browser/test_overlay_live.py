"""End to end in Chromium: a real recording streamed through a real server (the
bundled Whisper model, the offline assistant), the agent overlay and the supervisor
view following it live.

One call is streamed per module (dev_en_01 from ../shared/assist, 3x real time) and
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

from tests.conftest import SHARED, ServerThread

from .conftest import save_screenshot, watch_errors

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# a realistic labelled call when ../shared is there, else the call bundled for `souffleur demo`
RECORDING = next((p for p in (SHARED / "assist" / "dev_en_01.stereo16k.flac",
                              ROOT / "streaming" / "demo_call" / "call.ogg") if p.exists()), None)
SPEED = 3.0
TOKEN = "t0k3n-passed-through"
WAIT_MS = 150_000
CORRECTIONS = {"email": "nathan.greaves@example.com", "full_name": "Nathan Greaves"}


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def server_finals(srv: ServerThread, call_id: str) -> list[tuple[str, str]]:
    """(segment_id, text) of every final with words, in the server's durable log order."""
    events = http_json(f"{srv.http}/v1/calls/{call_id}")["events"]
    return [(e["segment_id"], e["channel"]["alternatives"][0]["transcript"].strip()) for e in events
            if e["type"] == "Results" and e.get("is_final") and e["channel"]["alternatives"][0]["transcript"].strip()]


def page_segments(page) -> list[tuple[str, str]]:
    return [tuple(x) for x in page.eval_on_selector_all(
        "#transcript .seg", "els => els.map(e => [e.dataset.seg, e.dataset.text])")]


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
    if RECORDING is None:
        pytest.skip("no recording: neither ../shared/assist nor streaming/demo_call is present")
    from streaming.client import stream_file
    from streaming.options import AsrOptions, ServerOptions
    from streaming.service.pipeline import CallPipeline
    from streaming.service.server import SouffleurServer

    # the assistant reads utterances (the default; SOUFFLEUR_ASSIST_UTTERANCES=0 would turn it off)
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
    page.wait_for_function("() => window.souffleur.model.segmentCount() >= 25", timeout=WAIT_MS)
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

    expected = server_finals(live["srv"], live["call_id"])
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
    # evidence points into an utterance (its first piece's id, offsets over the joined pieces)
    marks = page.eval_on_selector_all("#transcript mark.evidence",
                                      "els => els.map(m => [m.parentElement.dataset.seg, m.textContent])")
    ev = fv["evidence"][0]
    assert marks and marks[0][0] == ev["segment_id"]
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
        page.wait_for_selector(f'[data-sid="{accepted}"].fb-accept')
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
