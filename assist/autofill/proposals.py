"""The LLM path: a value the LLM proposes is kept only if it can be found in the
transcript, in some spoken or written form, and its evidence is built here, never
taken from the LLM.
"""

from __future__ import annotations

import datetime as dt
import re

from assist.autofill.addresses import StreetFamily
from assist.autofill.base import Context, Scan, Turn, ev_items, evidence_at, plus_before
from assist.autofill.builders import build, validate
from assist.forms import FieldSpec
from assist.spoken import find_dates, find_emails, fold, tokenize, value_runs
from assist.types import Evidence
from assist.validators import email_valid, phone_e164


def normalise(spec: FieldSpec, value: str, today: dt.date, country: str) -> str | None:
    """A proposed (or agent-edited) value in the form's canonical spelling; None if invalid."""
    v = value.strip()
    if not v:
        return None
    if spec.type in ("person_name", "city", "street_address", "text"):
        return re.sub(r"\s+", " ", v)
    if spec.type == "date_of_birth":
        try:
            return dt.date.fromisoformat(v).isoformat()
        except ValueError:
            toks = tokenize(v)
            ds = find_dates(toks, v, today)
            return ds[0].iso if ds else None
    if spec.type == "phone":
        d = re.sub(r"[^\d+]", "", v)
        return phone_e164(d, country) if d else None
    if spec.type == "email":
        return v.lower() if email_valid(v.lower()) else None
    return validate(spec.type, re.sub(r"[\s.-]", "", v).upper())


def find_in_transcript(ctx: Context, turns: list[Turn], spec: FieldSpec,
                       value: str) -> list[Evidence]:
    """Evidence for an LLM-proposed value: where it is said, in any spoken form."""
    out: list[Evidence] = []
    for turn in turns:
        text = turn.seg.text
        if spec.type in ("person_name", "city", "street_address", "text"):
            k = turn.low.find(fold(value))
            if k >= 0:
                out.append(evidence_at(turn, k, k + len(value)))
                continue
            if spec.type == "street_address":
                for c in StreetFamily().extract(ctx, Scan(turn, True, [])):
                    if c.value == value:
                        out.extend(c.evidence)
            continue
        if spec.type == "email":
            out.extend(evidence_at(turn, m.start, m.end)
                       for m in find_emails(turn.toks) if m.value == value)
            continue
        if spec.type == "date_of_birth":
            out.extend(evidence_at(turn, d.start, d.end)
                       for d in find_dates(turn.toks, text, ctx.today) if d.iso == value)
            continue
        for run in value_runs(turn.toks):
            items = list(run.items)
            best = None
            for a in range(len(items)):
                for b in range(len(items), a, -1):
                    res = build(spec.type, items[a:b], False,
                                 a == 0 and plus_before(turn, items[0]), ctx.country)
                    if res is not None and res[0] == value:
                        best = (a, b)
                        break
                if best:
                    break
            if best:
                out.append(ev_items(turn, items[best[0]:best[1]]))
    return out
