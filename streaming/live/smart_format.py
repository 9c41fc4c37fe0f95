"""What `smart_format=true` writes beyond numerals (issue 14): e-mail addresses, money, times,
dates and ordinals, the way Deepgram's smart format writes them in English.

Works on the written words after `numerals` has run (so "twenty five" is already "25"),
each as (leading punctuation, core, trailing punctuation), and finds spans to rewrite:
(first word, word after the last, new text, new `word`). `formatting.TextFormat` maps them
back onto the model's words, so a span of several words becomes one entry of `words`.

Only unambiguous patterns are rewritten; anything else is left as written:

* e-mail: "john dot smith at example dot com" -> "john.smith@example.com": an "at" between a
  local part and a domain that ends in a known top-level domain ("at home", "at five" and
  "look at example dot com" stay: no domain, or a local part that is an ordinary word).
* money: "25 dollars" / "twenty five dollars" -> "$25", "50 euros" -> "€50",
  "5 dollars and 50 cents" -> "$5.50" ("pounds" may be weight: left alone).
* times with am/pm: "three thirty pm" -> "3:30 PM", "eight oh five a.m." -> "8:05 AM",
  "ten pm" -> "10 PM" (Deepgram's "8:37 PM"); a time without am/pm is left.
* dates: a month and its day -> "November 2" (Deepgram writes "November 2", not "2nd"):
  "november second", "November 2nd", "March twenty-first"; May, March and August only
  when capitalised, as Whisper writes the month (not "you may second it").
* ordinals: 11th and up said as words -> "21st", "13th" ("twenty first century" ->
  "21st century"), and "the third of March" -> "the 3rd of March"; "first" to "tenth" stay
  words elsewhere ("first of all", "a second", "a third of it"), as do fractions ("a
  twentieth").
* international numbers: "plus" before a dictated run of 8 or more digits -> "+31612345678".
  Phone numbers otherwise stay the plain digits `numerals` writes: Deepgram documents no
  grouping we could match.
"""

from __future__ import annotations

import re

Parsed = tuple[str, str, str]  # (leading punctuation, core, trailing punctuation)
Span = tuple[int, int, str, str]

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_AMBIGUOUS_MONTHS = {"may", "march", "august"}  # ordinary words too: a month only capitalised
_UNIT_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9}
_ORD = _UNIT_ORD | {
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60,
    "seventieth": 70, "eightieth": 80, "ninetieth": 90}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_CURRENCY = {"dollar": "$", "dollars": "$", "euro": "€", "euros": "€"}
_MERIDIEM = {"am": "AM", "pm": "PM", "a.m": "AM", "p.m": "PM"}
_SEPARATORS = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
_TLDS = {"com", "org", "net", "edu", "gov", "io", "co", "info", "biz", "me", "ai", "app", "dev",
         "nl", "be", "de", "fr", "uk", "eu", "us", "ca", "au", "es", "it", "ch", "se",
         "no", "dk", "ie", "pl", "pt", "nz", "in", "jp"}
# a one-word local part that is an ordinary word: "look at example dot com", "find us at …"
_NOT_LOCAL = {
    "a", "an", "the", "and", "or", "but", "so", "to", "of", "for", "from", "with", "by", "in",
    "on", "up", "out", "over", "back", "here", "there", "now", "then", "only", "also", "just",
    "me", "us", "you", "him", "her", "it", "them", "we", "i", "they", "she", "he", "this",
    "that", "these", "those", "what", "where", "which", "who", "is", "are", "was", "were", "be",
    "been", "am", "look", "looking", "looked", "find", "found", "visit", "go", "going", "went",
    "see", "check", "meet", "stay", "live", "lives", "online", "available", "site", "website",
    "page", "home", "work", "school", "located", "based", "hosted", "posted", "email", "e-mail",
    "mail", "address", "write", "send", "reach", "call", "yes", "no", "okay", "ok"}
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$")
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")
_DAY_SUFFIX = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)$")


def smart_spans(parsed: list[Parsed]) -> list[Span]:
    """The spans to rewrite, in order, none overlapping (earlier families win)."""
    spans: list[Span] = []
    taken: set[int] = set()
    for family in (_emails, _money, _times, _dates, _ordinals, _international):
        for a, b, text, word in family(parsed):
            if b - a == 1 and text == "".join(parsed[a]):
                continue  # already written so
            if taken.isdisjoint(range(a, b)):
                spans.append((a, b, text, word))
                taken.update(range(a, b))
    return sorted(spans)


def ordinal_suffix(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _low(p: Parsed) -> str:
    return p[1].lower()


def _free(parsed: list[Parsed], a: int, b: int) -> bool:
    """No punctuation between the words a..b-1 (their outer edges may have some)."""
    return all(not parsed[k][2] and not parsed[k + 1][0] for k in range(a, b - 1))


def _span(parsed: list[Parsed], a: int, b: int, core: str, word: str | None = None) -> Span:
    return a, b, parsed[a][0] + core + parsed[b - 1][2], word if word is not None else core.lower()


# -- e-mail -------------------------------------------------------------------------------
def _emails(parsed: list[Parsed]):
    for k in range(1, len(parsed) - 1):
        if _low(parsed[k]) != "at":
            continue
        domain = _domain(parsed, k + 1)
        local = _local(parsed, k - 1)
        if domain and local and _free(parsed, k - 1, k + 2):
            address = f"{local[1]}@{domain[1]}"
            yield _span(parsed, local[0], domain[0], address)


def _label(p: Parsed) -> str | None:
    low = _low(p)
    return low if _LABEL.match(low) and low not in _SEPARATORS and low != "at" else None


def _glued(parsed: list[Parsed], k: int) -> str | None:
    """The label of word k when it is written on to the word before it with a dot: Whisper's
    words for "email.com" are "email" and ".com"."""
    if 0 < k < len(parsed) and parsed[k][0] == "." and not parsed[k - 1][2]:
        return _label(parsed[k])
    return None


def _domain(parsed: list[Parsed], j: int) -> tuple[int, str] | None:
    """(word after the domain, domain) of a domain said from word j: "example dot com",
    "gmail.com", "gmail" ".com"; it must end in a known top-level domain."""
    if j >= len(parsed) or not (first := _label(parsed[j])):
        return None
    labels, k = [first], j + 1
    while True:
        if k + 1 < len(parsed) and _low(parsed[k]) == "dot" and (nxt := _label(parsed[k + 1])) \
                and _free(parsed, k - 1, k + 2):
            labels.append(nxt)
            k += 2
        elif glued := _glued(parsed, k):
            labels.append(glued)
            k += 1
        else:
            break
    domain = ".".join(labels)
    if "." not in domain or domain.rsplit(".", 1)[1] not in _TLDS:
        return None
    return k, domain


def _local(parsed: list[Parsed], k: int) -> tuple[int, str] | None:
    """(first word, local part) of a local part said up to word k: "john dot smith"."""
    if k < 0 or not (last := _label(parsed[k])):
        return None
    parts, m = [last], k
    while True:
        if m >= 2 and _low(parsed[m - 1]) in _SEPARATORS and (prev := _label(parsed[m - 2])) \
                and _free(parsed, m - 2, m + 1):
            parts[:0] = [prev, _SEPARATORS[_low(parsed[m - 1])]]
            m -= 2
        elif _glued(parsed, m) and (prev := _label(parsed[m - 1])):
            parts[:0] = [prev, "."]
            m -= 1
        else:
            break
    local = "".join(parts)
    if m == k and local in _NOT_LOCAL:
        return None
    return m, local


# -- money --------------------------------------------------------------------------------
def _amount(p: Parsed) -> str | None:
    low = _low(p)
    return "1" if low == "one" else low if _AMOUNT.match(low) else None


def _money(parsed: list[Parsed]):
    for k in range(len(parsed) - 1):
        amount, symbol = _amount(parsed[k]), _CURRENCY.get(_low(parsed[k + 1]))
        if amount is None or symbol is None or not _free(parsed, k, k + 2):
            continue
        end = k + 2
        if (end + 2 < len(parsed) and _low(parsed[end]) == "and" and _low(parsed[end + 2]) in ("cent", "cents")
                and re.fullmatch(r"\d{1,2}", _low(parsed[end + 1])) and "." not in amount
                and _free(parsed, k, end + 3)):
            amount += f".{int(_low(parsed[end + 1])):02d}"
            end += 3
        yield _span(parsed, k, end, symbol + amount)


# -- times --------------------------------------------------------------------------------
def _clock(parsed: list[Parsed], k: int) -> tuple[int, str] | None:
    """(first word, time) of a time written up to word k: "3", "3:30", "3.30", "330",
    "1015", "3 30", "11 oh 5"."""
    def valid(h: int, m: int | None) -> str | None:
        if not 1 <= h <= 12 or (m is not None and not 0 <= m <= 59):
            return None
        return f"{h}" if m is None else f"{h}:{m:02d}"

    low = _low(parsed[k])
    if k >= 2 and re.fullmatch(r"\d", low) and _low(parsed[k - 1]) in ("oh", "o") \
            and re.fullmatch(r"\d{1,2}", _low(parsed[k - 2])) and _free(parsed, k - 2, k + 1):
        t = valid(int(_low(parsed[k - 2])), int(low))
        return (k - 2, t) if t else None
    if k >= 1 and re.fullmatch(r"\d{2}", low) and re.fullmatch(r"\d{1,2}", _low(parsed[k - 1])) \
            and _free(parsed, k - 1, k + 1):
        t = valid(int(_low(parsed[k - 1])), int(low))
        if t:
            return k - 1, t
    if m := _CLOCK.match(low):
        t = valid(int(m[1]), int(m[2]) if m[2] else None)
        return (k, t) if t else None
    if re.fullmatch(r"\d{3,4}", low):
        t = valid(int(low[:-2]), int(low[-2:]))
        return (k, t) if t else None
    return None


def _times(parsed: list[Parsed]):
    for k in range(1, len(parsed)):
        meridiem = _MERIDIEM.get(_low(parsed[k]))
        if meridiem is None or not _free(parsed, k - 1, k + 1):
            continue
        clock = _clock(parsed, k - 1)
        if clock is None:
            continue
        yield _span(parsed, clock[0], k, clock[1])
        lead, core, trail = parsed[k]
        if "." in core and trail.startswith("."):  # "p.m." ends the abbreviation, not a sentence
            last = k + 1 == len(parsed)
            if not last and not parsed[k + 1][1][:1].isupper():
                trail = trail[1:]
        yield k, k + 1, lead + meridiem + trail, meridiem.lower()


# -- dates and ordinals -------------------------------------------------------------------
def _month(p: Parsed) -> str | None:
    low = _low(p)
    if low not in _MONTHS or (low in _AMBIGUOUS_MONTHS and not p[1][:1].isupper()):
        return None
    return low.capitalize()


def _ordinal(parsed: list[Parsed], k: int) -> tuple[int, int] | None:
    """(value, word after it) of an ordinal said from word k: "third", "twenty-first",
    "twenty first" (numerals may have written "20 first")."""
    low = _low(parsed[k])
    if low in _ORD:
        return _ORD[low], k + 1
    head, _, tail = low.partition("-")
    if tail in _UNIT_ORD and head in _TENS:
        return _TENS[head] + _UNIT_ORD[tail], k + 1
    tens = _TENS.get(low) or (int(low) if re.fullmatch(r"[2-9]0", low) else None)
    if tens and k + 1 < len(parsed) and _low(parsed[k + 1]) in _UNIT_ORD and _free(parsed, k, k + 2):
        return tens + _UNIT_ORD[_low(parsed[k + 1])], k + 2
    return None


def _dates(parsed: list[Parsed]):
    for k in range(len(parsed) - 1):
        month = _month(parsed[k])
        if month is None or not _free(parsed, k, k + 2):
            continue
        low = _low(parsed[k + 1])
        day, end = None, k + 2
        if found := _ordinal(parsed, k + 1):  # before the digits: "20 first" is 21
            day, end = found
        elif m := (_DAY_SUFFIX.match(low) or re.fullmatch(r"\d{1,2}", low)):
            day = int(m[1] if m.groups() else m[0])
        if day is None or not 1 <= day <= 31:
            continue
        yield _span(parsed, k, k + 1, month)
        yield _span(parsed, k + 1, end, str(day))


def _ordinals(parsed: list[Parsed]):
    for k in range(len(parsed)):
        found = _ordinal(parsed, k)
        if found is None:
            continue
        value, end = found
        prev = _low(parsed[k - 1]) if k else ""
        of_month = (prev == "the" and end + 1 < len(parsed) and _low(parsed[end]) == "of"
                    and _month(parsed[end + 1]) is not None and value <= 31 and _free(parsed, k, end + 1))
        fraction = prev in ("a", "an", "one") or prev.isdigit()
        if (value >= 11 and not fraction) or of_month:
            yield _span(parsed, k, end, f"{value}{ordinal_suffix(value)}")
        if of_month:
            yield _span(parsed, end + 1, end + 2, _month(parsed[end + 1]) or "")


# -- international numbers ----------------------------------------------------------------
def _international(parsed: list[Parsed]):
    for k in range(len(parsed) - 1):
        digits = _low(parsed[k + 1])
        if _low(parsed[k]) == "plus" and re.fullmatch(r"\d{8,15}", digits) and _free(parsed, k, k + 2):
            yield _span(parsed, k, k + 2, "+" + digits)
