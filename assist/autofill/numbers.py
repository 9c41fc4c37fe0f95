"""Dictated numbers and codes: IBAN, BSN, phone, postcode, customer reference, and a
birth date said as digits.

These share one reading: the caller dictates a run of digits and letters, and the
field it belongs to is decided by what was asked or named just before it, or by an
unmistakable shape (a valid IBAN). A run may hold several values, or the first part
of one that the next turn completes.
"""

from __future__ import annotations

import re

from assist.autofill.base import Cand, Context, Pending, Scan, Turn, ev_items, plus_before
from assist.autofill.builders import build
from assist.spoken import Item, Run

# Numbers that have a name of their own and are not on the identity form.
OTHER_NUMBER_RE = re.compile(
    r"\b(?:sort ?code|(?:claim|complaint|case|order|invoice|ticket|booking|tracking|serial|"
    r"dispute|incident|crime|report|flight|meter|registration|pac|fraud)"
    r"(?: number| no\.?| code| reference)?|reference(?: number)?|readings?|"
    r"klachtnummer|zaaknummer|dossiernummer|ordernummer|bestelnummer|factuurnummer|"
    r"referentie(?:nummer)?|kenteken|serienummer|meterstand(?:en)?|aangiftenummer|"
    r"schadenummer|meldingsnummer|ticketnummer|vluchtnummer|boekingsnummer|"
    r"fraudemelding)\b", re.IGNORECASE)
UNIT_WORDS = {
    "pounds", "pound", "quid", "euros", "euro", "dollars", "dollar", "cents", "cent", "pence", "p",
    "percent", "procent", "%", "minutes", "minuten", "hours", "hour", "uur", "days", "dagen", "day",
    "weeks", "weken", "months", "maanden", "years", "jaar", "jaren", "kwh", "kilowatt", "gb", "mb",
    "kilometres", "kilometers", "km", "miles", "times", "keer", "items", "stuks"}
SHAPE_TYPES = ("iban", "phone", "postcode")  # recognisable by shape alone, unasked


def _keyword_fields(ctx: Context, turn: Turn, run: Run) -> list[str] | None:
    """Fields named right before the run in the same sentence ("BSN is ..."); None when
    the run is named as some other number ("the claim reference is ...")."""
    text = turn.seg.text
    sent = next((s for s in turn.sentences if s[0] <= run.start < s[1]), (0, len(text)))
    hits = ctx.cue_hits(text, sent[0], run.start)
    other = list(OTHER_NUMBER_RE.finditer(text, sent[0], run.start))
    if other and (not hits or other[-1].start() >= hits[-1][1]):
        gap = text[other[-1].end():run.start]
        if len(gap.split()) <= 6 and not re.search(r"\d", gap):
            return None
    if not hits:
        return []
    a, b, fid = hits[-1]
    gap = text[b:run.start]
    if len(gap.split()) > 6 or re.search(r"\d", gap):
        return []
    return [fid]


class NumbersFamily:
    """Runs of dictated digits and letters -> the field they answer."""

    types = frozenset({"iban", "bsn", "phone", "postcode", "reference", "date_of_birth"})
    agent_turns = True

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        return _from_runs(ctx, scan.turn, scan.runs, scan.expected, scan.agent)


def _from_runs(ctx: Context, turn: Turn, runs: list[Run], expected: list[str],
               agent: bool) -> list[Cand]:
    out: list[Cand] = []
    for run in runs:
        nxt = turn.toks[run.i1].low if run.i1 < len(turn.toks) else ""
        prv = turn.toks[run.i0 - 1].low if run.i0 > 0 else ""
        if nxt in UNIT_WORDS or prv in ("€", "$", "£"):
            continue  # an amount or a duration, not a dictated value
        kw = _keyword_fields(ctx, turn, run)
        if kw is None:
            continue  # a reference, meter reading, sort code...: not a form value
        items = list(run.items)
        if ctx.pending is not None and not agent and ctx.pending.field != "street":
            got = _extend_pending(ctx, turn, items)
            if got is not None:
                cand, k = got
                out.append(cand)
                items = items[k:]
                if not items:
                    continue
        # "Can you call me on my US number? It's 312-555-0162.": a field the caller named
        # earlier in the same turn
        sent0 = next((a for a, b in turn.sentences if a <= run.start < b), 0)
        local = [fid for _, _, fid in ctx.cue_hits(turn.seg.text, 0, sent0)]
        fields = kw or list(dict.fromkeys(local + list(expected)))
        if agent:
            fields = kw + [f for f in ctx.current() if f not in kw]
        out.extend(_assign(ctx, turn, items, fields, agent))
    return out


def _assign(ctx: Context, turn: Turn, items: list[Item], fields: list[str],
            agent: bool) -> list[Cand]:
    """Find the best field and sub-range for these pieces; leftovers are tried again."""
    if not items:
        return []
    plus = plus_before(turn, items[0])
    shape = [fid for t in SHAPE_TYPES for fid in ctx.fields_of_type(t)]
    order = [(f, False) for f in fields] + [(f, True) for f in shape]
    iban_f = ctx.fid("iban")
    if iban_f:  # a valid IBAN is unmistakable, whatever was asked
        order.insert(0, (iban_f, True))
    for fid, strict in order:
        ftype = ctx.ftype(fid)
        best = _best_subrange(items, ftype, strict, plus, ctx.country)
        if best is None:
            continue
        a, b, value, conf = best
        pos = items[a].start
        if value == "":  # incomplete: remember the prefix for the next turn
            if not strict and not agent and ctx.allowed(turn, fid, pos, agent):
                ctx.pending = Pending(fid, items[a:b], [ev_items(turn, items[a:b])])
                return []
            continue
        if value is None:  # complete but invalid (bad checksum)
            if not strict and not agent:
                ctx.blocked_recent[fid] = 2
                return []
            continue
        if not ctx.allowed(turn, fid, pos, agent):
            return []
        cand = Cand(fid, value, conf * (0.85 if strict and fid not in fields else 1.0), pos,
                     [ev_items(turn, items[a:b])], asked=fid in fields)
        rest_fields = [f for f in fields if f != fid]
        return ([cand] + _assign(ctx, turn, items[:a], rest_fields, agent)
                + _assign(ctx, turn, items[b:], rest_fields, agent))
    return []


def _best_subrange(items: list[Item], ftype: str, strict: bool, plus: bool,
                   country: str) -> tuple[int, int, str | None, float] | None:
    """Widest sub-range of items that builds a value of this type.

    Returns (a, b, value, conf); value "" marks a valid prefix (more to come) and
    None a complete value that failed its checksum."""
    n = len(items)
    prefix = invalid = None
    for width in range(n, 0, -1):
        for a in range(0, n - width + 1):
            b = a + width
            # only cut where the caller paused: "00900" is not a ZIP inside a phone number
            if (a and not items[a].gap_before) or (b < n and not items[b].gap_before):
                continue
            res = build(ftype, items[a:b], strict, plus and a == 0, country)
            if res is None:
                continue
            value, conf = res
            if ftype == "postcode" and value and value[:5].isdigit() and (a or b < n):
                continue  # "13, 15, 4, 1, 8": do not carve a ZIP out of other digits
            if value == "":
                if b == n and prefix is None:
                    prefix = (a, b, "", 0.0)
                continue
            if value is False:
                if invalid is None:
                    invalid = (a, b, None, 0.0)
                continue
            return a, b, value, conf
    return prefix or invalid


def _extend_pending(ctx: Context, turn: Turn, items: list[Item]) -> tuple[Cand, int] | None:
    """Join the pending prefix with the first pieces of this turn."""
    p = ctx.pending
    assert p is not None
    ftype = ctx.ftype(p.field)
    for k in range(len(items), 0, -1):
        res = build(ftype, p.items + items[:k], False, False, ctx.country)
        if res is None:
            continue
        value, conf = res
        if value == "":
            if k == len(items):
                p.items = p.items + items
                p.evidence.append(ev_items(turn, items))
                p.age = 0
                return None
            continue
        if value is False:
            ctx.blocked_recent[p.field] = 2
            ctx.pending = None
            return None
        ctx.pending = None
        if not ctx.allowed(turn, p.field, items[0].start, False):
            return None
        ev = p.evidence + [ev_items(turn, items[:k])]
        return Cand(p.field, value, conf * 0.95, items[0].start, ev), k
    return None
