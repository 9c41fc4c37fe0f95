"""Benchmark the agent-assist engine on labelled calls.

    python benchmarks/assist.py                      # ../shared/assist (the dev split)
    python benchmarks/assist.py --calls tests/assist/calls --calls ../shared/assist
    python benchmarks/assist.py --audio              # also from audio, if the streaming core has it
    python benchmarks/assist.py --live ../shared/assist --telephone --only dev_en_01,dev_en_02
                                                     # from audio, live: see benchmarks/_assist_live.py

Prints a table per language and a JSON object with: form precision/recall per
field (assist.evaluation), correction handling, values without evidence, hint
recall (assist.scoring's token/concept matcher - see its docstring for its
limits), escalation accuracy, knowledge-answer hit rate, summary point
coverage, end-sentiment accuracy and per-segment processing time p50/p99.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assist.engine import AssistSession  # noqa: E402
from assist.evaluation import aggregate, correction_report, score_form, values_without_evidence  # noqa: E402
from assist.scoring import hint_recall, knowledge_hits, suggestion_texts, summary_coverage  # noqa: E402
from assist.transcript_io import Transcript, list_calls, load_transcript  # noqa: E402

DEFAULT_CALLS = ROOT.parent / "shared" / "assist"
if not DEFAULT_CALLS.exists():  # the dev calls' labels are kept in the repository too
    DEFAULT_CALLS = ROOT / "tests" / "data" / "assist"
AUDIO_NAMES = ("{cid}.stereo16k.flac", "{cid}.mono8k.wav", "{cid}.stereo16k.wav")


def run_call(t: Transcript) -> dict[str, Any]:
    session = AssistSession(t.call_id, t.language)
    events: list[dict[str, Any]] = []
    for seg in t.segments:
        events += session.on_segment(seg)
    events += session.finish()
    lab = t.labels
    lang = t.language
    suggestions = session.filler.suggestions()
    summary = session.summary or {}
    summary_texts = [p["text"] for p in summary.get("points", [])] + [summary.get("outcome", {}).get("text", "")]
    kb_events = [e for e in events if e["type"] == "KnowledgeAnswer"]
    hints_only = suggestion_texts(events, ["Hint"])
    with_kb = suggestion_texts(events, ["Hint", "KnowledgeAnswer"])
    ungrounded = sum(1 for e in events if e["type"] in ("Hint", "KnowledgeAnswer", "Alert", "FormValue")
                     and not e.get("evidence"))
    ungrounded += sum(1 for p in summary.get("points", []) if not p.get("evidence"))
    return {
        "call_id": t.call_id,
        "language": lang,
        "form_score": score_form(session.form_values(), lab.get("form", {})),
        "form": session.form_values(),
        "corrections": correction_report(suggestions, lab.get("corrections", [])),
        "values_without_evidence": values_without_evidence(suggestions),
        "suggestions_without_evidence": ungrounded,
        "hints": hint_recall(lab.get("expected_hints", []), hints_only, lang),
        "hints_kb": hint_recall(lab.get("expected_hints", []), with_kb, lang),
        "hints_shown": len(hints_only),
        "escalation": {"expected": bool(lab.get("escalation")), "predicted": session.alerts.escalated,
                       "alerts": sorted(a["kind"] for a in session.alerts.raised.values())},
        "sentiment_end": {"expected": lab.get("sentiment_end"),
                          "predicted": session.sentiment.trend("customer")["end_label"]},
        "knowledge": knowledge_hits(lab.get("kb_answers", []), kb_events, lang),
        "summary": summary_coverage(lab.get("summary_points", []), summary_texts, lang),
        "main_intent": {"expected": (lab.get("intents") or [None])[0],
                        "predicted": session.tracker.main_intent()},
        "timings_ms": [x * 1000 for x in session.timings],
    }


def transcripts(folders: Sequence[Path], audio: bool, only: set[str] | None = None) -> list[tuple[Transcript, str]]:
    out = []
    transcribe = _audio_transcriber() if audio else None
    for folder in folders:
        for path in list_calls(folder):
            t = load_transcript(path)
            if not isinstance(t.labels.get("form"), dict) or (only and t.call_id not in only):
                continue
            out.append((t, "text"))
            if transcribe is not None:
                for name in AUDIO_NAMES:
                    a = path.with_name(name.format(cid=t.call_id))
                    if a.exists():
                        segs = transcribe(str(a))
                        out.append((Transcript(t.call_id, t.language, list(segs), t.labels), "audio"))
                        break
    return out


def _audio_transcriber():
    try:
        from streaming.batch.engine import transcribe_to_segments  # type: ignore[import-not-found]
    except ImportError as exc:
        print(f"--audio: streaming.batch.engine.transcribe_to_segments not available ({exc}); text only",
              file=sys.stderr)
        return None
    return transcribe_to_segments


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _pct(x: int | float, n: int | float) -> float:
    return x / n if n else 1.0


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    form = aggregate(r["form_score"] for r in results)
    times = sorted(t for r in results for t in r["timings_ms"]) or [0.0]

    def tot(key: str, sub: str) -> int:
        return sum(r[key][sub] for r in results)

    return {
        "calls": len(results),
        "form": {"precision": round(form["all"]["precision"], 3), "recall": round(form["all"]["recall"], 3),
                 "tp": form["all"]["tp"], "fp": form["all"]["fp"], "fn": form["all"]["fn"],
                 "fields": {f: {"precision": round(v["precision"], 3), "recall": round(v["recall"], 3),
                                "tp": v["tp"], "fp": v["fp"], "fn": v["fn"]}
                            for f, v in form["fields"].items()}},
        "corrections": {"labelled": tot("corrections", "labelled"), "handled": tot("corrections", "handled"),
                        "spurious": tot("corrections", "spurious")},
        "values_without_evidence": sum(r["values_without_evidence"] for r in results),
        "suggestions_without_evidence": sum(r["suggestions_without_evidence"] for r in results),
        "hint_recall": _ratio(tot("hints", "matched"), tot("hints", "expected")),
        "hint_recall_with_kb": _ratio(tot("hints_kb", "matched"), tot("hints_kb", "expected")),
        "hints_per_call": round(statistics.mean(r["hints_shown"] for r in results), 1) if results else 0,
        "escalation_accuracy": _ratio(sum(r["escalation"]["expected"] == r["escalation"]["predicted"]
                                          for r in results), len(results)),
        "sentiment_end_accuracy": _ratio(sum(r["sentiment_end"]["expected"] == r["sentiment_end"]["predicted"]
                                             for r in results), len(results)),
        "main_intent_accuracy": _ratio(sum(r["main_intent"]["expected"] == r["main_intent"]["predicted"]
                                           for r in results), len(results)),
        "kb_doc_hit_rate": _ratio(tot("knowledge", "doc_hits"), tot("knowledge", "questions")),
        "kb_answer_hit_rate": _ratio(tot("knowledge", "answer_hits"), tot("knowledge", "questions")),
        "kb_on_topic_rate": _ratio(tot("knowledge", "shown_on_topic"), tot("knowledge", "shown")),
        "summary_coverage": _ratio(tot("summary", "covered"), tot("summary", "points")),
        "segment_ms_p50": round(statistics.median(times), 2),
        "segment_ms_p99": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
    }


def table(by_group: dict[str, dict[str, Any]]) -> str:
    keys = [("calls", "calls"), ("form precision", ("form", "precision")), ("form recall", ("form", "recall")),
            ("corrections handled", None), ("values w/o evidence", "values_without_evidence"),
            ("suggestions w/o evidence", "suggestions_without_evidence"),
            ("hint recall (hints)", "hint_recall"), ("hint recall (+kb)", "hint_recall_with_kb"),
            ("hints per call", "hints_per_call"), ("escalation accuracy", "escalation_accuracy"),
            ("end sentiment accuracy", "sentiment_end_accuracy"), ("main intent accuracy", "main_intent_accuracy"),
            ("kb doc hit rate", "kb_doc_hit_rate"), ("kb answer hit rate", "kb_answer_hit_rate"),
            ("kb answers on topic", "kb_on_topic_rate"), ("summary coverage", "summary_coverage"),
            ("segment ms p50", "segment_ms_p50"), ("segment ms p99", "segment_ms_p99")]
    groups = list(by_group)
    lines = [f"{'metric':<26}" + "".join(f"{g:>12}" for g in groups)]
    for label, key in keys:
        row = f"{label:<26}"
        for g in groups:
            s = by_group[g]
            if key is None:
                c = s["corrections"]
                val = f"{c['handled']}/{c['labelled']}"
            elif isinstance(key, tuple):
                val = s[key[0]][key[1]]
            else:
                val = s[key]
            row += f"{'-' if val is None else val!s:>12}"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", action="append", type=Path, help="folder of labelled calls (repeatable)")
    ap.add_argument("--audio", action="store_true", help="also run from audio via streaming.batch.engine")
    ap.add_argument("--details", action="store_true", help="include per-call results in the JSON")
    ap.add_argument("--json-only", action="store_true", help="print only the JSON")
    ap.add_argument("--only", help="comma-separated call ids (default: every labelled call)")
    live = ap.add_argument_group("live (from audio through `souffleur serve`, see benchmarks/_assist_live.py)")
    live.add_argument("--live", action="append", metavar="[LABEL=]VOICE_DIR",
                      help="folder of rendered calls (CALLID.stereo16k.flac, .mulaw8k.raw, .timing.json); "
                           "repeatable. Streams every labelled call found there in real time")
    live.add_argument("--telephone", action="store_true",
                      help="also stream each call as a telephony platform records it: 8 kHz mu-law, "
                           "a track per side (300-3400 Hz band), form 'tel8k'")
    live.add_argument("--mono-mix", action="store_true",
                      help="also stream CALLID.mulaw8k.raw, both sides mixed to mono (no speakers: "
                           "the assistant reads every turn as the caller's)")
    live.add_argument("--concurrency", type=int, default=4, help="calls streamed at once (default 4)")
    live.add_argument("--model", help="server --model (default: the server's, bundled tiny.en)")
    live.add_argument("--workers", type=int, help="server --workers (default: the server's, CPU cores)")
    live.add_argument("--speed", type=float, default=1.0,
                      help="pace x real time (default 1; faster only to smoke-test, latencies then mean nothing)")
    live.add_argument("--events-out", help="write every FormValue/Record the desktops got here (JSON lines)")
    args = ap.parse_args(argv)
    folders = args.calls or [DEFAULT_CALLS]
    only = set(args.only.split(",")) if args.only else None
    if args.live:
        return _live(args, folders, only)
    runs = [(run_call(t), src) for t, src in transcripts(folders, args.audio, only)]
    if not runs:
        print("no labelled calls found in " + ", ".join(map(str, folders)), file=sys.stderr)
        return 1
    groups: dict[str, list[dict[str, Any]]] = {}
    for res, src in runs:
        suffix = "" if src == "text" else "/audio"
        groups.setdefault("all" + suffix, []).append(res)
        groups.setdefault(res["language"] + suffix, []).append(res)
    order = sorted(groups, key=lambda g: (g.endswith("/audio"), g != "all" and g != "all/audio", g))
    summary = {g: summarise(groups[g]) for g in order}
    out: dict[str, Any] = {"folders": [str(f) for f in folders], "results": summary}
    if args.details:
        out["calls"] = [{k: v for k, v in r.items() if k != "timings_ms"} for r, _ in runs]
    if not args.json_only:
        print(table(summary))
        print()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _live(args: argparse.Namespace, folders: Sequence[Path], only: set[str] | None) -> int:
    import _assist_live

    calls = []
    for folder in folders:
        for path in list_calls(folder):
            call = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(call.get("form"), dict) and (not only or call["call_id"] in only):
                calls.append(call)
    if not calls:
        print("no labelled calls found in " + ", ".join(map(str, folders)), file=sys.stderr)
        return 1
    out = _assist_live.run(args, calls, ROOT)
    # the same calls from their written transcripts, for reference
    texts = [run_call(t) for t, _ in transcripts(folders, False, {c["call_id"] for c in calls})]
    by_lang = {"all": texts, **{lg: [r for r in texts if r["language"] == lg]
                                for lg in sorted({r["language"] for r in texts})}}
    out["text_reference"] = {g: {k: summarise(rs)["form"][k] for k in ("precision", "recall")}
                             for g, rs in by_lang.items()}
    out["folders"] = [str(f) for f in folders]
    if not args.details:
        for r in out["calls"]:
            r.pop("values", None)
    if not args.json_only:
        print(_assist_live.table(out["results"]))
        s = out["server"]
        print(f"\nserver {' '.join(s['flags'])}, {s['concurrency']} at once, {s['wall_s']} s wall, "
              f"{s['cpu_s_per_audio_s']} CPU s per audio s, peak RSS {s['peak_rss_mb']} MB")
        print("from the written transcripts: " + ", ".join(
            f"{g} P {v['precision']} R {v['recall']}" for g, v in out["text_reference"].items()))
        for r in out["calls"]:
            if r["errors"]:
                print(f"failed: {r['voice']}/{r['form']}/{r['call_id']}: " + "; ".join(
                    str(e.get("err_code") or e) + (f" {e['err_msg'][:100]}" if e.get("err_msg") else "")
                    for e in r["errors"]))
        if out["missing_audio"]:
            print("no audio for: " + ", ".join(out["missing_audio"]))
        print()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
