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
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from assist.controls import Control, ControlError

SUGGESTION_TYPES = ("FormValue", "Hint", "KnowledgeAnswer", "Summary")
ACTIONS = ("accept", "edit", "dismiss")
# report section -> the control target kind that fixes one of its rows (assist.controls)
FIX_TARGETS = {"form": "field", "hints": "hint", "knowledge": "kb"}
EXAMPLES = 3  # evidence examples per ranked row


# a record as stored -> the record to store instead (the same object: unchanged)
Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


class AuditStore(Protocol):
    def append(self, record: dict[str, Any]) -> None: ...

    def records(self, call_id: str | None = None) -> list[dict[str, Any]]: ...


class RewritableAuditStore(AuditStore, Protocol):
    """A store whose records of one call can be replaced: what the redactor learns late
    (a name the form captures at the end) is removed from records written before."""

    def rewrite(self, call_id: str, fn: Rewrite) -> int:
        """Replace each record of `call_id` by `fn(record)`; returns how many changed."""


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

    def rewrite(self, call_id: str, fn: Rewrite) -> int:
        """In place, under the lock: no reader sees a record both ways."""
        changed = 0
        with self._lock:
            for i, rec in enumerate(self._records):
                if rec.get("call_id") != call_id:
                    continue
                new = json.loads(json.dumps(fn(json.loads(json.dumps(rec))), default=str))
                if new != rec:
                    self._records[i] = new
                    changed += 1
        return changed


class _FileState:
    """What every `JsonlAuditStore` of one file in this process shares: one lock (the
    server's assistant and its supervisor controls append to the same file, and a
    rewrite replaces the file under both) and where each call's first line is, so a
    rewrite parses only the tail of the file from there."""

    MAX_CALLS = 5000

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.first: OrderedDict[str, int] = OrderedDict()  # call_id -> byte offset of its first line

    def saw(self, call_id: str, offset: int) -> None:
        if call_id and call_id not in self.first:
            self.first[call_id] = offset
            while len(self.first) > self.MAX_CALLS:
                self.first.popitem(last=False)


_FILES: dict[Path, _FileState] = {}
# a line's call id, as `json.dumps` writes it (the record's own comes before its event's)
_CALL_ID = re.compile(rb'"call_id": "([^"\\]*)"')
_FILES_LOCK = threading.Lock()


def _file_state(path: Path) -> _FileState:
    with _FILES_LOCK:
        return _FILES.setdefault(path.absolute(), _FileState())


class JsonlAuditStore:
    """Append-only JSON lines file; one record per line, flushed on every write.

    Why JSONL: appends are atomic enough for one process, the file survives a
    crash mid-call, and it is trivially greppable by an auditor. `rewrite` (the
    retroactive redaction) replaces the file whole (a temp file, then `os.replace`), so a
    crash leaves the old file or the new one, never half of each; it assumes one
    process writes the file (the server's `--data-dir` is its own).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._state = _file_state(self.path)
        self._lock = self._state.lock

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                self._state.saw(str(record.get("call_id") or ""), fh.tell())
                fh.write((line + "\n").encode("utf-8"))

    def rewrite(self, call_id: str, fn: Rewrite) -> int:
        """Replace the lines of `call_id` by `fn(record)`; every other line is kept byte for
        byte (a torn line too). Lines before the call's first one are copied unread."""
        with self._lock:
            if not self.path.exists():
                return 0
            if call_id not in self._state.first:
                # This process wrote no line of the call (learning comes while a call runs,
                # and its records are written here): nothing to redo, and no reason to read
                # an audit file that only grows.
                return 0
            with self.path.open("rb") as fh:
                start = self._start(fh, call_id)
                fh.seek(start)
                tail = fh.read().split(b"\n")
            out: list[bytes] = []
            changed = 0
            for raw in tail:
                out.append(raw)
                if call_id.encode("utf-8") not in raw:  # cheap test first: most lines are others'
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or rec.get("call_id") != call_id:
                    continue
                new = fn(json.loads(raw))
                if new != rec:
                    out[-1] = json.dumps(new, ensure_ascii=False, default=str).encode("utf-8")
                    changed += 1
            if changed:
                self._replace(start, out)
            return changed

    def _start(self, fh: Any, call_id: str) -> int:
        """Where the call's first line (this process wrote it) is, if it is still there;
        else 0 (the whole file is read)."""
        at = self._state.first[call_id]
        if at > 0:
            fh.seek(at - 1)
            if fh.read(1) != b"\n":
                return 0
        fh.seek(at)
        try:
            ok = json.loads(fh.readline()).get("call_id") == call_id
        except (ValueError, AttributeError):
            ok = False
        return at if ok else 0

    def _replace(self, start: int, tail: list[bytes]) -> None:
        """The file's first `start` bytes, then `tail`, swapped in atomically; the calls
        whose first line lies in the tail learn where it is now."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        moved: dict[str, int] = {}
        try:
            with self.path.open("rb") as src, tmp.open("wb") as dst:
                left = start
                while left > 0:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    dst.write(chunk)
                    left -= len(chunk)
                pos = start
                for i, line in enumerate(tail):
                    m = _CALL_ID.search(line)
                    if m is not None:
                        moved.setdefault(m.group(1).decode("utf-8", "replace"), pos)
                    dst.write(line if i == len(tail) - 1 else line + b"\n")
                    pos += len(line) + 1
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(tmp, stat.S_IMODE(os.stat(self.path).st_mode))  # as private as it was
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        for cid, pos in moved.items():
            if self._state.first.get(cid, -1) >= start:
                self._state.first[cid] = pos

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


def report(store: AuditStore | Iterable[dict[str, Any]],
           controls: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """Acceptance, edit (correction) and dismissal rates per field, hint rule and document.

    Rates are over suggestions *shown*; a suggestion's final verdict counts (an
    accept later edited is an edit). Suggestions without feedback count as
    'no feedback', so a low acceptance rate is not confused with rejection.

    `ranked`: the rows agents dismiss or correct most, each with a few examples (what
    was suggested, the words it came from) and the control target that would fix it.
    `controls`: every supervisor control (from the trail's `control` records, plus
    `controls` given: the ones in force) with the acceptance of its target before and
    after it was set (and until it was removed).
    """
    records = store.records() if hasattr(store, "records") else list(store)  # type: ignore[union-attr]
    shown: dict[tuple[str, str], dict[str, Any]] = {}  # (call, sid) -> {type, key, ts, event}
    verdict: dict[tuple[str, str], str] = {}
    for r in records:
        sid = (str(r.get("call_id", "")), str(r.get("suggestion_id", "")))
        if r.get("kind") == "suggestion":
            if sid not in shown:
                shown[sid] = {"type": r.get("suggestion_type", "?"), "key": r.get("key", "?"),
                              "ts": r.get("ts"), "event": r.get("event") or {}}
        elif r.get("kind") == "feedback" and r.get("action") in ACTIONS:
            verdict[sid] = r["action"]
            shown.setdefault(sid, {"type": r.get("suggestion_type", "?"), "key": r.get("key", "?"),
                                   "ts": r.get("ts"), "event": {}})

    groups: dict[str, dict[str, dict[str, int]]] = {}
    for sid, info in shown.items():
        row = groups.setdefault(info["type"], {}).setdefault(
            info["key"], {"shown": 0, "accept": 0, "edit": 0, "dismiss": 0, "none": 0})
        row["shown"] += 1
        row[verdict.get(sid, "none")] += 1

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
    out["ranked"] = _ranked(out, shown, verdict)
    out["controls"] = _control_effects(records, list(controls), shown, verdict)
    out["table"] = format_table(out)
    return out


def rates(row: dict[str, int]) -> dict[str, Any]:
    n = row["shown"] or 1
    return {**row, "acceptance_rate": round(row["accept"] / n, 3),
            "edit_rate": round(row["edit"] / n, 3), "dismissal_rate": round(row["dismiss"] / n, 3),
            "feedback_rate": round((n - row["none"]) / n, 3) if row["shown"] else 0.0}


_TYPE_OF = {"form": "FormValue", "hints": "Hint", "knowledge": "KnowledgeAnswer"}


def _ranked(rep: dict[str, Any], shown: dict[tuple[str, str], dict[str, Any]],
            verdict: dict[tuple[str, str], str], limit: int = 10) -> list[dict[str, Any]]:
    """Rows with dismissals or corrections, most first, with examples and the control that fixes them."""
    rows = []
    for section, target in FIX_TARGETS.items():
        for key, row in rep[section].items():
            bad = row["dismiss"] + row["edit"]
            if not bad:
                continue
            examples = []
            for sid, info in shown.items():
                if len(examples) >= EXAMPLES:
                    break
                if info["type"] != _TYPE_OF[section] or info["key"] != key \
                        or verdict.get(sid) not in ("dismiss", "edit"):
                    continue
                e = info["event"]
                examples.append({"call_id": sid[0], "suggestion_id": sid[1], "action": verdict[sid],
                                 "suggested": str(e.get("value", e.get("text", "")))[:200],
                                 "evidence": [str(ev.get("text", ""))[:200] for ev in e.get("evidence", [])[:2]]})
            rows.append({"section": section, "key": key, "target": target, "target_id": key,
                         "shown": row["shown"], "dismiss": row["dismiss"], "edit": row["edit"],
                         "bad_rate": round(bad / row["shown"], 3) if row["shown"] else 0.0,
                         "examples": examples})
    rows.sort(key=lambda r: (-(r["dismiss"] + r["edit"]), -r["bad_rate"], r["section"], r["key"]))
    return rows[:limit]


def _matches(c: Control, info: dict[str, Any]) -> bool:
    """Whether a shown suggestion (or alert) is about the control's target."""
    t, key, e = info["type"], str(info["key"]), info["event"]
    if c.target == "field":
        return t == "FormValue" and c.covers("field", key)
    if c.target == "hint":
        return t == "Hint" and c.covers("hint", key)
    if c.target == "playbook":
        return t == "Hint" and c.covers("playbook", str(e.get("playbook", "")))
    if c.target == "kb":
        return t == "KnowledgeAnswer" and c.covers("kb", key)
    if c.target == "alert" and t == "Alert":
        kind = str(e.get("kind", "")) + (f".{e['subkind']}" if e.get("subkind") else "")
        return c.covers("alert", kind)
    return False


def _control_effects(records: list[dict[str, Any]], current: list[dict[str, Any]],
                     shown: dict[tuple[str, str], dict[str, Any]],
                     verdict: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    """Per control: acceptance of its target before it was set and while it was in force."""
    found: dict[str, Control] = {}
    removed: dict[str, dict[str, Any]] = {}
    alerts = {(str(r.get("call_id", "")), str(r.get("suggestion_id", ""))):
              {"type": "Alert", "key": "", "ts": r.get("ts"), "event": r.get("event") or {}}
              for r in records if r.get("kind") == "alert"}
    for item in [*(r.get("control") for r in records if r.get("kind") == "control"
                   and r.get("op") == "add"), *current]:
        try:
            c = Control.from_dict(item or {})
        except ControlError:
            continue
        found.setdefault(c.id, c)
    for r in records:
        if r.get("kind") == "control" and r.get("op") == "remove":
            cid = str((r.get("control") or {}).get("id", ""))
            removed[cid] = {"when": r.get("ts"), "who": r.get("who", ""), "why": r.get("why", "")}
    out = []
    for c in sorted(found.values(), key=lambda c: (c.when, c.id)):
        until = float(removed[c.id]["when"]) if c.id in removed and removed[c.id]["when"] else float("inf")
        before = {"shown": 0, "accept": 0, "edit": 0, "dismiss": 0, "none": 0}
        after = dict(before)
        for sid, info in [*shown.items(), *alerts.items()]:
            ts = info["ts"]
            if ts is None or not _matches(c, info):
                continue
            side = before if float(ts) < c.when else after if float(ts) < until else None
            if side is not None:
                side["shown"] += 1
                side[verdict.get(sid, "none")] += 1
        out.append({"control": c.to_dict(), "label": c.label(), "removed": removed.get(c.id),
                    "before": rates(before), "after": rates(after)})
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
    if rep.get("controls"):
        lines.append("")
        lines.append(f"{'control':<44} {'by':<12} {'before: shown':>13} {'accept':>7} "
                     f"{'after: shown':>13} {'accept':>7}")
        for row in rep["controls"]:
            b, a, c = row["before"], row["after"], row["control"]
            label = row["label"] + (" [removed]" if row.get("removed") else "")
            lines.append(f"{label[:44]:<44} {str(c.get('who', ''))[:12]:<12} {b['shown']:>13} "
                         f"{b['acceptance_rate']:>7.0%} {a['shown']:>13} {a['acceptance_rate']:>7.0%}")
    return "\n".join(lines)
