"""Scoring helpers for form autofill (skeleton)."""

from __future__ import annotations


def score_form(predicted: dict[str, str], expected: dict[str, str]) -> dict:
    out: dict[str, dict[str, int]] = {}
    for f in sorted(set(predicted) | set(expected)):
        p, e = predicted.get(f), expected.get(f)
        tp = int(p is not None and p == e)
        out[f] = {"tp": tp, "fp": int(p is not None and not tp), "fn": int(e is not None and not tp)}
    return out
