"""The LLM path against a local OpenAI-compatible server, including its failure modes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assist.engine import AssistSession
from assist.llm import (
    REFINE_SCHEMA,
    LLMConfig,
    LLMError,
    OpenAIChatClient,
    ScriptedLLMClient,
    parse_json,
)
from tests.assist.helpers import script

CALL = ["A: Harbour Bank, how can I help?",
        "C: Hi, I'd like to check my account. My name is Jan Peeters and I am calling from Utrecht.",
        "A: Thanks Jan. What's your date of birth?",
        "C: The third of June, nineteen seventy-nine."]


class FakeLLM:
    """A tiny /v1/chat/completions server; each request takes the next scripted reply."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, object]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                kind, arg = fake.replies.pop(0) if fake.replies else ("status", 503)
                if kind == "sleep":
                    time.sleep(float(arg))  # longer than the client's timeout
                    kind, arg = "content", "{}"
                if kind == "status":
                    self._send(int(arg), {"error": {"message": "boom", "type": "server_error"}})
                    return
                content = arg if isinstance(arg, str) else json.dumps(arg)
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}]})

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    f = FakeLLM()
    yield f
    f.close()


def client(fake: FakeLLM, timeout: float = 5.0) -> OpenAIChatClient:
    return OpenAIChatClient(LLMConfig(base_url=fake.base_url, model="test-model", api_key="k", timeout=timeout))


def session_with(llm, monkeypatch, timeout: float = 5.0) -> AssistSession:
    monkeypatch.setenv("SOUFFLEUR_LLM_TIMEOUT", str(timeout))
    s = AssistSession("llm1", "en", kb=False, llm=llm)
    for seg in script(CALL):
        s.on_segment(seg)
    return s


def notices(events):
    return [e for e in events if e["type"] == "AssistNotice"]


async def test_valid_reply_adds_grounded_value_and_hint(fake, monkeypatch):
    fake.replies.append(("content", {
        "form_values": [{"field": "city", "value": "Utrecht", "confidence": 0.8, "segment_ids": ["t1"]}],
        "hints": [{"text": "Confirm which account the customer means.", "why": "Vague request",
                   "confidence": 0.6, "segment_ids": ["t1"]}]}))
    s = session_with(client(fake), monkeypatch)
    out = await s.refine()
    city = [e for e in out if e["type"] == "FormValue" and e["field"] == "city"]
    assert city and city[0]["value"] == "Utrecht" and city[0]["source"] == "llm"
    assert city[0]["evidence"][0]["segment_id"] == "t1" and city[0]["evidence"][0]["text"] == "Utrecht"
    hint = next(e for e in out if e["type"] == "Hint")
    assert hint["source"] == "llm" and hint["evidence"][0]["segment_id"] == "t1"
    req = fake.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "test-model"
    assert req["auth"] == "Bearer k"
    assert "[t1] customer: Hi, I'd like to check my account." in req["body"]["messages"][1]["content"]


async def test_hallucinated_value_is_dropped(fake, monkeypatch):
    fake.replies.append(("content", {
        "form_values": [{"field": "email", "value": "jan.peeters@example.com", "confidence": 0.95,
                         "segment_ids": ["t1"]}],
        "hints": []}))
    s = session_with(client(fake), monkeypatch)
    out = await s.refine()
    assert not [e for e in out if e["type"] == "FormValue"]
    assert "email" not in s.form_values()
    assert any(n["code"] == "llm_value_dropped" for n in notices(out))


async def test_hint_citing_unknown_segment_is_dropped(fake, monkeypatch):
    fake.replies.append(("content", {"form_values": [], "hints": [
        {"text": "Offer a mortgage review.", "confidence": 0.9, "segment_ids": ["t99"]}]}))
    s = session_with(client(fake), monkeypatch)
    out = await s.refine()
    assert not [e for e in out if e["type"] == "Hint"]
    assert any(n["code"] == "llm_hint_dropped" for n in notices(out))


@pytest.mark.parametrize("reply,code", [
    (("status", 500), "llm_http_error"),
    (("content", "this is not json {"), "llm_bad_json"),
    (("content", {"form_values": "nope"}), "llm_schema_mismatch"),
    (("content", {"form_values": [{"field": "city", "value": "Utrecht"}], "hints": []}), "llm_schema_mismatch"),
])
async def test_failures_fall_back_with_a_notice(fake, monkeypatch, reply, code):
    fake.replies.append(reply)
    s = session_with(client(fake), monkeypatch)
    before = dict(s.form_values())
    out = await s.refine()
    assert [n["code"] for n in notices(out)] == [code]
    assert notices(out)[0]["level"] == "warning"
    assert s.form_values() == before  # the offline result stands


async def test_timeout_is_a_notice_and_fast(fake, monkeypatch):
    fake.replies.append(("sleep", 3.0))
    s = session_with(client(fake, timeout=0.5), monkeypatch, timeout=0.5)
    t0 = time.monotonic()
    out = await s.refine()
    assert time.monotonic() - t0 < 2.5
    assert [n["code"] for n in notices(out)] == ["llm_timeout"]


async def test_unreachable_server_is_a_notice(monkeypatch):
    llm = OpenAIChatClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout=1.0))
    s = session_with(llm, monkeypatch, timeout=1.0)
    out = await s.refine()
    assert [n["code"] for n in notices(out)] in (["llm_unreachable"], ["llm_timeout"])


async def test_summary_refinement_must_cite_real_segments(fake, monkeypatch):
    fake.replies.append(("content", {
        "reason": {"text": "The customer wants to check his account.", "segment_ids": ["t1"]},
        "points": [{"kind": "action", "text": "The agent asked for the date of birth.", "segment_ids": ["t2"]},
                   {"kind": "action", "text": "The agent promised a refund.", "segment_ids": ["t42"]}],
        "text": "Customer Jan Peeters called to check his account."}))
    s = session_with(client(fake), monkeypatch)
    out = await s.afinish()
    offline = next(e for e in out if e["type"] == "Summary" and e["source"] == "offline")
    refined = next(e for e in out if e["type"] == "Summary" and e["source"] == "llm")
    assert refined["replaces"] == offline["id"]
    texts = [p["text"] for p in refined["points"]]
    assert "The agent asked for the date of birth." in texts
    assert "The agent promised a refund." not in texts  # cited a segment that does not exist
    assert all(p["evidence"] for p in refined["points"])
    assert refined["form"] == offline["form"] and refined["escalation"] == offline["escalation"]
    assert any(n["code"] == "llm_point_dropped" for n in notices(out))


async def test_summary_failure_keeps_offline_summary(fake, monkeypatch):
    fake.replies.append(("status", 500))
    s = session_with(client(fake), monkeypatch)
    out = await s.afinish()
    assert [e["source"] for e in out if e["type"] == "Summary"] == ["offline"]
    assert [n["code"] for n in notices(out)] == ["llm_http_error"]


async def test_scripted_client_and_no_llm():
    scripted = ScriptedLLMClient([LLMError("llm_timeout", "slow"),
                                  json.dumps({"form_values": [], "hints": []})])
    s = AssistSession("llm2", "en", kb=False, llm=scripted)
    for seg in script(CALL):
        s.on_segment(seg)
    first = await s.refine()
    assert [n["code"] for n in notices(first)] == ["llm_timeout"]
    assert await s.refine() == []
    assert len(scripted.calls) == 2
    offline = AssistSession("llm3", "en", kb=False)
    offline.on_segment(script(CALL)[1])
    assert await offline.refine() == []


def test_config_from_env(monkeypatch):
    for k in ("SOUFFLEUR_LLM_BASE_URL", "SOUFFLEUR_LLM_MODEL", "SOUFFLEUR_LLM_API_KEY", "SOUFFLEUR_LLM_TIMEOUT"):
        monkeypatch.delenv(k, raising=False)
    assert LLMConfig.from_env() is None and OpenAIChatClient.from_env() is None
    monkeypatch.setenv("SOUFFLEUR_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("SOUFFLEUR_LLM_MODEL", "qwen")
    monkeypatch.setenv("SOUFFLEUR_LLM_TIMEOUT", "7.5")
    cfg = LLMConfig.from_env()
    assert cfg is not None and (cfg.model, cfg.timeout, cfg.api_key) == ("qwen", 7.5, "not-needed")


def test_parse_json_accepts_code_fences_only_around_valid_json():
    data = parse_json('```json\n{"form_values": [], "hints": []}\n```', REFINE_SCHEMA)
    assert data == {"form_values": [], "hints": []}
    with pytest.raises(LLMError) as exc:
        parse_json('{"form_values": [], "hints": [{"text": "x"}]}', REFINE_SCHEMA)
    assert exc.value.code == "llm_schema_mismatch"
