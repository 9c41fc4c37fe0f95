"""Spelled-out runs: letters said one by one, with digits and spelling alphabets.

"S-I-O-B-H-A-N", "S I O B H A N", "s, i, o", "Sierra India Oscar", "S van Simon,
I van Izaak", "H for Harry": whatever is being spelled (a name, a street, an id),
the letters are that value, so they go whether or not the form ever captures it.
A misheard spelling ("S-I-O-B-H-N") is as personal as a correct one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assist.pii.lexicon import Lexicon
from assist.spoken import FILLERS, Run, Token, read_number

_SEPARATORS = {",", ".", "-", "–", "—", ";", ":", "/", "and", "en", "then", "dan", "&"}
_FOR = {"for", "like", "van", "voor", "zoals", "als"}  # "P for Peter", "P van Pieter", "as in"
NL_POSTCODE = re.compile(r"^[1-9]\d{3}[A-Z]{2}$")
UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$")


@dataclass(frozen=True)
class Spelled:
    """One spelled-out run: its offsets, token indices and the letters it spells."""

    start: int
    end: int
    i0: int
    i1: int
    letters: str
    digits: bool = False  # digits among the letters: an id or a postcode, not a name


def run_kind(run: Run) -> str | None:
    """What a dictated run of digits and letters is, if it is to go: a postcode, a spelled
    value (mostly letters), or None (left to the number rules)."""
    text = run.text(zero_as_letter=False)
    if NL_POSTCODE.match(text) or UK_POSTCODE.match(run.text(zero_as_letter=True)):
        return "postcode"
    if run.n_letters >= 3:  # two letters alone are initials or "U.S."; with digits, an id
        return "spelled" if run.n_letters >= run.n_digits else "number"
    return None


def _letter_for(tokens: list[Token], i: int) -> int | None:
    """"P for Peter" / "P van Pieter" / "P as in Peter" at i: the index after it."""
    t = tokens[i]
    if not (t.kind == "word" and len(t.text) == 1 and t.text.isalpha()):
        return None
    k = i + 1
    if k < len(tokens) and tokens[k].low == "as" and k + 1 < len(tokens) and tokens[k + 1].low == "in":
        k += 2
    elif k < len(tokens) and tokens[k].low in _FOR:
        k += 1
        if k < len(tokens) and tokens[k].low == "in":  # "als in"
            k += 1
    else:
        return None
    if k < len(tokens) and tokens[k].kind == "word" and len(tokens[k].text) > 2 \
            and tokens[k].low[:1] == t.low:
        return k + 1
    return None


def find_spelled(tokens: list[Token], lex: Lexicon) -> list[Spelled]:
    """Sequences of spelled pieces: spelling-alphabet words, "X for Word", single letters
    (any case) and the digits among them. Accepted with two alphabet pieces, one "X for
    Word", or three single letters: one "Victor" or one "A" is just a word."""
    out: list[Spelled] = []
    n = len(tokens)
    i = 0
    while i < n:
        j, first, last = i, None, None
        alpha = letter_for = singles = digits = 0
        letters: list[str] = []
        while j < n:
            t = tokens[j]
            nxt = _letter_for(tokens, j)
            if nxt is not None:
                letter_for += 1
                letters.append(t.text.upper())
                first = j if first is None else first
                last, j = nxt - 1, nxt
                continue
            if t.kind == "word" and t.low in lex.letters:
                alpha += 1
                letters.append(lex.letters[t.low])
            elif t.kind == "word" and len(t.text) == 1 and t.text.isalpha():
                singles += 1
                letters.append(t.text.upper())
            elif first is not None and (t.kind == "num" or read_number(tokens, j) is not None):
                num = read_number(tokens, j)
                digits += 1
                if num is None:
                    letters.append(t.text)
                else:
                    letters.append(num.digits)
                    j = num.i1 - 1
            elif first is not None and (t.low in _SEPARATORS or t.low in FILLERS):
                j += 1
                continue
            else:
                break
            first = j if first is None else first
            last = j
            j += 1
        if first is not None and last is not None and (
                alpha + letter_for >= 2 or letter_for >= 1 or singles >= 3
                or (alpha >= 1 and singles >= 1 and alpha + singles >= 2)):
            out.append(Spelled(tokens[first].start, tokens[last].end, first, last + 1,
                               "".join(c for c in "".join(letters) if c.isalpha()), digits > 0))
            i = last + 1
        else:
            i = (first + 1) if first is not None else i + 1
    return out
