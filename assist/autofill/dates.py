"""Dates of birth said with a month name ("the fourteenth of March, nineteen eighty-five").

A date is a birth date only when cued, asked for, or read back by the agent, and
only for a plausible age (12-110): callers also say when they moved or paid. A
birth date dictated as digits ("14 03 85") is read by the number family.
"""

from __future__ import annotations

from assist.autofill.base import Cand, Context, Scan, evidence_at
from assist.spoken import find_dates


class DateFamily:
    """Dates with a month name or written numerically; their tokens are then used."""

    types = frozenset({"date_of_birth"})
    agent_turns = True

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        turn, agent, used, expected = scan.turn, scan.agent, scan.used, scan.expected
        toks, text = turn.toks, turn.seg.text
        cands: list[Cand] = []
        dob_f = ctx.fid("date_of_birth")
        for d in find_dates(toks, text, ctx.today):
            used.update(range(d.i0, d.i1))
            if not dob_f or not ctx.allowed(turn, dob_f, d.start, agent):
                continue
            sent = next((s for s in turn.sentences if s[0] <= d.start < s[1]), (0, len(text)))
            cue = any(fid == dob_f for _, _, fid in ctx.cue_hits(text, sent[0], d.start))
            if not (cue or dob_f in expected or agent):
                continue
            year = int(d.iso[:4])
            if not (ctx.today.year - 110 <= year <= ctx.today.year - 12):
                continue
            cands.append(Cand(dob_f, d.iso, 0.88 if cue or dob_f in expected else 0.6,
                              d.start, [evidence_at(turn, d.start, d.end)]))
        return cands
