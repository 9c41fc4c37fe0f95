"""In Chromium, two nodes through Redis: a supervisor on node B mutes a hint rule from the
supervisor page while a call runs on node A with the agent's overlay open; after 2 s the
call goes on, and no hint of that rule appears on the overlay while the call's other hints
still do. Then the supervisor page on node A shows the control (who, when, why) with its
before/after, and the report's "fix" button leads to it.

The call is scripted (tests/streaming/test_controls.py: `ScriptedRecognizer`, each
utterance's words are the turn written for it), so which hints the assistant gives is
known from the script run through `AssistSession` without controls.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from streaming.service.auth import mint_token
from tests.streaming.test_controls import (
    MUTE,
    PHASE1,
    RULE,
    SECRET,
    auth,
    expected_without_controls,
    scripted_call,
    stream_in_two_phases,
)

from .conftest import save_screenshot, watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.redis]
WAIT_MS = 60_000


def in_thread(make_coro):
    """asyncio.run in a thread of its own: Playwright's sync API holds this thread's loop."""
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = asyncio.run(make_coro())
        except BaseException as e:  # noqa: BLE001 - raised again below
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(180)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def test_a_supervisor_mutes_a_rule_and_the_other_nodes_overlay_shows_no_new_hint_of_it(
        browser, server_factory, tmp_path):
    from streaming.service.redis_bus import RedisBus
    from tests.streaming.test_bus_contract import REDIS_URL, drop_prefix, redis_available

    if not redis_available():
        pytest.skip(f"Redis is not running at {REDIS_URL}")
    expect = expected_without_controls()
    later = sorted(r for r, i in expect.items() if i >= PHASE1 and r != RULE)
    assert expect.get(RULE, -1) >= PHASE1 and later, expect
    prefix = f"souffleur-test:{uuid.uuid4().hex[:8]}:"
    _, _, _, rec = scripted_call()
    a = server_factory(recognizer_=rec, auth=auth(), bus=RedisBus(REDIS_URL, prefix=prefix),
                       data_dir=str(tmp_path / "a"))
    b = server_factory(recognizer_=rec, auth=auth(), bus=RedisBus(REDIS_URL, prefix=prefix),
                       data_dir=str(tmp_path / "b"))
    supervisor = mint_token(SECRET, "supervisor", "sup-carla")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        # a first call, before any control: the rule fires (the report's "before")
        plain = in_thread(lambda: stream_in_two_phases(a, "controls-before"))
        assert RULE in [e.get("rule") for e in plain if e["type"] == "Hint"]

        call_id = f"controls-{uuid.uuid4().hex[:6]}"
        agent = mint_token(SECRET, "agent", "agent-bob", call_id=call_id)
        overlay = ctx.new_page()
        overlay_errors = watch_errors(overlay)
        overlay.goto(f"{a.http}/agent?call_id={call_id}&token={agent}")
        sup = ctx.new_page()
        sup_errors = watch_errors(sup)
        sup.goto(f"{b.http}/supervisor?token={supervisor}")
        sup.wait_for_selector("#controls .controls-list .empty", timeout=WAIT_MS)

        first_part = threading.Event()
        go_on = threading.Event()
        result: dict = {}

        async def wait_for_supervisor() -> None:
            first_part.set()
            await asyncio.to_thread(go_on.wait, 120)

        def softphone() -> None:
            try:
                result["log"] = asyncio.run(stream_in_two_phases(a, call_id, wait_for_supervisor))
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                result["error"] = e
                first_part.set()

        phone = threading.Thread(target=softphone, daemon=True)
        phone.start()
        assert first_part.wait(120) and "error" not in result, result.get("error")
        overlay.wait_for_selector("#form .field", timeout=WAIT_MS)  # the call is live on A's overlay

        # the supervisor, on node B, mutes the rule from the Controls panel
        sup.select_option("#control-target", "hint")
        sup.fill("#control-target-id", RULE)
        sup.select_option("#control-action", "mute")
        sup.fill("#control-why", MUTE["why"])
        sup.click("button.add-control")
        row = sup.locator(f'.controls-table tr[data-target="hint:{RULE}"]')
        row.wait_for(timeout=WAIT_MS)
        assert row.locator(".who").inner_text() == "sup-carla"
        assert row.locator(".why").inner_text() == MUTE["why"]
        sup.wait_for_timeout(2000)  # "after 2 s"
        go_on.set()

        phone.join(120)
        assert "error" not in result, result.get("error")
        overlay.wait_for_selector("#summary:not([hidden])", timeout=WAIT_MS)
        shown = overlay.eval_on_selector_all("#hints .card.hint", "els => els.map(e => e.dataset.rule)")
        assert RULE not in shown, shown
        assert set(later) <= set(shown), (later, shown)  # the call's later hints did come
        logged = [e.get("rule") for e in result["log"] if e["type"] == "Hint"]
        assert RULE not in logged

        # node A's supervisor page: the control is in force there, with its effect
        sup_a = ctx.new_page()
        sup_a_errors = watch_errors(sup_a)
        sup_a.goto(f"{a.http}/supervisor?token={supervisor}")
        row_a = sup_a.locator(f'.controls-table tr[data-target="hint:{RULE}"]')
        row_a.wait_for(timeout=WAIT_MS)
        effect = row_a.locator(".effect").inner_text()
        assert effect.startswith("before: ") and "of 1" in effect and effect.endswith("since: none shown"), effect
        # the report row of the rule leads straight to its control
        fix = sup_a.locator(f'.report-hints tr[data-key="{RULE}"] button.fix')
        fix.wait_for(timeout=WAIT_MS)
        fix.click()
        sup_a.wait_for_selector(f'.controls-table tr.highlight[data-target="hint:{RULE}"]', timeout=5000)
        assert sup_a.evaluate("() => document.activeElement.id") == "control-why"
        # a rule without a control: "fix" fills the form instead
        other = later[0]
        sup_a.locator(f'.report-hints tr[data-key="{other}"] button.fix').click()
        assert sup_a.input_value("#control-target-id") == other
        assert sup_a.input_value("#control-target") == "hint"
        save_screenshot(sup_a, "supervisor-controls.png", tmp_path, full_page=True)
        assert not overlay_errors and not sup_errors and not sup_a_errors, (overlay_errors, sup_errors,
                                                                             sup_a_errors)
    finally:
        ctx.close()
        in_thread(lambda: drop_prefix(prefix))
