"""Text normalisation and word error rate, for benchmarks and accuracy tests.

References write numbers as words ("nineteen eighty-five"), Whisper writes
digits ("1985"); both sides are normalised the same way before comparing, a
small version of Whisper's English normaliser.
"""

from __future__ import annotations

import re

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORD = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}
_SPELLING = {
    "colour": "color", "centre": "center", "favourite": "favorite", "honour": "honor",
    "realise": "realize", "organise": "organize", "mr": "mister", "mrs": "missus",
    "dr": "doctor", "st": "saint", "ok": "okay", "gonna": "going to", "wanna": "want to",
    "yeah": "yes", "cannot": "can not",
}
_FILLERS = {"um", "uh", "hmm", "mm", "er", "ah", "eh", "erm", "uhm", "mhm"}


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return _TENS[t] + ("" if o == 0 else " " + _ONES[o])
    if n < 1000:
        h, r = divmod(n, 100)
        return _ONES[h] + " hundred" + ("" if r == 0 else " " + number_words(r))
    if 1100 <= n < 2000 and n % 100 and n % 1000 >= 100:  # years: nineteen eighty five
        return number_words(n // 100) + " " + number_words(n % 100)
    if n < 1_000_000:
        k, r = divmod(n, 1000)
        return number_words(k) + " thousand" + ("" if r == 0 else " " + number_words(r))
    return " ".join(_ONES[int(d)] for d in str(n))


def _ordinal(n: int) -> str:
    words = number_words(n).split()
    last = words[-1]
    if last in _ORD:
        words[-1] = _ORD[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def normalize_text(text: str) -> str:
    t = text.lower().replace("’", "'")
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)
    t = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: _ordinal(int(m.group(1))), t)
    t = re.sub(r"\d+", lambda m: " " + number_words(int(m.group(0))) + " ", t)
    t = t.replace("-", " ")
    t = re.sub(r"[^\w' ]+", " ", t)
    out = []
    for w in t.split():
        w = w.strip("'")
        if not w or w in _FILLERS:
            continue
        out.extend(_SPELLING.get(w, w).split())
    return " ".join(out)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference` after normalisation."""
    ref = normalize_text(reference).split()
    hyp = normalize_text(hypothesis).split()
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(errors, reference words): sum these over clips for a corpus-level WER."""
    ref = normalize_text(reference).split()
    return edit_distance(ref, normalize_text(hypothesis).split()), len(ref)
