"""What a supervisor's mute does to the false-suggestion rate, on labelled calls (text).

    python benchmarks/controls.py                       # pick on the dev calls, measure on dev + held-out
    python benchmarks/controls.py --top 2 --json-only

1. Replay the labelled calls (`--pick`, default the dev split) through `AssistSession`
   with simulated agent feedback: a hint that matches one of the call's `expected_hints`
   (assist.scoring's matcher, the one benchmarks/assist.py uses) is accepted, any other
   hint is dismissed; a form value equal to the label is accepted, a different one edited,
   a field the labels do not fill dismissed; a knowledge answer from a labelled document
   is accepted, another dismissed. Every suggestion and verdict goes to an audit trail.
2. `assist.feedback.report` ranks what the agents dismissed; the `--top` hint rules
   dismissed most are muted (`assist.controls`), as a supervisor would from the report.
3. Replay again with the mute, and report per call set (`--pick` and each `--measure`)
   the false-suggestion rate (dismissed / shown, all suggestions and hints alone) before
   and after, the expected hints matched (what the mute cost), false escalations, and the
   report's before/after row for the control.

The held-out sets (tests/assist/heldout, heldout2) were never used to choose the rule:
their before/after is the out-of-sample figure; the dev figure is in-sample by design.
The matcher rewards shared words, not meaning (assist/scoring.py says so): a correct hint
worded differently counts as dismissed, and the other way round.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _paths  # noqa: F401

from assist.controls import Control, ControlSet
from assist.engine import AssistSession
from assist.feedback import MemoryAuditStore, report
from assist.scoring import HINT_THRESHOLD, best_match
from assist.transcript_io import Transcript, list_calls, load_transcript
from assist.types import Feedback

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tests" / "data" / "assist"
HELDOUT = [ROOT / "tests" / "assist" / "heldout", ROOT / "tests" / "assist" / "heldout2"]


def verdict(e: dict[str, Any], t: Transcript) -> tuple[str, str | None]:
    """What a careful agent who knows the call's labels does with a suggestion."""
    lab = t.labels
    if e["type"] == "Hint":
        text = " ".join(str(e.get(k, "")) for k in ("text", "why"))
        score = max((best_match(x, [text], t.language)[0] for x in lab.get("expected_hints", [])), default=0.0)
        return ("accept", None) if score >= HINT_THRESHOLD else ("dismiss", None)
    if e["type"] == "FormValue":
        want = lab.get("form", {}).get(e["field"])
        if want is None:
            return "dismiss", None
        return ("accept", None) if str(e["value"]) == str(want) else ("edit", str(want))
    if e["type"] == "KnowledgeAnswer":
        docs = {k["doc"].split("/")[-1] for k in lab.get("kb_answers", [])}
        return ("accept", None) if e["doc"] in docs else ("dismiss", None)
    return "none", None


def replay(calls: Sequence[Transcript], controls: ControlSet, audit: MemoryAuditStore,
           clock: list[float]) -> dict[str, Any]:
    shown = {"all": 0, "hints": 0}
    dismissed = {"all": 0, "hints": 0}
    matched = expected = false_escalations = 0
    for t in calls:
        s = AssistSession(t.call_id, t.language, audit=audit, controls=controls, clock=lambda: clock[0])
        hint_texts: list[str] = []
        for seg in t.segments:
            clock[0] += 1.0
            for e in s.on_segment(seg):
                if e["type"] not in ("Hint", "FormValue", "KnowledgeAnswer") or e.get("status") == "done":
                    continue
                if e["type"] == "FormValue" and e.get("status") not in (None, "proposed"):
                    continue
                action, value = verdict(e, t)
                if e["type"] == "Hint":
                    hint_texts.append(" ".join(str(e.get(k, "")) for k in ("text", "why")))
                shown["all"] += 1
                shown["hints"] += e["type"] == "Hint"
                if action == "dismiss":
                    dismissed["all"] += 1
                    dismissed["hints"] += e["type"] == "Hint"
                s.on_feedback(Feedback(e["id"], action, value))  # type: ignore[arg-type]
        s.finish()
        for x in t.labels.get("expected_hints", []):
            expected += 1
            matched += best_match(x, hint_texts, t.language)[0] >= HINT_THRESHOLD
        false_escalations += bool(s.alerts.escalated and not t.labels.get("escalation"))
    return {
        "calls": len(calls), "shown": shown["all"], "dismissed": dismissed["all"],
        "false_rate": round(dismissed["all"] / shown["all"], 3) if shown["all"] else None,
        "hints_shown": shown["hints"], "hints_dismissed": dismissed["hints"],
        "hint_false_rate": round(dismissed["hints"] / shown["hints"], 3) if shown["hints"] else None,
        "expected_hints": expected, "expected_matched": matched, "false_escalations": false_escalations,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pick", type=Path, default=DEV, help="calls whose feedback chooses the rule to mute")
    ap.add_argument("--measure", type=Path, action="append", default=None,
                    help="other call sets to measure before/after on (default: the held-out sets)")
    ap.add_argument("--top", type=int, default=1, help="how many of the most-dismissed hint rules to mute")
    ap.add_argument("--json-only", action="store_true")
    args = ap.parse_args(argv)
    sets = {args.pick.name if args.pick != DEV else "dev": args.pick}
    for d in args.measure if args.measure is not None else HELDOUT:
        sets[d.name] = d
    calls = {name: [load_transcript(p) for p in list_calls(d)] for name, d in sets.items()}
    pick_name = next(iter(sets))

    clock = [1_000_000.0]
    audit = MemoryAuditStore()
    before = {name: replay(cs, ControlSet(), audit if name == pick_name else MemoryAuditStore(), clock)
              for name, cs in calls.items()}
    rep = report(audit)
    ranked = sorted(((k, r) for k, r in rep["hints"].items() if r["dismiss"]),
                    key=lambda kr: (-kr[1]["dismiss"], -kr[1]["dismissal_rate"], kr[0]))
    muted = [k for k, _ in ranked[:args.top]]
    controls = ControlSet(tuple(Control.from_dict(
        {"target": "hint", "target_id": k, "action": "mute",
         "why": f"dismissed {rep['hints'][k]['dismiss']} of {rep['hints'][k]['shown']} times on {pick_name}"},
        who="benchmark", when=clock[0]) for k in muted))
    for c in controls.controls:
        audit.append({"kind": "control", "op": "add", "ts": c.when, "who": c.who, "why": c.why,
                      "control": c.to_dict()})
    after = {name: replay(cs, controls, audit if name == pick_name else MemoryAuditStore(), clock)
             for name, cs in calls.items()}
    effects = report(audit, controls=controls.to_list())["controls"]
    out = {
        "muted": [{"rule": k, **{x: rep["hints"][k][x] for x in ("shown", "dismiss", "dismissal_rate")}}
                  for k in muted],
        "most_dismissed": [{"rule": k, "shown": r["shown"], "dismiss": r["dismiss"]} for k, r in ranked[:8]],
        "sets": {name: {"before": before[name], "after": after[name]} for name in calls},
        "report_controls": [{"label": e["label"], "before": e["before"], "after": e["after"]} for e in effects],
    }
    if not args.json_only:
        print(f"muted (most dismissed on {pick_name}): " + ", ".join(
            f"{m['rule']} ({m['dismiss']}/{m['shown']} dismissed)" for m in out["muted"]))
        print(f"{'set':<10} {'calls':>5} {'shown b/a':>11} {'false rate b/a':>16} "
              f"{'hint false b/a':>16} {'expected hints matched b/a':>27} {'false escal. b/a':>17}")
        for name, r in out["sets"].items():
            b, a = r["before"], r["after"]
            print(f"{name:<10} {b['calls']:>5} {b['shown']:>5}/{a['shown']:<5} "
                  f"{b['false_rate']:>7.1%} /{a['false_rate']:>6.1%} "
                  f"{b['hint_false_rate']:>7.1%} /{a['hint_false_rate']:>6.1%} "
                  f"{b['expected_matched']:>10}/{b['expected_hints']} -> {a['expected_matched']}/{a['expected_hints']:<6} "
                  f"{b['false_escalations']:>8}/{a['false_escalations']}")
        print()
    print(json.dumps(out, indent=None if args.json_only else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
