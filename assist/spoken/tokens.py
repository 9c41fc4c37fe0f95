"""Tokens that keep their character offsets, so every parsed value can cite its text.

Hyphens are resolved here, once: spelled letters ("G-R-E-A-V-E-S") and number
compounds ("twenty-four") are split into their parts, other hyphenated words
("e-mail", "Smith-Jones") stay whole.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from assist.spoken.words import MULTIPLIERS, ORDINAL_NUMERAL, atomic_number, ordinal_word


@dataclass(frozen=True)
class Token:
    """One word, number or punctuation mark with its offsets in the segment text."""

    text: str
    start: int
    end: int
    low: str  # lower-case, diacritics folded
    kind: str  # word | num | alnum | punct
    space_before: bool = True
    hyphen_joined: bool = False  # joined to the previous token by a hyphen, no spaces
    letters_hyphen: bool = False  # part of a hyphen-spelled word "G-R-E-A-V-E-S"


_TOKEN_RE = re.compile(r"['’][st]-[^\W\d_]+(?:-[^\W\d_]+)*|[^\W_]+(?:['’][^\W_]+)*|\S")


def fold(s: str) -> str:
    """Lower-case and strip diacritics ("tweeënnegentig" -> "tweeennegentig")."""
    s = unicodedata.normalize("NFKD", s.replace("’", "'"))
    return "".join(c for c in s if not unicodedata.combining(c)).lower()


def tokenize(text: str) -> list[Token]:
    """Split text into tokens, resolving hyphens: spelled letters and number compounds
    are split into their parts, other hyphenated words ("e-mail", "Smith-Jones") stay whole."""
    raw: list[Token] = []
    prev_end = -1
    for m in _TOKEN_RE.finditer(text):
        t = m.group()
        if t.isdigit() or ORDINAL_NUMERAL.match(t.lower()):
            kind = "num"
        elif any(c.isdigit() for c in t):
            kind = "alnum"
        elif t[0].isalpha() or (len(t) > 1 and t[1:2] in "st" and t[2:3] == "-"):
            kind = "word"
        else:
            kind = "punct"
        raw.append(Token(t, m.start(), m.end(), fold(t), kind, m.start() != prev_end))
        prev_end = m.end()
    out: list[Token] = []
    i = 0
    while i < len(raw):
        # collect a hyphen chain: X-Y-Z with no spaces
        j = i
        while (j + 2 < len(raw) and raw[j + 1].text in "-‐‑" and raw[j + 1].text
               and not raw[j + 1].space_before and not raw[j + 2].space_before
               and raw[j].kind != "punct" and raw[j + 2].kind != "punct"):
            j += 2
        if j == i:
            out.append(raw[i])
            i += 1
            continue
        parts = raw[i:j + 1:2]
        if all((len(p.text) == 1 and p.text.isalpha()) or p.low in MULTIPLIERS for p in parts) \
                and any(len(p.text) == 1 for p in parts):  # "F-A-double R-E-double L"
            for k, p in enumerate(parts):
                out.append(Token(p.text, p.start, p.end, p.low, "word", k == 0 and p.space_before,
                                 k > 0, len(p.text) == 1))
        elif all(p.kind == "num" or atomic_number(p.low) is not None
                 or ordinal_word(p.low) is not None for p in parts):
            for k, p in enumerate(parts):
                out.append(Token(p.text, p.start, p.end, p.low, p.kind, p.space_before, k > 0))
        else:
            first, last = parts[0], parts[-1]
            t = text[first.start:last.end]
            kind = "alnum" if any(c.isdigit() for c in t) else "word"
            out.append(Token(t, first.start, last.end, fold(t), kind, first.space_before))
        i = j + 1
    return out


def edit_distance(a: str, b: str) -> int:
    """Letters to insert, delete or change to turn a into b: how far an ASR's (or a
    caller's) spelling of a word is from another ("siobhn" -> "siobhan": 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
