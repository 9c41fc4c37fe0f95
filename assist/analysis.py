"""One call through the assistant, start to end: the offline path behind `souffleur analyze`,
batch `--summary` and the benchmarks. Pure: it reads a `Transcript`, never audio."""

from __future__ import annotations

import asyncio
import statistics
import sys
from typing import Any

from assist.engine import AssistSession
from assist.feedback import MemoryAuditStore
from assist.knowledge import KnowledgeBase
from assist.llm import client_from_env
from assist.transcript_io import Transcript


def analyze(transcript: Transcript, *, form: str = "identity", kb: KnowledgeBase | None = None,
            use_llm: bool = False, audit: Any = None) -> dict[str, Any]:
    """Run one call through a session; returns the CLI's JSON result."""
    llm = client_from_env() if use_llm else None
    if use_llm and llm is None:
        print("warning: --llm given but SOUFFLEUR_LLM_BASE_URL/SOUFFLEUR_LLM_MODEL not set; offline only",
              file=sys.stderr)
    session = AssistSession(transcript.call_id, transcript.language, form=form, kb=kb, llm=llm,
                            audit=audit if audit is not None else MemoryAuditStore())
    events: list[dict[str, Any]] = []
    for seg in transcript.segments:
        for e in session.on_segment(seg):
            events.append({**e, "at_segment": seg.segment_id})
    if llm is not None:
        events += asyncio.run(_llm_pass(session))
    else:
        events += session.finish()
    return result_of(session, events)


async def _llm_pass(session: AssistSession) -> list[dict[str, Any]]:
    return await session.refine() + await session.afinish()


def result_of(session: AssistSession, events: list[dict[str, Any]]) -> dict[str, Any]:
    ms = sorted(t * 1000 for t in session.timings) or [0.0]
    summaries = [e for e in events if e["type"] == "Summary"]
    return {
        "call_id": session.call_id,
        "language": session.language,
        "form": session.form_values(),
        "suggestions": [e for e in events if e["type"] in ("Hint", "KnowledgeAnswer")
                        and e.get("status") != "done"],
        "alerts": [e for e in events if e["type"] == "Alert"],
        "summary": summaries[-1] if summaries else None,
        "escalation": session.alerts.escalated,
        "events": events,
        "stats": {"segments": len(session.timings), "p50_ms": round(statistics.median(ms), 2),
                  "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)},
    }
