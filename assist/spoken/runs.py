"""Dictated values as runs of digits and letters ("N L eenentwintig, H R B B").

A caller spells ids in pieces with pauses; a run is those pieces with only
commas, hyphens or fillers between them, each piece knowing where it was said.
Which field a run is (IBAN, phone, postcode...) is decided by the form, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assist.spoken.numbers import read_number
from assist.spoken.tokens import Token, tokenize
from assist.spoken.words import DASH_WORDS, FILLERS, MULTIPLIERS, NATO, WEAK_NUMBER_WORDS

LETTER_STOPWORDS = {
    "bsn", "iban", "pin", "ok", "oke", "sim", "id", "dob", "cak", "ai", "sms", "tv", "pc", "bv",
    "nv", "eur", "gbp", "usd", "atm", "pdf", "ceo", "uk", "usa", "eu", "sepa", "kyc", "faq",
    "no", "yes", "is", "it", "my", "me", "we", "he", "to", "of", "in", "on", "at", "an", "as",
    "be", "by", "do", "go", "if", "or", "so", "up", "us", "am", "ja", "nee", "en", "de", "het",
    "op", "te", "om", "er", "ik", "je", "u", "wij", "ze", "zo", "na", "al", "the", "and",
    "oh", "hi", "ah", "uh", "um", "eh", "mm", "hm", "mr", "mrs", "ms", "dr", "jr", "sr",
}
_LETTER_FOR = {"for", "as", "like", "van", "voor", "zoals", "als"}


@dataclass(frozen=True)
class Item:
    """One piece of a dictated value: digits or letters, with where it was said."""

    kind: str  # d (digits) | l (letters)
    text: str  # upper-case
    start: int
    end: int
    i0: int
    i1: int
    strong: bool = True
    zero_or_o: bool = False  # a lone "O": the letter or zero, decided by the field
    gap_before: bool = False  # a pause (comma) or a new written group before this piece


@dataclass(frozen=True)
class Run:
    """Consecutive value pieces with only commas, hyphens or fillers between them."""

    items: tuple[Item, ...]

    @property
    def start(self) -> int:
        return self.items[0].start

    @property
    def end(self) -> int:
        return self.items[-1].end

    @property
    def i0(self) -> int:
        return self.items[0].i0

    @property
    def i1(self) -> int:
        return self.items[-1].i1

    def text(self, zero_as_letter: bool = False) -> str:
        return "".join(
            ("O" if zero_as_letter else "0") if it.zero_or_o else it.text for it in self.items)

    @property
    def digits(self) -> str:
        return "".join(c for c in self.text() if c.isdigit())

    @property
    def n_digits(self) -> int:
        return sum(len(it.text) for it in self.items if it.kind == "d")

    @property
    def n_letters(self) -> int:
        return sum(len(it.text) for it in self.items if it.kind == "l")


def _letter_item(tokens: list[Token], i: int) -> Item | None:
    t = tokens[i]
    if t.kind == "alnum":
        return Item("l", t.text.upper(), t.start, t.end, i, i + 1, True)  # mixed: fixed below
    if t.kind != "word" or not t.text.isalpha():
        return None
    if len(t.text) == 1:
        c = t.text
        if t.letters_hyphen:
            return Item("l", c.upper(), t.start, t.end, i, i + 1, True, False)
        if c in "Oo":
            return Item("l", "O", t.start, t.end, i, i + 1, False, True)
        if c in "AIai":
            return Item("l", c.upper(), t.start, t.end, i, i + 1, False)
        return Item("l", c.upper(), t.start, t.end, i, i + 1, c.isupper())
    if (2 <= len(t.text) <= 4 and t.text.isupper() and t.low not in LETTER_STOPWORDS):
        return Item("l", t.text, t.start, t.end, i, i + 1, False)
    return None


def _split_alnum(t: Token, i: int) -> list[Item]:
    out = []
    for m in re.finditer(r"\d+|[^\W\d_]+", t.text):
        kind = "d" if m.group().isdigit() else "l"
        out.append(Item(kind, m.group().upper(), t.start + m.start(), t.start + m.end(), i, i + 1))
    return out


_RUN_JOINERS = {",", "-", "–", "/", "‐", "(", ")"}


def _dotted_groups(tokens: list[Token]) -> set[int]:
    """The dots of digit groups written with dots and no spaces, three groups or more
    ("06.47.12.88.39", "111.222.333", as Dutch writes them): they join like hyphens. One
    dot ("10.30", "2.5") stays a time, an amount or a sentence end."""
    out: set[int] = set()
    i, n = 0, len(tokens)
    while i < n:
        j = i
        while (j + 2 < n and tokens[j].kind == "num" and tokens[j + 1].text == "."
               and not tokens[j + 1].space_before and not tokens[j + 2].space_before
               and tokens[j + 2].kind == "num"):
            j += 2
        if j - i >= 4:
            out.update(range(i + 1, j, 2))
        i = max(j, i + 1)
    return out


def value_runs(tokens: list[Token], skip: set[int] | frozenset[int] = frozenset()) -> list[Run]:
    """Cut the token list into runs of digits and letters as a caller dictates them.

    Weak pieces (a lone "one", "oh", "een", "A", "I", "O", short upper-case words)
    only count when they touch a strong piece, so "the selfie one" or "Oh, right"
    do not become values.
    """
    runs: list[list[Item]] = []
    cur: list[Item] = []
    i, n = 0, len(tokens)
    gap = False

    def close() -> None:
        nonlocal cur
        if cur:
            runs.append(cur)
        cur = []

    def add(item: Item) -> None:
        nonlocal gap
        written = tokens[item.i0].kind in ("num", "alnum")
        if cur and (gap or (written and tokens[cur[-1].i0].kind in ("num", "alnum")
                            and cur[-1].i0 != item.i0)):
            item = replace(item, gap_before=True)
        cur.append(item)
        gap = False
    group_dots = _dotted_groups(tokens)

    while i < n:
        if i in skip:
            close()
            i += 1
            continue
        t = tokens[i]
        if t.kind == "punct":
            # "S.E. 15" as an ASR writes spelled letters: a dot glued to a letter joins
            dotted = (t.text == "." and not t.space_before and i > 0
                      and len(tokens[i - 1].text) == 1 and (
                          (i + 1 < n and not tokens[i + 1].space_before)
                          or (i >= 2 and tokens[i - 2].text == "." and not tokens[i - 1].space_before)))
            if t.text not in _RUN_JOINERS and not dotted and i not in group_dots:
                close()
            gap = gap or not dotted
            i += 1
            continue
        if t.low in FILLERS or (t.low in DASH_WORDS and cur):
            gap = True  # "B E, streepje, vier vier ..." - the dash is part of the id
            i += 1
            continue
        rep = MULTIPLIERS.get(t.low)
        if rep and i + 1 < n and i + 1 not in skip:
            nxt = _single_piece(tokens, i + 1)
            if nxt is not None and len(nxt.text) == 1:
                add(Item(nxt.kind, nxt.text * rep, t.start, nxt.end, i, nxt.i1, True, False))
                i = nxt.i1
                continue
        if t.low == "all" and cur and cur[-1].kind == "d" and i + 1 < n and (
                (nxt := _single_piece(tokens, i + 1)) is not None and nxt.kind == "d"):
            # "five one nine two, all three seven four": Whisper's hearing of "oh" between digits
            add(Item("d", "0", t.start, t.end, i, i + 1, False, True))
            i += 1
            continue
        if _nato_letter(tokens, i):  # "Golf Romeo Echo ...": the alphabet's words are letters
            add(Item("l", NATO[t.low], t.start, t.end, i, i + 1, True))
            i += 1
            continue
        piece = _single_piece(tokens, i)
        if piece is None:
            close()
            i += 1
            continue
        if tokens[i].kind == "alnum":
            for it in _split_alnum(tokens[i], i):
                add(it)
            i += 1
            continue
        add(piece)
        i = piece.i1
        # "P for Peter", "P van Pieter": the example word only confirms the letter
        if piece.kind == "l" and len(piece.text) == 1 and i + 1 < n:
            k = i + 1 if tokens[i].low in _LETTER_FOR else 0
            if tokens[i].low == "as" and i + 1 < n and tokens[i + 1].low == "in":
                k = i + 2
            if k and k < n and tokens[k].text[:1].upper() == piece.text and len(tokens[k].text) > 2:
                cur[-1] = replace(cur[-1], strong=True)
                i = k + 1
    close()
    return [r for items in runs for r in _drop_weak(items)]


def _nato_letter(tokens: list[Token], i: int) -> bool:
    """A spelling-alphabet word next to another one ("Golf, Romeo"): one alone is a word
    ("the hotel", "Victor")."""
    if tokens[i].low not in NATO:
        return False
    for step in (-1, 1):
        k = i + step
        while 0 <= k < len(tokens) and tokens[k].kind == "punct" and tokens[k].text in ",-.":
            k += step
        if 0 <= k < len(tokens) and tokens[k].low in NATO:
            return True
    return False


def _single_piece(tokens: list[Token], i: int) -> Item | None:
    t = tokens[i]
    num = read_number(tokens, i)
    if num is not None:
        weak = num.i1 - num.i0 == 1 and t.low in WEAK_NUMBER_WORDS
        return Item("d", num.digits, t.start, tokens[num.i1 - 1].end, i, num.i1, not weak)
    return _letter_item(tokens, i)


def _drop_weak(items: list[Item]) -> list[Run]:
    keep = [it.strong for it in items]
    for k, it in enumerate(items):
        if not it.strong:
            left = k > 0 and items[k - 1].strong
            right = k + 1 < len(items) and items[k + 1].strong
            keep[k] = left or right
    # a weak piece next to a kept weak piece that touches a strong one ("I" in M I T)
    changed = True
    while changed:
        changed = False
        for k in range(len(items)):
            if not keep[k] and any(0 <= m < len(items) and keep[m] for m in (k - 1, k + 1)):
                keep[k] = changed = True
    out, cur = [], []
    for k, it in enumerate(items):
        if keep[k]:
            cur.append(it)
        elif cur:
            out.append(Run(tuple(cur)))
            cur = []
    if cur:
        out.append(Run(tuple(cur)))
    return out


def spoken_alnum(text: str) -> str:
    """All dictated digits and letters in a text, concatenated ("H C seven one one" -> "HC711")."""
    return "".join(r.text() for r in value_runs(tokenize(text)))
