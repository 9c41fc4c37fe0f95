"""`souffleur demo`: the bundled call, the printed URLs, credentials when auth is on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from streaming.demo import DEMO_CALL, credentials, page_urls
from streaming.service.auth import Authenticator, verify_token

ROOT = Path(__file__).resolve().parents[2]


def test_the_bundled_call_is_in_the_package_and_small():
    info = sf.info(str(DEMO_CALL))
    assert info.channels == 2 and info.samplerate == 16000 and 60 < info.duration < 120
    assert DEMO_CALL.stat().st_size < 1_500_000
    script = json.loads((DEMO_CALL.parent / "call.json").read_text())
    assert {t["speaker"] for t in script["turns"]} == {"agent", "customer"}
    assert set(script["form"]) >= {"full_name", "date_of_birth", "phone_number", "email"}
    assert (ROOT / "prompts" / "kb" / script["kb_answer"]).exists()


def test_urls_and_tokens():
    assert page_urls("0.0.0.0", 8765, "demo 1") == (
        "http://127.0.0.1:8765/agent?call_id=demo%201", "http://127.0.0.1:8765/supervisor")
    assert credentials(Authenticator(), "c") == (None, "", "")
    headers, agent, sup = credentials(Authenticator(token_secret="s3cret"), "c")
    assert headers["Authorization"].startswith("Token v1.")
    phone = verify_token("s3cret", headers["Authorization"].split()[1])
    assert (phone["role"], phone["call"]) == ("softphone", "c")
    assert verify_token("s3cret", agent)["role"] == "agent" and verify_token("s3cret", agent)["call"] == "c"
    assert verify_token("s3cret", sup)["role"] == "supervisor"
    url, _ = page_urls("127.0.0.1", 1, "c", agent, sup)
    assert url.endswith(f"&token={agent}")


def test_demo_streams_the_call_and_the_assistant_summarises_it(tmp_path):
    env = {**os.environ, "SOUFFLEUR_API_KEYS": "", "SOUFFLEUR_TOKEN_SECRET": ""}
    p = subprocess.run([sys.executable, "-m", "streaming.cli", "--log-format", "text", "demo", "--port", "0",
                        "--delay", "0", "--speed", "6", "--exit", "--quiet", "--call-id", "demo-test",
                        "--data-dir", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "agent overlay: http://127.0.0.1:" in p.stdout and "/agent?call_id=demo-test" in p.stdout
    assert "supervisor:    http://127.0.0.1:" in p.stdout
    assert "Call demo-test ended; the summary is on the overlay." in p.stdout
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    kinds = {r.get("suggestion_type") for r in audit if r.get("kind") == "suggestion"}
    assert {"FormValue", "Summary"} <= kinds  # assisted, not only transcribed
