"""Who may hear a call: keys, tokens, scopes, limits, metrics, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from streaming.asr.textnorm import wer
from streaming.client import EventsClient, audio_frames, listen_url, stream_frames
from streaming.service.auth import (
    Authenticator,
    AuthError,
    check_bind,
    mint_token,
    parse_api_keys,
    verify_token,
)
from tests.conftest import clip, run, silence

SECRET = "test-token-secret-0123456789abcdef"
PHONE_KEY = "pbx-key-0123456789abcdef"
SUP_KEY = "ops-key-0123456789abcdef"
LJ2 = "ljspeech/LJ001-0002.flac"


def _auth() -> Authenticator:
    return Authenticator(parse_api_keys(f"softphone:pbx-1:{PHONE_KEY},supervisor:ops:{SUP_KEY}"), SECRET)


def _get(url: str, token: str | None = None) -> tuple[int, dict | str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if "json" in r.headers.get("Content-Type", "") else body)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def _ws_status(url: str, token: str | None = None) -> int:
    async def go():
        try:
            async with connect(url, additional_headers={"Authorization": f"Token {token}"} if token else None):
                return 101
        except InvalidStatus as e:
            return e.response.status_code

    return run(go())


def _speech():
    audio, rate, ref = clip(LJ2)
    return audio_frames(np.concatenate([audio, silence(1.0, rate)]), rate), rate, ref


# -- pure token logic ---------------------------------------------------------
def test_tokens_sign_scope_and_expire():
    t = mint_token(SECRET, "agent", "alice", "call-1", ttl=60, now=1000)
    assert verify_token(SECRET, t, now=1010)["call"] == "call-1"
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, t, now=2000)
    with pytest.raises(AuthError, match="signature"):
        verify_token("another-secret-0123456789", t, now=1010)
    head, body, sig = t.split(".")
    forged = json.dumps({"sub": "alice", "role": "supervisor", "exp": 10**10}).encode()
    import base64

    forged_b64 = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="signature"):
        verify_token(SECRET, f"{head}.{forged_b64}.{sig}", now=1010)
    with pytest.raises(ValueError):
        mint_token(SECRET, "agent", "alice")  # agents are scoped to one call


def test_open_mode_only_on_loopback():
    assert check_bind("127.0.0.1", Authenticator()) is None
    assert "refusing" in check_bind("0.0.0.0", Authenticator())
    assert check_bind("0.0.0.0", _auth()) is None
    with pytest.raises(ValueError):
        parse_api_keys("softphone:pbx:short")


# -- the server -----------------------------------------------------------------
def test_everything_but_health_needs_credentials(server_factory):
    srv = server_factory(auth=_auth())
    assert _get(f"{srv.http}/healthz")[0] == 200
    for path in ("/v1/calls", "/v1/calls/c1", "/v1/report", "/metrics"):
        code, body = _get(srv.http + path)
        assert code == 401 and "credentials required" in body["err_msg"], path
    assert _ws_status(listen_url(srv.url, encoding="linear16")) == 401
    assert _ws_status(f"{srv.url}/v1/calls/c1/events") == 401
    code, body = _get(f"{srv.http}/v1/calls", "wrong-key-0123456789")
    assert code == 401 and "unknown API key" in body["err_msg"]
    expired = mint_token(SECRET, "supervisor", "sam", ttl=-1)
    code, body = _get(f"{srv.http}/v1/calls", expired)
    assert code == 401 and "expired" in body["err_msg"]


def test_roles_and_call_scopes(server_factory):
    srv = server_factory(auth=_auth())
    agent_a = mint_token(SECRET, "agent", "alice", "call-a")
    sup = mint_token(SECRET, "supervisor", "sam")
    frames, rate, ref = _speech()
    # an agent may not stream; the softphone key may
    assert _ws_status(listen_url(srv.url, call_id="call-a"), agent_a) == 403
    res = run(stream_frames(listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1,
                                       call_id="call-a"), frames, realtime=False,
                            headers={"Authorization": f"Token {PHONE_KEY}"}))
    assert res.close_code == 1000 and wer(ref, res.transcript()) < 0.3
    # the agent reads its own call, not another one; the token also works as ?token=
    assert _get(f"{srv.http}/v1/calls/call-a", agent_a)[0] == 200
    code, body = _get(f"{srv.http}/v1/calls/call-b", agent_a)
    assert code == 403 and "another call" in body["err_msg"]
    assert _ws_status(f"{srv.url}/v1/calls/call-a/events?token={agent_a}") == 101
    assert _ws_status(f"{srv.url}/v1/calls/call-b/events?token={agent_a}") == 403
    # reports and call lists are for supervisors
    assert _get(f"{srv.http}/v1/report", agent_a)[0] == 403
    assert _get(f"{srv.http}/v1/report", sup)[0] == 200
    code, body = _get(f"{srv.http}/v1/calls", SUP_KEY)
    assert code == 200 and [c["call_id"] for c in body["calls"]] == ["call-a"]


def test_a_softphone_token_streams_only_its_call(server_factory):
    srv = server_factory(auth=_auth())
    tok = mint_token(SECRET, "softphone", "phone-7", "call-7")
    assert _ws_status(listen_url(srv.url, call_id="call-8"), tok) == 403
    frames, rate, _ = _speech()
    res = run(stream_frames(listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1),
                            frames, realtime=False, headers={"Authorization": f"Token {tok}"}))
    assert {m["call_id"] for m in res.finals()} == {"call-7"}  # named by its token


def test_secrets_never_reach_the_log(server_factory, caplog):
    srv = server_factory(auth=_auth())
    bad = "totally-wrong-secret-value-42"
    with caplog.at_level(logging.DEBUG):
        _get(f"{srv.http}/v1/calls", bad)
        _get(f"{srv.http}/v1/calls", mint_token("other-secret-0123456789", "supervisor", "x"))
        _ws_status(listen_url(srv.url), bad)
        frames, rate, _ = _speech()
        run(stream_frames(listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1), frames,
                          realtime=False, headers={"Authorization": f"Token {PHONE_KEY}"}))
    text = caplog.text
    assert "denied" in text
    for secret in (bad, PHONE_KEY, SECRET):
        assert secret not in text


def test_concurrent_calls_per_key(server_factory):
    srv = server_factory(auth=_auth(), max_calls_per_key=1)
    frames, rate, _ = _speech()
    hdr = {"Authorization": f"Token {PHONE_KEY}"}
    url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1)

    async def go():
        first = asyncio.create_task(stream_frames(url, frames, realtime=True, speed=2.0, headers=hdr))
        await asyncio.sleep(0.4)
        second = await stream_frames(url, frames[:5], realtime=False, headers=hdr)
        return await first, second

    first, second = run(go())
    assert first.close_code == 1000
    assert second.close_code == 1013 and "limit 1" in second.of_type("Error")[0]["err_msg"]


def test_subscriber_limit_per_call(server_factory):
    srv = server_factory(max_subscribers_per_call=2)

    async def go():
        async with EventsClient(srv.url, "busy-call", wait=True), EventsClient(srv.url, "busy-call", wait=True):
            await asyncio.sleep(0.2)
            third = EventsClient(srv.url, "busy-call", wait=True)
            async with third:
                ev = await third.wait_for(lambda e: e["type"] == "Error", timeout=5)
            return ev, third.ws.close_code

    ev, code = run(go())
    assert ev["err_code"] == "TOO_MANY_SUBSCRIBERS" and code == 1013


def test_audio_faster_than_the_frame_rate_is_slowed_not_refused(server_factory):
    """Past `max_messages_per_s` audio frames are read later (backpressure): the stream
    completes, nothing is refused, it just takes longer than the client wanted."""
    srv = server_factory(max_messages_per_s=50)
    url = listen_url(srv.url, encoding="linear16", sample_rate=16000, channels=1)
    t0 = time.monotonic()
    res = run(stream_frames(url, [b"\x00\x00" * 160] * 200, realtime=False))
    took = time.monotonic() - t0
    assert not res.of_type("Error") and res.close_code == 1000
    assert took >= 1.5  # 2 s of burst, then 100 frames at 50/s
    assert res.of_type("Metadata")[0]["duration"] == 2.0  # every frame was taken


def test_a_control_message_flood_gets_errors_and_the_call_goes_on(server_factory):
    srv = server_factory(max_control_per_s=20)
    url = listen_url(srv.url, encoding="linear16", sample_rate=16000, channels=1)

    async def go():
        async with connect(url) as ws:
            for _ in range(100):
                await ws.send(json.dumps({"type": "KeepAlive"}))
            await ws.send(b"\x00\x00" * 1600)
            await ws.send(json.dumps({"type": "CloseStream"}))
            msgs = [json.loads(m) async for m in ws]
            return msgs, ws.close_code

    msgs, code = run(go())
    errs = [m for m in msgs if m["type"] == "Error"]
    assert all(e["err_code"] == "RATE_LIMITED" for e in errs) and 50 <= len(errs) < 100  # 20 taken at once
    assert code == 1000 and [m for m in msgs if m["type"] == "Metadata"]


def test_metrics_after_a_call(server):
    frames, rate, _ = _speech()
    run(stream_frames(listen_url(server.url, encoding="linear16", sample_rate=rate, channels=1), frames,
                      realtime=True, speed=2.0))
    run(stream_frames(listen_url(server.url, encoding="opus"), [], realtime=False))
    time.sleep(0.3)
    code, text = _get(f"{server.http}/metrics")
    assert code == 200
    values = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines() if ln and not ln.startswith("#")}
    assert values["souffleur_calls_admitted_total"] == 1
    assert values['souffleur_errors_total{code="INVALID_QUERY_PARAMETER"}'] == 1
    assert values["souffleur_final_word_latency_seconds_count"] >= 3
    assert values["souffleur_final_results_total"] >= 1
    assert values['souffleur_inference_queue_wait_seconds_count{kind="final"}'] >= 1


def test_graceful_shutdown_flushes_and_closes_1001(server_factory):
    srv = server_factory(shutdown_grace_s=0)  # cut live calls at once (test_rolling_restart: the grace)
    audio, rate, ref = clip("ljspeech/LJ001-0001.flac")
    frames = audio_frames(audio, rate)
    url = listen_url(srv.url, encoding="linear16", sample_rate=rate, channels=1, call_id="shut-1")

    async def go():
        task = asyncio.create_task(stream_frames(url, frames, realtime=True, speed=2.0))
        await asyncio.sleep(2.5)  # about 5 s of speech sent
        await asyncio.get_running_loop().run_in_executor(None, srv.stop)
        return await task

    res = run(go())
    assert res.close_code == 1001
    codes = [e["err_code"] for e in res.of_type("Error")]
    assert codes[0] == "SHUTTING_DOWN" and set(codes) <= {"SHUTTING_DOWN", "AUDIO_AFTER_CLOSE_STREAM"}
    text = res.transcript()
    assert len(text.split()) >= 8  # what was received before shutdown is transcribed
    assert wer(ref, text) > 0.3  # …but not what was never sent
    assert res.of_type("Metadata")
