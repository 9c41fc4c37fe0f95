"""Scoring form autofill against labelled calls (the benchmark imports this).

A labelled call JSON holds `turns`, the expected final `form` and the caller's
`corrections`; these helpers replay the turns through a `FormFiller` and count
per-field hits, misses and wrong values, correction handling, and suggestions
that lack evidence (which must be zero).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assist.autofill import FormFiller, FormValue
from assist.forms import FormSpec
from assist.types import Segment


def score_form(predicted: dict[str, str], expected: dict[str, str]) -> dict[str, dict[str, int]]:
    """tp/fp/fn per field. A wrong value counts as both a false positive and a miss."""
    out: dict[str, dict[str, int]] = {}
    for f in sorted(set(predicted) | set(expected)):
        p, e = predicted.get(f), expected.get(f)
        tp = int(p is not None and e is not None and _same(f, p, e))
        out[f] = {"tp": tp, "fp": int(p is not None and not tp), "fn": int(e is not None and not tp)}
    return out


def _same(field: str, p: str, e: str) -> bool:
    """Exact match, except that names, streets and cities ignore case and spacing."""
    if field in ("full_name", "street_address", "city"):
        return " ".join(p.lower().split()) == " ".join(e.lower().split())
    return p == e


def precision_recall(counts: dict[str, int]) -> dict[str, float]:
    tp, fp, fn = counts.get("tp", 0), counts.get("fp", 0), counts.get("fn", 0)
    return {
        "tp": tp, "fp": fp, "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


def aggregate(scores: Iterable[dict[str, dict[str, int]]]) -> dict[str, Any]:
    """Sum per-field counts over calls: {"fields": {f: P/R}, "all": micro P/R}."""
    per: dict[str, dict[str, int]] = {}
    total = {"tp": 0, "fp": 0, "fn": 0}
    for sc in scores:
        for f, c in sc.items():
            acc = per.setdefault(f, {"tp": 0, "fp": 0, "fn": 0})
            for k in total:
                acc[k] += c[k]
                total[k] += c[k]
    return {"fields": {f: precision_recall(c) for f, c in sorted(per.items())},
            "all": precision_recall(total)}


def load_call(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def call_segments(path: str | Path, call: dict[str, Any] | None = None) -> list[Segment]:
    """Turns as Segments with ids `t{index}`; times from `CALLID.timing.json` when present."""
    path = Path(path)
    call = call or load_call(path)
    timing_path = path.with_name(f"{call['call_id']}.timing.json")
    times: dict[int, tuple[float, float]] = {}
    if timing_path.exists():
        timing = json.loads(timing_path.read_text(encoding="utf-8"))
        for t in timing.get("turns", []):
            times[int(t["index"])] = (float(t["start"]), float(t["end"]))
    segs = []
    for i, turn in enumerate(call["turns"]):
        start, end = times.get(i, (float(i), float(i) + 1.0))
        segs.append(Segment(segment_id=f"t{i}", speaker=turn["speaker"], text=turn["text"],
                            start=start, end=end, call_id=call["call_id"],
                            language=call.get("language", "en")))
    return segs


def correction_report(suggestions: list[FormValue],
                      labelled: list[dict[str, str]]) -> dict[str, Any]:
    """How the caller's self-corrections were handled.

    A labelled correction is handled when the final value was proposed as a
    correction and the first value (if it was proposed at all) is replaced by it.
    Corrections flagged on fields that the label does not list are spurious.
    """
    by_id = {s.id: s for s in suggestions}
    handled = 0
    details = []
    for lab in labelled:
        ok = False
        for s in suggestions:
            if s.field != lab["field"] or s.value != lab["final_value"] or not s.correction:
                continue
            old = by_id.get(s.replaces) if s.replaces else None
            first_proposed = any(x.field == lab["field"] and x.value == lab["first_value"]
                                 for x in suggestions)
            if (old is not None and old.value == lab["first_value"]) or not first_proposed:
                ok = True
                break
        handled += ok
        details.append({**lab, "handled": ok})
    labelled_fields = {lab["field"] for lab in labelled}
    spurious = [s.id for s in suggestions if s.correction and s.field not in labelled_fields]
    return {"labelled": len(labelled), "handled": handled, "spurious": len(spurious),
            "details": details}


def values_without_evidence(suggestions: Iterable[FormValue]) -> int:
    return sum(1 for s in suggestions if not s.evidence)


def run_call(path: str | Path, form: FormSpec | None = None,
             segments: list[Segment] | None = None) -> dict[str, Any]:
    """Replay one labelled call through a fresh FormFiller and score it.

    `segments` replaces the labelled turns, e.g. with an ASR's segments of the same call,
    to score the form from what the recogniser heard against the same labels."""
    call = load_call(path)
    filler = FormFiller(form, language=call.get("language", "en"))
    for seg in segments if segments is not None else call_segments(path, call):
        filler.on_segment(seg)
    suggestions = filler.suggestions()
    predicted = filler.values()
    return {
        "call_id": call["call_id"],
        "language": call.get("language", "en"),
        "form": predicted,
        "expected": call.get("form", {}),
        "score": score_form(predicted, call.get("form", {})),
        "suggestions": [s.to_event() for s in suggestions],
        "corrections": correction_report(suggestions, call.get("corrections", [])),
        "values_without_evidence": values_without_evidence(suggestions),
    }


def evaluate(paths: Iterable[str | Path], form: FormSpec | None = None) -> dict[str, Any]:
    """Run many calls; precision/recall overall and per language, corrections, evidence."""
    results = [run_call(p, form) for p in paths]
    langs = sorted({r["language"] for r in results})
    return {
        "calls": results,
        "all": aggregate(r["score"] for r in results),
        "by_language": {lang: aggregate(r["score"] for r in results if r["language"] == lang)
                        for lang in langs},
        "corrections": {
            "labelled": sum(r["corrections"]["labelled"] for r in results),
            "handled": sum(r["corrections"]["handled"] for r in results),
            "spurious": sum(r["corrections"]["spurious"] for r in results),
        },
        "values_without_evidence": sum(r["values_without_evidence"] for r in results),
    }


def call_files(folder: str | Path) -> list[Path]:
    """Labelled call JSONs in a folder (timing files excluded)."""
    return sorted(p for p in Path(folder).glob("*.json") if not p.name.endswith(".timing.json"))
