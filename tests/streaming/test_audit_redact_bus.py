"""Issue 16: the audit trail learns what the call's stored-log redactor learns, on the
embedded bus and on Redis alike (`audit_learning`, wired by the server): a record naming
the caller, published after an audit record quoted the name, redacts that audit record
in the file; other calls' lines stay byte for byte."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from assist.api import JsonlAuditStore, RedactingAuditStore
from streaming.service.redis_redaction import audit_learning
from tests.assist.test_audit_redact_later import hint, lines_of
from tests.streaming.test_bus_contract import KINDS, make_bus

RECORD = {"type": "Record", "start": 5.0, "channel_index": [1, 2], "channel": {"alternatives": [
    {"transcript": "My name is Quorvath Ndlovu.", "words": []}]}}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_name_the_event_log_learns_leaves_earlier_audit_records(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = RedactingAuditStore(JsonlAuditStore(path))
    call = f"audit-{kind}-{time.time_ns()}"
    async with make_bus(kind) as bus:
        assert audit_learning(bus, audit)
        audit.append(hint(call, 1))
        audit.append(hint("other", 2))
        before = lines_of(path, "other")
        assert b"Quorvath" in b"".join(lines_of(path, call))
        await bus.publish(call, RECORD)
        deadline = time.monotonic() + 5
        while b"Quorvath" in b"".join(lines_of(path, call)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # learnt on a thread: a file is never written on the loop
        history = await bus.history(call)
    assert b"Quorvath" not in b"".join(lines_of(path, call))
    assert lines_of(path, "other") == before
    assert len(JsonlAuditStore(path).records()) == 2
    if kind == "memory":  # the embedded bus stores nothing, redacts nothing: desktops get the words
        assert "Quorvath" in json.dumps(history)


async def test_the_server_wires_its_audit_trail_to_the_bus(tmp_path: Path) -> None:
    """The default assistant's audit trail (data_dir/audit.jsonl) learns from the server's bus."""
    from streaming.asr.base import ScriptedRecognizer
    from streaming.options import AsrOptions, ServerOptions
    from streaming.service.server import SouffleurServer

    srv = SouffleurServer(ServerOptions(port=0, data_dir=str(tmp_path)), AsrOptions(workers=1),
                          recognizer=ScriptedRecognizer(lambda r: []))
    try:
        path = tmp_path / "audit.jsonl"
        srv.assist_factory.audit.append(hint("c", 1))
        await srv.bus.publish("c", RECORD)
        deadline = time.monotonic() + 5
        while b"Quorvath" in path.read_bytes() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert b"Quorvath" not in path.read_bytes()
    finally:
        srv.scheduler.close()
