"""Person names: the caller's answer to "who am I speaking with?", or a name after
"my name is" / "met", with spelled letters confirming or fixing the spelling.

Names have no checksum, so they are read only where the dialogue says a name
comes: an asked-for answer, a name cue, or "first name ..., surname ...".
"""

from __future__ import annotations

import re

from assist.autofill.base import Cand, Context, Scan, Turn, evidence_at
from assist.autofill.cues import MONTH_WORDS, NAME_INTRO_RE, NAME_STOP, PARTICLES
from assist.spoken import Run, edit_distance, read_number

_PARTICLES_RE = r"(?:van|de|der|den|el|al|da|di|du|le|la|von|ter|ten)\s+"
_NAME_WORDS = rf"((?:{_PARTICLES_RE})*[A-Z][\w'’-]+(?:\s+(?:{_PARTICLES_RE})*[A-Z][\w'’-]+)*)"
FIRST_NAME_RE = re.compile(r"\b(?i:first name|christian name|voornaam)(?i:\s+is|'s)?[,:]?\s+([A-Z][\w'’-]+)")
SURNAME_RE = re.compile(rf"\b(?i:surname|last name|family name|achternaam)(?i:\s+is|'s)?[,:]?\s+"
                        rf"{_NAME_WORDS}")
NAME_CUE_RE = re.compile(
    r"\b(?:my name is|my name's|the name is|name's|this is|i'?m|i am|mijn naam is|"
    r"ik ben|ik heet|u spreekt met|je spreekt met)\s+(?=[A-Z])|^\W*(?:\w+,\s*)?met\s+"
    r"(?=[A-Z])", re.IGNORECASE)


class NameFamily:
    """The caller's full name (the agent's read-back is handled by the state machine)."""

    types = frozenset({"person_name"})
    agent_turns = False

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        return _names(ctx, scan.turn, scan.runs, scan.expected)


def _names(ctx: Context, turn: Turn, runs: list[Run], expected: list[str]) -> list[Cand]:
    name_f = ctx.fid("person_name")
    if not name_f:
        return []
    text = turn.seg.text
    out: list[Cand] = []
    starts: list[int] = []
    clause: set[int] = set()
    if name_f in expected:
        starts = [a for a, _ in turn.sentences]
        clause = {m.end() for m in re.finditer(r",\s*", text)}  # "Mitchell, Sarah Mitchell"
        starts += sorted(clause)
    starts += [m.end() for m in NAME_CUE_RE.finditer(text)]
    spelled = [r for r in runs if r.n_digits == 0 and r.n_letters >= 2]
    for s in sorted(set(starts)):
        m = NAME_INTRO_RE.match(text, s)
        p = m.end() if m else s
        got = name_at(turn, p)
        if got is None:
            continue
        words, a, b = got
        if not ctx.allowed(turn, name_f, a, False):
            continue
        if s in clause and not re.match(r"\s*(?:[,.;!?]|$)", text[b:]):
            continue
        conf = 0.82 if name_f in expected else 0.75
        ev = [evidence_at(turn, a, b)]
        for r in spelled:  # "Greaves, G-R-E-A-V-E-S" confirms (or fixes) the spelling
            letters = r.text(zero_as_letter=True)
            for k, w in enumerate(words):
                if w.lower() == letters.lower():
                    conf = min(0.95, conf + 0.1)
                    ev.append(evidence_at(turn, r.start, r.end))
                    break
                if len(letters) >= 3 and _close(w.lower(), letters.lower()):
                    words[k] = letters.capitalize()
                    ev.append(evidence_at(turn, r.start, r.end))
                    break
        out.append(Cand(name_f, " ".join(words), conf, a, ev, asked=True))
        break
    if not out and name_f in expected:  # "Can you spell that?" - "Golf, Romeo, Echo, ..."
        out += _spelled_fix(ctx, turn, name_f, spelled)
    if not out:  # "First name Nathan, surname Greaves"
        first = FIRST_NAME_RE.search(text)
        last = SURNAME_RE.search(text)
        if first and last and ctx.allowed(turn, name_f, first.start(1), False):
            value = f"{first.group(1)} {last.group(1)}"
            ev = [evidence_at(turn, first.start(1), first.end(1)),
                  evidence_at(turn, last.start(1), last.end(1))]
            out.append(Cand(name_f, value, 0.75, min(first.start(1), last.start(1)), ev))
    return out


def _spelled_fix(ctx: Context, turn: Turn, name_f: str, spelled: list[Run]) -> list[Cand]:
    """A name spelled on its own fixes the spelling of the caller's name already heard:
    the word it is closest to ("Greeves" + G-R-E-A-V-E-S -> "Greaves")."""
    cur = ctx.current().get(name_f)
    runs = [r for r in spelled if r.n_letters >= 3]
    if cur is None or not runs:
        return []
    r = max(runs, key=lambda r: r.n_letters)
    letters = r.text(zero_as_letter=True).capitalize()
    words = cur.value.split()
    k = next((k for k, w in enumerate(words) if w.lower() == letters.lower() or _close(w.lower(), letters.lower())), None)
    if k is None or not ctx.allowed(turn, name_f, r.start, False):
        return []
    words[k] = letters
    return [Cand(name_f, " ".join(words), 0.85, r.start, [evidence_at(turn, r.start, r.end)], asked=True)]


def name_at(turn: Turn, p: int) -> tuple[list[str], int, int] | None:
    """The name starting at or after offset p: (words, start, end), at least two real words."""
    toks = turn.toks
    i = next((k for k, t in enumerate(toks) if t.start >= p), None)
    if i is None:
        return None
    words: list[str] = []
    a = b = None
    while i < len(toks):
        t = toks[i]
        w = t.low
        if t.kind != "word":
            break
        if w in PARTICLES and words:  # "van der Linden", "el Amrani"
            k = i
            while k < len(toks) and toks[k].low in PARTICLES and k - i < 3:
                k += 1
            if k < len(toks) and toks[k].kind == "word" and toks[k].text[:1].isupper():
                words.extend(tk.text for tk in toks[i:k])
                i = k
                continue
            break
        if not t.text[0].isupper() or w in NAME_STOP or w in MONTH_WORDS:
            break
        if len(t.text) == 1 or read_number(toks, i, ordinals=True) is not None:
            break
        if not words and w in PARTICLES:
            break
        words.append(t.text.capitalize() if t.text.isupper() and len(t.text) > 1 else t.text)
        a = t.start if a is None else a
        b = t.end
        i += 1
        if len(words) >= 5:
            break
    while words and words[-1].lower() in PARTICLES:
        words.pop()
    real = [w for w in words if w.lower() not in PARTICLES]
    if len(real) < 2 or a is None or b is None:
        return None
    return words, a, b


def _close(a: str, b: str) -> bool:
    """Small edit distance: an ASR misspelling of the spelled-out name."""
    if abs(len(a) - len(b)) > 2:
        return False
    d = edit_distance(a, b)
    return d <= 2 and d < len(b) // 2
