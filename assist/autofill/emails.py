"""E-mail addresses: an address is unmistakable once it parses, so it needs no cue;
the grammar of a dictated address lives in `assist.spoken.emails`."""

from __future__ import annotations

from assist.autofill.base import Cand, Context, Scan, evidence_at
from assist.spoken import find_emails


class EmailFamily:
    """Every e-mail address in the turn; its tokens are then no other field's."""

    types = frozenset({"email"})
    agent_turns = True

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        turn, agent, used = scan.turn, scan.agent, scan.used
        cands: list[Cand] = []
        email_f = ctx.fid("email")
        for em in find_emails(turn.toks):
            used.update(range(em.i0, em.i1))
            if email_f and ctx.allowed(turn, email_f, em.start, agent):
                cands.append(Cand(email_f, em.value, 0.9, em.start,
                                  [evidence_at(turn, em.start, em.end)]))
        return cands
