"""Human in charge: the audit trail of suggestions and agent feedback, and its report.

Every suggestion shown and every accept/edit/dismiss is appended to an
`AuditStore`, so supervisors can see what the assistant proposed, what the
agent did with it, and which suggestions are trusted or ignored. The store is
a tiny interface (append, records) so Redis or a database can replace the
embedded JSONL file without touching the engine.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

SUGGESTION_TYPES = ("FormValue", "Hint", "KnowledgeAnswer", "Summary")
ACTIONS = ("accept", "edit", "dismiss")


class AuditStore(Protocol):
    def append(self, record: dict[str, Any]) -> None: ...

    def records(self, call_id: str | None = None) -> list[dict[str, Any]]: ...


class MemoryAuditStore:
    """For tests and for running without persistence."""

    def __init__(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(json.loads(json.dumps(record, default=str)))

    def records(self, call_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._records if call_id is None or r.get("call_id") == call_id]


class JsonlAuditStore:
    """Append-only JSON lines file; one record per line, flushed on every write.

    Why JSONL: appends are atomic enough for one process, the file survives a
    crash mid-call, and it is trivially greppable by an auditor.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def records(self, call_id: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash must not hide the rest
                if call_id is None or rec.get("call_id") == call_id:
                    out.append(rec)
        return out


def default_audit_path() -> Path:
    return Path(os.environ.get("SOUFFLEUR_DATA_DIR") or "./souffleur-data") / "audit.jsonl"


def default_audit_store() -> JsonlAuditStore:
    return JsonlAuditStore(default_audit_path())


def suggestion_key(event: dict[str, Any]) -> str:
    """What a suggestion is 'about', for grouping the report: field, rule or document."""
    t = event.get("type")
    if t == "FormValue":
        return str(event.get("field", "?"))
    if t == "Hint":
        return str(event.get("rule", "?"))
    if t == "KnowledgeAnswer":
        return str(event.get("doc", "?"))
    return str(t or "?").lower()


# ---------------------------------------------------------------- report


def report(store: AuditStore | Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Acceptance, edit (correction) and dismissal rates per field, hint rule and document.

    Rates are over suggestions *shown*; a suggestion's final verdict counts (an
    accept later edited is an edit). Suggestions without feedback count as
    'no feedback', so a low acceptance rate is not confused with rejection.
    """
    records = store.records() if hasattr(store, "records") else list(store)  # type: ignore[union-attr]
    shown: dict[tuple[str, str], dict[str, str]] = {}  # (call, sid) -> {type, key}
    verdict: dict[tuple[str, str], str] = {}
    for r in records:
        sid = (str(r.get("call_id", "")), str(r.get("suggestion_id", "")))
        if r.get("kind") == "suggestion":
            if sid not in shown:
                shown[sid] = {"type": r.get("suggestion_type", "?"), "key": r.get("key", "?")}
        elif r.get("kind") == "feedback" and r.get("action") in ACTIONS:
            verdict[sid] = r["action"]
            shown.setdefault(sid, {"type": r.get("suggestion_type", "?"), "key": r.get("key", "?")})

    groups: dict[str, dict[str, dict[str, int]]] = {}
    for sid, info in shown.items():
        row = groups.setdefault(info["type"], {}).setdefault(
            info["key"], {"shown": 0, "accept": 0, "edit": 0, "dismiss": 0, "none": 0})
        row["shown"] += 1
        row[verdict.get(sid, "none")] += 1

    def rates(row: dict[str, int]) -> dict[str, Any]:
        n = row["shown"] or 1
        return {**row, "acceptance_rate": round(row["accept"] / n, 3),
                "edit_rate": round(row["edit"] / n, 3), "dismissal_rate": round(row["dismiss"] / n, 3),
                "feedback_rate": round((n - row["none"]) / n, 3) if row["shown"] else 0.0}

    out: dict[str, Any] = {
        "form": {k: rates(v) for k, v in sorted(groups.get("FormValue", {}).items())},
        "hints": {k: rates(v) for k, v in sorted(groups.get("Hint", {}).items())},
        "knowledge": {k: rates(v) for k, v in sorted(groups.get("KnowledgeAnswer", {}).items())},
        "summary": {k: rates(v) for k, v in sorted(groups.get("Summary", {}).items())},
    }
    totals = {"shown": 0, "accept": 0, "edit": 0, "dismiss": 0, "none": 0}
    for group in groups.values():
        for row in group.values():
            for k in totals:
                totals[k] += row[k]
    out["totals"] = rates(totals)
    out["calls"] = len({c for c, _ in shown})
    out["table"] = format_table(out)
    return out


def format_table(rep: dict[str, Any]) -> str:
    lines = [f"{'kind':<10} {'key':<34} {'shown':>5} {'accept':>7} {'edit':>6} {'dismiss':>8} {'none':>5}"]
    for kind, label in (("form", "field"), ("hints", "hint"), ("knowledge", "kb"), ("summary", "summary")):
        for key, row in rep.get(kind, {}).items():
            lines.append(f"{label:<10} {key[:34]:<34} {row['shown']:>5} {row['acceptance_rate']:>7.0%} "
                         f"{row['edit_rate']:>6.0%} {row['dismissal_rate']:>8.0%} {row['none']:>5}")
    t = rep.get("totals", {})
    if t:
        lines.append(f"{'total':<10} {'':<34} {t['shown']:>5} {t['acceptance_rate']:>7.0%} "
                     f"{t['edit_rate']:>6.0%} {t['dismissal_rate']:>8.0%} {t['none']:>5}")
    return "\n".join(lines)
