"""Number words, English and Dutch, read one word at a time.

Kept apart from the token and number grammar because both need it: the tokenizer
decides whether "twenty-four" splits by asking whether its parts are number words,
and `read_number` composes the parts into one value.
"""

from __future__ import annotations

import re

# "14th", "3rd", "21ste", "1e": a numeral written as an ordinal
ORDINAL_NUMERAL = re.compile(r"^(\d{1,4})(?:st|nd|rd|th|ste|de|e)$")

EN_UNITS = {"zero": 0, "oh": 0, "nought": 0, "nil": 0, "one": 1, "two": 2, "three": 3,
            "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
EN_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
            "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
           "seventy": 70, "eighty": 80, "ninety": 90}
EN_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
               "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11,
               "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
               "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
               "twentieth": 20, "thirtieth": 30}
NL_UNITS = {"nul": 0, "een": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6,
            "zeven": 7, "acht": 8, "negen": 9}
NL_TEENS = {"tien": 10, "elf": 11, "twaalf": 12, "dertien": 13, "veertien": 14, "vijftien": 15,
            "zestien": 16, "zeventien": 17, "achttien": 18, "negentien": 19}
NL_TENS = {"twintig": 20, "dertig": 30, "veertig": 40, "vijftig": 50, "zestig": 60,
           "zeventig": 70, "tachtig": 80, "negentig": 90}
NL_ORD_SPECIAL = {"eerste": 1, "derde": 3, "achtste": 8}
# Words that are also ordinary words: they count as digits only next to other digits.
WEAK_NUMBER_WORDS = {"one", "oh", "een", "ten", "nil", "second"}
MULTIPLIERS = {"double": 2, "dubbel": 2, "dubbele": 2, "triple": 3, "treble": 3,
               "driedubbel": 3, "trippel": 3}
DASH_WORDS = {"dash", "hyphen", "streepje", "koppelteken", "liggend"}
# The NATO spelling alphabet (prompts/lexicons/pii.yaml has it too, for redaction, with the
# Dutch one): word -> letter
NATO = {w: chr(ord("A") + k) for k, ws in enumerate((
    "alpha alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet juliett", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey whisky", "x-ray xray", "yankee", "zulu"))
    for w in ws.split()}
FILLERS = {"uh", "um", "uhm", "erm", "er", "eh", "ehm", "euh", "hmm", "uhh", "umm"}


def nl_number(w: str) -> int | None:
    """Parse one written-together Dutch number ("negentienhonderdtweeennegentig" -> 1992)."""
    if not w or not w.isalpha():
        return None
    for table in (NL_UNITS, NL_TEENS, NL_TENS):
        if w in table:
            return table[w]
    for word, scale in (("duizend", 1000), ("honderd", 100)):
        if word in w:  # "negentien|honderd|tweeennegentig": left * scale + right
            left, _, right = w.partition(word)
            lv = nl_number(left) if left else 1
            rv = _nl_rest(right, scale)
            if lv is not None and 1 <= lv < scale and rv is not None:
                return lv * scale + rv
            return None
    for u, uv in NL_UNITS.items():
        if uv and w.startswith(u + "en") and w[len(u) + 2:] in NL_TENS:
            return NL_TENS[w[len(u) + 2:]] + uv
    return None


def _nl_rest(right: str, below: int) -> int | None:
    if not right:
        return 0
    if right.startswith("en") and nl_number(right[2:]) is not None:
        right = right[2:]
    v = nl_number(right)
    return v if v is not None and v < below else None


def atomic_number(w: str) -> int | None:
    """One cardinal number word, en or nl ("forty", "hundred", "vijfentwintig")."""
    for table in (EN_UNITS, EN_TEENS, EN_TENS):
        if w in table:
            return table[w]
    if w in ("hundred", "thousand"):
        return 100 if w == "hundred" else 1000
    return nl_number(w)


def ordinal_word(w: str) -> int | None:
    """English/Dutch ordinal words ("fourteenth", "eenendertigste", "derde")."""
    if w in EN_ORDINALS:
        return EN_ORDINALS[w]
    if w in NL_ORD_SPECIAL:
        return NL_ORD_SPECIAL[w]
    for suf in ("ste", "de"):
        if w.endswith(suf) and len(w) > len(suf) + 2:
            v = nl_number(w[: -len(suf)])
            if v is not None and 1 < v < 100:
                return v
    return None
