"""`souffleur analyze` and `souffleur report`.

`add_commands(subparsers)` registers both on the main CLI's argparse
subparsers (streaming/cli.py); `python -m assist.cli ...` works on its own too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assist.analysis import analyze
from assist.feedback import JsonlAuditStore, default_audit_path, report
from assist.knowledge import KnowledgeBase
from assist.transcript_io import Transcript, load_transcript
from assist.types import Segment

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".raw", ".opus", ".webm"}


def add_commands(subparsers: Any,
                 transcribe_audio: Callable[[str], list[Segment]] | None = None) -> None:
    a = subparsers.add_parser("analyze", help="run the assist engine over a transcript or audio file")
    a.add_argument("call", help="transcript JSON ({turns:[{speaker,text}]}, labelled calls too) or audio file")
    a.add_argument("--language", help="en or nl (default: from the file, else en)")
    a.add_argument("--form", default="identity", help="form name or yaml path (default identity)")
    a.add_argument("--kb", help="knowledge-base folder (default $SOUFFLEUR_KB_DIR or prompts/kb)")
    a.add_argument("--llm", action="store_true",
                   help="also run the LLM refinement (needs SOUFFLEUR_LLM_BASE_URL and SOUFFLEUR_LLM_MODEL)")
    a.add_argument("--audit", nargs="?", const="", default=None, metavar="PATH",
                   help="record suggestions in the audit trail (default path $SOUFFLEUR_DATA_DIR/audit.jsonl)")
    a.add_argument("--pretty", action="store_true", help="readable view instead of JSON")
    a.set_defaults(func=cmd_analyze, transcribe_audio=transcribe_audio)

    r = subparsers.add_parser("report", help="acceptance/edit/dismissal rates from the audit trail")
    r.add_argument("--audit", default=None, metavar="PATH", help="audit JSONL (default $SOUFFLEUR_DATA_DIR/audit.jsonl)")
    r.add_argument("--json", action="store_true", help="print the full report as JSON")
    r.set_defaults(func=cmd_report)


# ---------------------------------------------------------------- analyze


def load_input(path: str, language: str | None = None,
               transcribe_audio: Callable[[str], list[Segment]] | None = None) -> Transcript:
    """A transcript file, or audio through `transcribe_audio` (the CLI passes the streaming
    core's batch transcriber; the assistant itself never touches audio)."""
    p = Path(path)
    if p.suffix.lower() in AUDIO_SUFFIXES:
        if transcribe_audio is None:
            raise SystemExit(f"cannot transcribe {p.name}: audio needs the streaming core "
                             "(run `souffleur analyze`, not `python -m assist.cli`); "
                             "or pass a transcript JSON instead")
        segments: list[Segment] = list(transcribe_audio(str(p)))
        lang = language or (segments[0].language if segments else "en")
        return Transcript(p.stem, lang, segments, {})
    t = load_transcript(p)
    if language:
        t.language = language
    return t


def render_pretty(result: dict[str, Any], transcript: Transcript) -> str:
    by_seg: dict[str, list[dict[str, Any]]] = {}
    for e in result["events"]:
        by_seg.setdefault(e.get("at_segment", "end"), []).append(e)
    lines = [f"call {result['call_id']} ({result['language']})", ""]
    for seg in transcript.segments:
        lines.append(f"[{seg.segment_id}] {seg.speaker:>8}: {seg.text}")
        for e in by_seg.get(seg.segment_id, []):
            line = _pretty_event(e)
            if line:
                lines.append(f"{'':14}{line}")
    lines += ["", "FORM"] + [f"  {k}: {v}" for k, v in result["form"].items()]
    if result["summary"]:
        lines += ["", "SUMMARY", *("  " + x for x in result["summary"]["text"].splitlines())]
    s = result["stats"]
    lines += ["", f"{s['segments']} segments, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms per segment"]
    return "\n".join(lines)


def _pretty_event(e: dict[str, Any]) -> str | None:
    t = e["type"]
    if t == "FormValue":
        fix = " (correction)" if e.get("correction") else ""
        return f"-> FORM {e['field']} = {e['value']}{fix}  [{e['confidence']:.2f}]"
    if t == "Hint" and e.get("status") == "done":
        return f"-> done: {e['text']}"
    if t == "Hint":
        return f"-> HINT {e['text']}  [{e['confidence']:.2f}]"
    if t == "KnowledgeAnswer":
        return f"-> KB {e['doc']} > {e['heading'] or e['title']}: {e['text']}  [{e['confidence']:.2f}]"
    if t == "Alert":
        return f"-> ALERT {e['severity']} {e['text']}"
    if t == "AssistNotice":
        return f"-> NOTICE {e['level']} {e['code']}: {e['message']}"
    return None


def cmd_analyze(args: argparse.Namespace) -> int:
    transcript = load_input(args.call, args.language, getattr(args, "transcribe_audio", None))
    kb = KnowledgeBase.from_dir(args.kb) if args.kb else None
    audit = None
    if args.audit is not None:
        audit = JsonlAuditStore(args.audit or default_audit_path())
    result = analyze(transcript, form=args.form, kb=kb, use_llm=args.llm, audit=audit)
    if args.pretty:
        print(render_pretty(result, transcript))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


# ---------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    path = Path(args.audit) if args.audit else default_audit_path()
    rep = report(JsonlAuditStore(path))
    if args.json:
        print(json.dumps(rep, ensure_ascii=False, indent=2))
    else:
        print(f"audit trail: {path} ({rep['calls']} calls)")
        print(rep["table"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assist.cli", description="Souffleur agent assist")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
