"""Partial self-corrections: "the last two digits are twenty, not oh two", "het eind is
twintig", "not underscore, it's a dot".

The caller edits a value instead of restating it, so this family proposes no value
of its own: it finds the edit (x for y, or new last digits) and the state machine
applies it to the caller's latest value (`patched` does the string surgery).
"""

from __future__ import annotations

import re

from assist.autofill.base import Cand, Context, Scan, Turn
from assist.spoken import read_number, spoken_alnum, tokenize, value_runs


class CorrectionFamily:
    """Finds partial corrections in the caller's turns (never the agent's)."""

    types: frozenset[str] = frozenset()  # edits whichever value the correction fits
    agent_turns = False

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        return _patches(scan.turn, scan.used)


def _patches(turn: Turn, used: set[int]) -> list[Cand]:
    """ "the last two digits are twenty, not oh two", "het eind is twintig",
    "not underscore, it's a dot": edit the caller's latest value instead of restating it."""
    text = turn.seg.text
    out: list[Cand] = []
    if not turn.corrections and not re.search(r"\b(?:last|laatste|eind|ends?)\b", text, re.I):
        return out
    pats = [
        (r"\b(?:the\s+)?(?:last|final|laatste)\s+(?:(\w+)\s+)?(?:digits?|numbers?|cijfers?|"
         r"getallen|letters?)\s+(?:are|is|should be|zijn|moeten zijn|moet zijn)\s+"
         r"(?P<x>[^.;!?]+?)(?:,?\s+(?:not|niet)\s+(?P<y>[^.;!?,]+))?(?=[.;!?]|$)", False),
        (r"\b(?:(?:i mean|i meant|ik bedoel|sorry|no|nee|wait|wacht)[,:]?\s+)+(?P<x4>(?:[\w-]+[\s,]*)"
         r"{1,4}?)(?=[.;!?]|$)", False),
        (r"\b(?:het\s+)?eind(?:e)?\s+is\s+(?P<x>[^.;!?]+?)(?=[.;!?]|$)|\b(?:it\s+)?ends?\s+"
         r"(?:in|with|on)\s+(?P<x2>[^.;!?]+?)(?=[.;!?]|$)|\beindigt\s+(?:op|met)\s+"
         r"(?P<x3>[^.;!?]+?)(?=[.;!?]|$)", False),
        (r"\b(?:not|niet)\s+(?:an?\s+|een\s+)?(?P<y>[\w -]+?),?\s+(?:it'?s|it is|but|maar|"
         r"het is)\s+(?:an?\s+|een\s+)?(?P<x>[\w -]+?)(?=[.;!?]|$)", True),
    ]
    runs = value_runs(turn.toks)
    for k, t in enumerate(turn.toks):  # "fifty, not fifteen", "R J, not R G"
        if t.low not in ("not", "niet") or not any(p < t.start for p in turn.corrections):
            continue
        before = [r for r in runs if r.i1 <= k and all(
            tk.kind == "punct" for tk in turn.toks[r.i1:k])]
        after = [r for r in runs if r.i0 == k + 1]
        if before and after and len(before[-1].text()) <= 4 and len(after[0].text()) <= 4:
            x, y = before[-1], after[0]
            span = (x.start, x.end)
            out.append(Cand("", "", 0.0, x.start, [], correction=True,
                             patch=(text[x.start:x.end], text[y.start:y.end], True, span)))
            for i in range(x.i0, y.i1):
                used.add(i)
    for pat, swap in pats:
        for m in re.finditer(pat, text, re.I):
            gd = m.groupdict()
            xg = next(g for g in ("x", "x2", "x3", "x4") if gd.get(g))
            x_text, y_text = gd[xg], gd.get("y")
            if xg == "x4" and not _short_digits(x_text):
                continue  # "I mean, five two nine": only a short run of digits
            xs, xe = m.start(xg), m.end(xg)
            spec = (x_text.strip(), (y_text or "").strip(), swap, (xs, xe))
            out.append(Cand("", "", 0.0, xs, [], correction=True, patch=spec))
            for i, t in enumerate(turn.toks):
                if m.start() <= t.start < m.end():
                    used.add(i)
    return out


def patched(ftype: str, old: str, xs: str, ys: str, symbolic: bool) -> str | None:
    """`old` with the caller's partial correction applied: Y replaced by X ("twenty, not oh
    two"), the last digits replaced ("het eind is twintig"), or a birth year replaced."""
    if ys and ys in old and ys != xs:
        k = old.rfind(ys)
        return old[:k] + xs + old[k + len(ys):]
    if symbolic or ys or not xs.isdigit():
        return None
    if ftype == "date_of_birth":  # "..., nineteen ninety. Wait, no, nineteen ninety-one."
        return xs + old[4:] if len(xs) == 4 else None
    if ftype == "street_address":  # "Forty-two, no sorry, twenty-four": the house number
        return re.sub(r"\d+", xs, old, count=1)
    idx = [i for i, c in enumerate(old) if c.isdigit()]
    if len(idx) <= len(xs):
        return None
    chars = list(old)
    for i, c in zip(idx[-len(xs):], xs, strict=True):
        chars[i] = c
    return "".join(chars)


def _short_digits(text: str) -> bool:
    """Text that is nothing but 1-4 spoken digits ("five two nine", "twintig")."""
    toks = [t for t in tokenize(text) if t.kind != "punct"]
    return bool(toks) and all(t.kind == "num" or read_number([t], 0) is not None for t in toks) \
        and bool(re.fullmatch(r"\d{1,4}", spoken_alnum(text)))
