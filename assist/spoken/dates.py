"""Calendar dates said with a month name (en/nl) or written numerically."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from assist.spoken.numbers import read_number
from assist.spoken.tokens import Token

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "januari": 1, "februari": 2, "maart": 3, "mei": 5, "juni": 6, "juli": 7, "augustus": 8,
    "oktober": 10, "jan": 1, "feb": 2, "aug": 8, "sept": 9, "sep": 9, "okt": 10, "oct": 10,
    "nov": 11, "dec": 12,
}
_AMBIGUOUS_MONTHS = {"may", "march", "jan", "dec", "sep", "nov", "aug", "oct", "feb"}


@dataclass(frozen=True)
class DateMatch:
    iso: str
    start: int
    end: int
    i0: int
    i1: int
    two_digit_year: bool = False


def _year_from(tokens: list[Token], j: int, today: dt.date) -> tuple[int, int, bool] | None:
    """A year said after the month: "nineteen eighty-five", "eighty-five", "2001",
    "tweeduizend een", "twenty oh three". Returns (year, next index, two-digit?)."""
    while j < len(tokens) and (tokens[j].text == "," or tokens[j].low in ("in", "of", "'")):
        j += 1
    digits, k = "", j
    while k < len(tokens) and len(digits) < 4:
        num = read_number(tokens, k)
        if num is None:
            break
        if digits and num.numeral:
            break
        digits += num.digits
        k = num.i1
        if k < len(tokens) and tokens[k].kind == "punct":
            break
    if len(digits) == 4 and 1900 <= int(digits) <= today.year:
        return int(digits), k, False
    if len(digits) == 2 or (len(digits) == 1 and tokens[j].low in ("oh",)):
        yy = int(digits)
        century = 2000 if 2000 + yy <= today.year else 1900
        return century + yy, k, True
    if len(digits) == 3 and digits.startswith("0"):  # "oh five" -> 05
        return None
    return None


def _day_at(tokens: list[Token], i: int) -> tuple[int, int] | None:
    """A day number starting at i: (day, next index)."""
    num = read_number(tokens, i, ordinals=True)
    if num is None or not 1 <= num.value <= 31:
        return None
    return num.value, num.i1


def find_dates(tokens: list[Token], text: str, today: dt.date | None = None) -> list[DateMatch]:
    """Calendar dates with a month name (en/nl, day before or after it) or written numerically."""
    today = today or dt.date.today()
    out: list[DateMatch] = []
    n = len(tokens)
    for m_i, t in enumerate(tokens):
        month = MONTHS.get(t.low)
        if month is None or t.kind != "word":
            continue
        if t.low in _AMBIGUOUS_MONTHS and t.text.islower() and t.low not in ("maart",):
            continue
        day = None
        d_start = m_i
        # day before: "[the] fourteenth [of] March", "veertien maart", "14 maart"
        k = m_i - 1
        if k >= 0 and tokens[k].low in ("of", "van", "on"):  # "29th on February": ASR for "of"
            k -= 1
        for back in (3, 2, 1):
            b = k - back + 1
            if b < 0:
                continue
            got = _day_at(tokens, b)
            if got and got[1] == k + 1:
                day, d_start = got[0], b
                break
        y_from = m_i + 1
        if day is None:  # "March the 14th", "June 3rd"
            k = m_i + 1
            if k < n and tokens[k].low in ("the", "de"):
                k += 1
            got = _day_at(tokens, k)
            if got:
                day, y_from = got[0], got[1]
        if day is None:
            continue
        if d_start > 0 and tokens[d_start - 1].low in ("the", "de"):
            d_start -= 1
        year = _year_from(tokens, y_from, today)
        if year is None:
            continue
        try:
            d = dt.date(year[0], month, day)
        except ValueError:
            continue
        out.append(DateMatch(d.isoformat(), tokens[d_start].start, tokens[year[1] - 1].end,
                             d_start, year[1], year[2]))
    # three groups exactly: "06.12.34.56.78" is a phone number written with dots, not a date
    for m in re.finditer(r"(?<![\d/.-])\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b(?![/.-]\d)", text):
        a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
        year = int(y) if len(y) == 4 else (2000 + int(y) if 2000 + int(y) <= today.year
                                           else 1900 + int(y))
        day, month = (a, b) if b <= 12 else (b, a)
        try:
            d = dt.date(year, month, day)
        except ValueError:
            continue
        i0 = next(i for i, tk in enumerate(tokens) if tk.end > m.start())
        i1 = next((i for i, tk in enumerate(tokens) if tk.start >= m.end()), n)
        out.append(DateMatch(d.isoformat(), m.start(), m.end(), i0, i1, len(y) == 2))
    return out
