"""Supervisor controls through a real server: who may change them (401/403 with a reason,
logged and audited), that they survive a restart, and that a mute reaches a live call.

The live call is scripted (`ScriptedRecognizer`: each utterance's words are the turn the
test wrote for it), so what the assistant would say is known from the same script run
through `AssistSession` without controls, not from the server's output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
from websockets.asyncio.client import connect

from assist.api import AssistSession, Segment
from streaming.asr.base import DecodeRequest, ScriptedRecognizer
from streaming.client import audio_frames, listen_url
from streaming.service.auth import Authenticator, mint_token, parse_api_keys
from tests.conftest import clip

SECRET = "token-secret-for-controls-tests"
KEYS = "supervisor:qa-anna:sup-secret-0123456789,softphone:pbx:pbx-secret-0123456789,admin:root:adm-secret-0123456789"
SUP = "sup-secret-0123456789"
PBX = "pbx-secret-0123456789"


def auth() -> Authenticator:
    return Authenticator(parse_api_keys(KEYS), SECRET)


def request(base: str, method: str, path: str, cred: str | None = None,
            body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if cred:
        req.add_header("Authorization", f"Token {cred}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


MUTE = {"target": "hint", "target_id": "never_take_passcode", "action": "mute",
        "why": "agents are trained; it repeats what they know"}


def test_only_supervisors_change_controls_refusals_are_logged_and_audited(server_factory, caplog, tmp_path):
    srv = server_factory(auth=auth(), assist=False)
    agent = mint_token(SECRET, "agent", "agent-bob", call_id="c1")
    phone = mint_token(SECRET, "softphone", "pbx-7", call_id="c1")
    sup_token = mint_token(SECRET, "supervisor", "sup-carla")
    base = srv.http
    caplog.set_level(logging.INFO, logger="souffleur")

    code, body = request(base, "GET", "/v1/controls", SUP)
    assert code == 200 and body["controls"] == [] and "never_take_passcode" in {
        t["id"] for t in body["targets"]["hint"]}
    assert request(base, "GET", "/v1/controls", agent)[0] == 403
    # refused, each with the reason
    for cred, role in ((agent, "agent"), (phone, "softphone"), (PBX, "softphone")):
        code, body = request(base, "POST", "/v1/controls", cred, MUTE)
        assert code == 403 and body["err_msg"] == f"role {role!r} may not change controls", body
    code, body = request(base, "POST", "/v1/controls", None, MUTE)
    assert code == 401 and "credentials required" in body["err_msg"]
    code, body = request(base, "POST", "/v1/controls", "nope-not-a-key-0123", MUTE)
    assert code == 401
    # bad controls: 400 with what is wrong
    assert request(base, "POST", "/v1/controls", SUP, {**MUTE, "why": ""})[1]["err_msg"].startswith("say why")
    code, body = request(base, "POST", "/v1/controls", SUP, {**MUTE, "target_id": "no_such_rule"})
    assert code == 400 and "no hint 'no_such_rule'" in body["err_msg"]
    code, body = request(base, "POST", "/v1/controls", SUP, {**MUTE, "action": "retire"})
    assert code == 400 and body["err_code"] == "BAD_CONTROL"
    # a supervisor key and a supervisor token may; who and when come from the credential and clock
    t0 = time.time()
    code, made = request(base, "POST", "/v1/controls", SUP, {**MUTE, "who": "someone-else", "when": 1})
    assert code == 201, made
    c = made["control"]
    assert c["who"] == "qa-anna" and t0 - 1 <= c["when"] <= time.time() + 1 and c["id"].startswith("ctl-")
    code, made2 = request(base, "POST", "/v1/controls", sup_token,
                          {"target": "alert", "target_id": "vulnerability.health", "action": "mute",
                           "scope": "form:identity", "why": "health insurer: every call is about health"})
    assert code == 201 and made2["control"]["who"] == "sup-carla"
    listed = request(base, "GET", "/v1/controls", SUP)[1]["controls"]
    assert [x["id"] for x in listed] == [c["id"], made2["control"]["id"]]
    # removing: agents may not; supervisors may, once
    assert request(base, "DELETE", f"/v1/controls/{c['id']}", agent)[0] == 403
    code, gone = request(base, "DELETE", f"/v1/controls/{c['id']}", SUP, {"why": "retrained the rule"})
    assert code == 200 and gone["removed"]["id"] == c["id"] and gone["who"] == "qa-anna"
    assert request(base, "DELETE", f"/v1/controls/{c['id']}", SUP)[0] == 404
    assert request(base, "PUT", "/v1/controls", SUP, MUTE)[0] == 405

    # the audit trail: every change with who/when/why, every refused attempt with who and why not
    audit = [json.loads(x) for x in (tmp_path / "data" / "audit.jsonl").read_text().splitlines()]
    changes = [(r["op"], r["who"], r["why"], r["control"]["id"]) for r in audit if r["kind"] == "control"]
    assert changes == [("add", "qa-anna", MUTE["why"], c["id"]),
                       ("add", "sup-carla", made2["control"]["why"], made2["control"]["id"]),
                       ("remove", "qa-anna", "retrained the rule", c["id"])]
    denied = [(r["who"], r["role"]) for r in audit if r["kind"] == "control_denied"]
    assert denied == [("agent-bob", "agent"), ("pbx-7", "softphone"), ("pbx", "softphone"),
                      ("agent-bob", "agent")]
    logged = [r.getMessage() for r in caplog.records if "denied change_controls" in r.getMessage()]
    assert any("agent-bob (agent)" in m for m in logged) and any("pbx (softphone)" in m for m in logged)
    assert not any(SUP in r.getMessage() or PBX in r.getMessage() for r in caplog.records)

    # survives a restart: a new node on the same --data-dir has the control in force
    srv.stop()
    again = server_factory(auth=auth(), assist=False)
    listed = request(again.http, "GET", "/v1/controls", SUP)[1]["controls"]
    assert [x["id"] for x in listed] == [made2["control"]["id"]]
    assert again.server.controls.get().get(made2["control"]["id"]) is not None


# ------------------------------------------------------------------ a live call

TURNS = [
    ("agent", "Thank you for calling Harbour Bank, how can I help?"),
    ("customer", "Hi, I lost my phone and I need to block my card."),
    ("agent", "I am sorry to hear that. Can I have your full name please?"),
    ("customer", "Yes, my name is Anna de Boer."),
    # the supervisor mutes the passcode rule here, while the call goes on
    ("agent", "Thank you. Is there anything else I can help you with?"),
    ("customer", "My passcode is one two three four."),
    ("agent", "Please never tell anyone your passcode. Is there anything else?"),
    ("customer", "No, that is all, thank you."),
]
PHASE1 = 4  # turns streamed before the mute
RULE = "never_take_passcode"


def expected_without_controls() -> dict[str, int]:
    """Turn index of each hint rule's first showing, from the script through the assistant."""
    s = AssistSession("plain", "en")
    first: dict[str, int] = {}
    for i, (who, text) in enumerate(TURNS):
        for e in s.on_segment(Segment(f"t{i}", who, text, 2.0 * i, 2.0 * i + 1.8)):  # type: ignore[arg-type]
            if e["type"] == "Hint" and e["status"] == "shown":
                first.setdefault(e["rule"], i)
    return first


def scripted_call() -> tuple[np.ndarray, int, list[float], ScriptedRecognizer]:
    x, rate, _ = clip("ljspeech/LJ001-0008.flac")
    x = x[:, 0]
    gap = np.zeros(int(rate * 1.5), np.float32)
    chans, starts, at = [], [], 0
    for who, _ in TURNS:
        piece = np.zeros((x.size + gap.size, 2), np.float32)
        piece[: x.size, 0 if who == "agent" else 1] = x
        chans.append(piece)
        starts.append(at / rate)
        at += piece.shape[0]
    audio = np.concatenate(chans)

    def script(r: DecodeRequest) -> list[tuple[str, float, float]]:
        turn = min(range(len(TURNS)), key=lambda i: abs(starts[i] - r.offset))
        words = TURNS[turn][1].split()
        step = max(0.05, r.duration * 0.8 / len(words))
        return [(" " + w, 0.05 + k * step, 0.05 + (k + 1) * step) for k, w in enumerate(words)]

    return audio, rate, starts, ScriptedRecognizer(script)


async def stream_in_two_phases(srv, call_id: str,
                               between: Callable[[], Awaitable[None]] | None = None) -> list[dict]:
    """The scripted call streamed to `srv` (a `ServerThread`): the first PHASE1 turns, then,
    once they reached the assistant, `await between()` (a supervisor acts), then the rest.
    Returns the call's durable log once its summary is out."""
    audio, rate, starts, _ = scripted_call()
    cut = int(starts[PHASE1] * rate)
    url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=2, multichannel=True,
                     call_id=call_id)

    def history() -> list[dict]:
        return srv.call(srv.server.bus.history(call_id))

    async def until(pred, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(history()):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(what)

    async with connect(url, max_size=None, additional_headers={"Authorization": f"Token {PBX}"}) as ws:
        async def drain() -> None:
            async for _ in ws:
                pass

        reader = asyncio.create_task(drain())
        for f in audio_frames(audio[:cut], rate, frame_ms=100):
            await ws.send(f)
        # the first part of the call has reached the assistant (the name was filled)
        await until(lambda h: any(e["type"] == "FormValue" and e.get("field") == "full_name" for e in h),
                    "the assistant to read the first turns")
        if between is not None:
            await between()
        for f in audio_frames(audio[cut:], rate, frame_ms=100):
            await ws.send(f)
        await ws.send(json.dumps({"type": "CloseStream"}))
        await reader
    await until(lambda h: any(e["type"] == "Summary" for e in h), "the call to end (its summary)")
    return history()


def mute_on(node, call_node, took: list[float]) -> Callable[[], Awaitable[None]]:
    """A supervisor mutes RULE through `node`'s API; waits until it is in force on
    `call_node` (the node running the call's assistant), noting how long that took."""

    async def act() -> None:
        code, made = await asyncio.to_thread(request, node.http, "POST", "/v1/controls", SUP, MUTE)
        assert code == 201, made
        t0 = time.monotonic()
        while call_node.server.controls.get().get(made["control"]["id"]) is None:
            assert time.monotonic() - t0 < 5.0, "the mute did not reach the call's node"
            await asyncio.sleep(0.005)
        took.append(time.monotonic() - t0)

    return act


def test_a_supervisor_mute_stops_new_hints_of_that_rule_on_a_live_call(server_factory):
    expect = expected_without_controls()
    assert expect.get(RULE, -1) >= PHASE1, expect  # the rule would fire after the mute
    later = [r for r, i in expect.items() if i >= PHASE1 and r != RULE]
    assert later, expect  # and another rule then too: hints still flow
    _, _, _, rec = scripted_call()
    srv = server_factory(recognizer_=rec, auth=auth())

    plain = asyncio.run(stream_in_two_phases(srv, "controls-plain"))
    rules = [e["rule"] for e in plain if e["type"] == "Hint" and e["status"] == "shown"]
    assert RULE in rules and set(later) <= set(rules)  # the script does what the assistant says

    muted = asyncio.run(stream_in_two_phases(srv, "controls-muted", mute_on(srv, srv, [])))
    rules = [e["rule"] for e in muted if e["type"] == "Hint" and e["status"] == "shown"]
    assert RULE not in rules, rules
    assert set(later) <= set(rules)  # the other hints after the mute still came
    # the report shows the control and its before/after
    code, rep = request(srv.http, "GET", "/v1/report", SUP)
    row = next(r for r in rep["controls"] if r["control"]["target_id"] == RULE)
    assert row["before"]["shown"] == 1 and row["after"]["shown"] == 0
    assert row["control"]["who"] == "qa-anna"


@pytest.mark.redis
def test_a_mute_on_node_b_reaches_a_live_call_on_node_a_through_redis(server_factory, tmp_path):
    """Two nodes with their own RedisBus on one Redis (as `souffleur serve --redis-url`): the
    supervisor's change goes to node B; the call's assistant runs on node A."""
    from streaming.service.redis_bus import RedisBus
    from tests.streaming.test_bus_contract import REDIS_URL, redis_available

    if not redis_available():
        pytest.skip(f"Redis is not running at {REDIS_URL}")
    prefix = f"souffleur-test:{uuid.uuid4().hex[:8]}:"
    expect = expected_without_controls()
    later = [r for r, i in expect.items() if i >= PHASE1 and r != RULE]
    try:
        _, _, _, rec = scripted_call()
        a = server_factory(recognizer_=rec, auth=auth(), bus=RedisBus(REDIS_URL, prefix=prefix),
                           data_dir=str(tmp_path / "a"))
        b = server_factory(recognizer_=rec, auth=auth(), bus=RedisBus(REDIS_URL, prefix=prefix),
                           data_dir=str(tmp_path / "b"))
        took: list[float] = []
        muted = asyncio.run(stream_in_two_phases(a, "controls-two-nodes", mute_on(b, a, took)))
        rules = [e["rule"] for e in muted if e["type"] == "Hint" and e["status"] == "shown"]
        assert RULE not in rules and set(later) <= set(rules), rules
        assert took and took[0] < 2.0, took  # in force on the call's node within seconds (pub/sub: milliseconds)
        # both nodes list it; the change is audited where it was made, with who and why
        for node in (a, b):
            listed = request(node.http, "GET", "/v1/controls", SUP)[1]["controls"]
            assert [(c["target_id"], c["who"]) for c in listed] == [(RULE, "qa-anna")]
        audit_b = (tmp_path / "b" / "audit.jsonl").read_text()
        assert '"kind": "control"' in audit_b and MUTE["why"] in audit_b
        # a node started afterwards (a restart) has it in force from Redis
        c = server_factory(recognizer_=rec, auth=auth(), bus=RedisBus(REDIS_URL, prefix=prefix),
                           data_dir=str(tmp_path / "c"))
        assert [x.target_id for x in c.server.controls.get().controls] == [RULE]
    finally:
        from tests.streaming.test_bus_contract import drop_prefix

        asyncio.run(drop_prefix(prefix))


@pytest.mark.parametrize("role", ["agent"])
def test_feedback_route_unchanged_for_agents(role):
    """The new permissions leave the old ones as they were."""
    from streaming.service.auth import PERMISSIONS

    assert role in PERMISSIONS["feedback"] and role not in PERMISSIONS["change_controls"]
    assert PERMISSIONS["change_controls"] == {"supervisor", "admin"}
