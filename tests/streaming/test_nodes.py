"""Several `souffleur serve` processes sharing one Redis: any node serves any overlay.

The softphone streams to node A; agent desktops follow the call on node B.
Expectations come from what the softphone itself received (its finals) and from
the call's durable log read back over HTTP and the CLI, not from the bus code.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest

from assist.redact import PII_FIELDS, Redactor
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames
from tests.streaming.nodes import ROOT, durable, http_json, need_redis, nodes, stereo_call

pytestmark = pytest.mark.redis

TURNS = [
    ("agent", "Thank you for calling Brightwater Energy, this is Lotte. Can I have your full name please?"),
    ("customer", "Yes, my name is Nathan Greaves."),
    ("agent", "Thank you Nathan. And what is your date of birth?"),
    ("customer", "The fourth of July, nineteen eighty."),
    ("agent", "Thank you, that is all I need today."),
]


def clean(e: dict) -> dict:
    return {k: v for k, v in e.items() if k != "_received"}


def finals_of(messages: list[dict]) -> list[tuple[int, str]]:
    return [(m["channel_index"][0], m["channel"]["alternatives"][0]["transcript"]) for m in messages
            if m.get("type") == "Results" and m.get("is_final")]


def test_softphone_on_a_desktops_on_b_reconnect_with_since_and_feedback(tmp_path):
    need_redis()
    audio, rate = stereo_call(TURNS)
    frames = audio_frames(audio, rate)
    call_id = f"nodes-{uuid.uuid4().hex[:8]}"

    with nodes(2, tmp_path) as (a, b):
        async def go():
            async with EventsClient(b.url, call_id, wait=True) as steady, \
                    EventsClient(b.url, call_id, wait=True) as flaky:
                url = listen_url(a.url, encoding="linear16", sample_rate=rate, channels=2, call_id=call_id,
                                 interim_results=True)
                phone = asyncio.create_task(stream_frames(url, frames, realtime=True, speed=2.0))
                # one desktop drops after the first final and comes back with since=<last id>
                await flaky.wait_for(lambda e: e.get("type") == "Results" and "id" in e, 60)
                await flaky.__aexit__(None, None, None)
                part1 = durable(flaky.events)
                await asyncio.sleep(1.0)
                # agent feedback on node B for a suggestion made by the assistant on node A
                fv = await steady.wait_for(lambda e: e.get("type") == "FormValue", 90)
                await steady.feedback(fv["suggestion_id"], "accept")
                async with EventsClient(b.url, call_id, since=part1[-1]["id"]) as again:
                    softphone = await phone
                    await again.wait_for(lambda e: e.get("type") == "CallEnded", 90)
                    await steady.wait_for(lambda e: e.get("type") == "CallEnded", 90)
                    part2 = durable(again.events)
                    first_state = again.events[0]
                return steady.events, part1, part2, first_state, softphone, fv

        steady, part1, part2, state2, softphone, fv = asyncio.run(go())
        code_b, on_b = http_json(f"{b.http}/v1/calls/{call_id}")
        code_a, on_a = http_json(f"{a.http}/v1/calls/{call_id}")
        env = {**os.environ, "SOUFFLEUR_REDIS_PREFIX": a.prefix}
        show = [sys.executable, "-m", "streaming.cli", "call", "show", call_id, "--json"]
        via_http = subprocess.run([*show, "--url", b.http], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=60)
        via_redis = subprocess.run([*show, "--redis-url", a.redis_url], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=60)

    history = on_b["events"]
    live = [clean(e) for e in durable(steady)]
    assert code_a == code_b == 200 and on_a == on_b
    assert on_b["call"]["status"] == "ended" and on_b["call"]["node"].startswith(f"127.0.0.1:{a.port}/")
    # the steady desktop on B saw the whole durable log, in order, each event once: live
    # events as said, the log in their redacted form (what is stored holds no PII)
    # (a redactor that has read the whole call first: the stored log is redacted again
    # whenever the form or the redactor learns a name, retroactively)
    redactor = Redactor()
    redactor.add_values(e["value"] for e in live if e["type"] == "FormValue" and e["field"] in PII_FIELDS)
    for e in live:
        redactor.event(e)
    assert [redactor.event(e) for e in live] == history
    # the reconnecting desktop: exactly what it missed, then live; no gap, no duplicate
    assert state2["type"] == "CallState" and state2["since"] == part1[-1]["id"]
    assert [(e["id"], e["type"]) for e in part1 + part2] == [(e["id"], e["type"]) for e in history]
    # nothing the softphone got is missing, and nothing was invented
    assert finals_of(softphone.messages) == finals_of(live)
    assert any(text for _, text in finals_of(history))
    # what the form captured is nowhere in the stored log, not even where it was said first
    captured = [e["value"] for e in live if e["type"] == "FormValue" and e["field"] in PII_FIELDS]
    stored = json.dumps(history).lower()
    assert all(v.lower() not in stored for v in captured)
    assert any(e.get("type") == "Results" and not e.get("is_final") for e in steady)  # interims, live only
    # feedback given on B reached the assistant on A and came back to every desktop
    recorded = [e for e in history if e["type"] == "FeedbackRecorded"]
    assert [(r["suggestion_id"], r["action"]) for r in recorded] == [(fv["suggestion_id"], "accept")]
    assert any(e["type"] == "Summary" for e in history)
    for cli in (via_http, via_redis):
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == on_b
