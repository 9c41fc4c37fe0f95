"""Numbers said in one breath, composed by spoken grammar ("two thousand and one").

Separate from the digit/letter runs that use it: a run decides where a dictated
value starts and ends, this decides only which tokens make one number.
"""

from __future__ import annotations

from dataclasses import dataclass

from assist.spoken.tokens import Token
from assist.spoken.words import ORDINAL_NUMERAL, atomic_number, ordinal_word


def _num_type(v: int, w: str) -> str:
    if w in ("hundred", "honderd"):
        return "hundred"
    if w in ("thousand", "duizend"):
        return "thousand"
    if v < 10:
        return "unit"
    if v < 20:
        return "teen"
    if v < 100 and v % 10 == 0:
        return "tens"
    return "compound"


@dataclass(frozen=True)
class Number:
    """A number said in one breath ("twenty-four", "nine hundred", "tweeduizend een")."""

    value: int
    digits: str
    i0: int  # first token index
    i1: int  # index after the last token
    ordinal: bool = False
    numeral: bool = False  # written with digits by the ASR


def read_number(tokens: list[Token], i: int, ordinals: bool = False) -> Number | None:
    """Compose the number that starts at token i, following spoken grammar.

    Units after units do not combine ("five one" is two digits) but tens + unit,
    hundreds and thousands do ("twenty nine", "nine hundred", "two thousand and one");
    a comma always ends a number, so "zeven, acht" stays two numbers.
    """
    if i >= len(tokens):
        return None
    t = tokens[i]
    if t.kind == "num":
        m = ORDINAL_NUMERAL.match(t.low)
        if m:
            if not ordinals:
                return None
            return Number(int(m.group(1)), m.group(1), i, i + 1, True, True)
        return Number(int(t.low), t.low, i, i + 1, False, True)
    total, cur, last, j, ordinal = 0, None, "", i, False
    zero_word = False
    while j < len(tokens):
        tok = tokens[j]
        w = tok.low
        if tok.kind != "word":
            break
        if w in ("a", "an") and j == i and j + 1 < len(tokens) and tokens[j + 1].low in (
                "hundred", "thousand"):
            cur, last, j = 1, "unit", j + 1
            continue
        if w in ("and", "en") and last in ("hundred", "thousand") and j + 1 < len(tokens):
            nxt = atomic_number(tokens[j + 1].low)
            if nxt is not None and nxt < 100 and tokens[j + 1].low not in ("oh", "nul", "zero"):
                j += 1
                continue
            break
        v = atomic_number(w)
        ov = None
        if v is None and ordinals:
            ov = ordinal_word(w)
            if ov is None:
                break
            v = ov
        if v is None:
            break
        typ = _num_type(v, w)
        if w in ("oh", "zero", "nought", "nul"):
            if j > i:
                break
            zero_word = True
        if j == i:
            if typ == "thousand":
                total, cur = 1000, None
            else:
                cur = v
        elif typ == "hundred":
            if cur is None or cur >= 100 or last == "hundred" or zero_word:
                break
            cur *= 100
        elif typ == "thousand":
            if cur is None or cur >= 1000 or last == "thousand":
                break
            total, cur = total + cur * 1000, None
        elif last == "tens" and typ == "unit" and v > 0 and tokens[j].hyphen_joined | (
                not tokens[j - 1].text.endswith(",")):
            cur = (cur or 0) + v
        elif last == "hundred" and v < 100 and cur is not None:
            cur += v
        elif last == "thousand" and v < 1000:
            cur = v
        elif last == "compound" and cur is not None and cur >= 100 and (
                (cur % 1000 == 0 and v < 1000) or (cur % 100 == 0 and v < 100)):
            cur += v
        else:
            break
        last = typ if not (typ == "compound" and v % 100 == 0 and v >= 100) else "compound"
        if typ == "compound" and v >= 100 and v % 100 != 0:
            last = "closed"
        ordinal = ov is not None
        j += 1
        if ordinal:
            break
    if j == i:
        return None
    value = total + (cur or 0)
    return Number(value, str(value), i, j, ordinal)
