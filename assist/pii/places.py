"""Street addresses and postcodes said in a call, without a form to say which.

A street with its house number ("12 Baker Street", "flat 3, 22 Mill Road",
"Keizersgracht 123", "Dorpsstraat 4a", "Laan van Meerdervoort tweehonderdtien")
points at one household; a Dutch street name alone ("Nieuwegracht.", the number
following in the next turn) is removed too. Written postcodes ("1234 AB",
"SW1A 1AA") are found here; dictated ones are runs (`spelled.run_kind`).
"""

from __future__ import annotations

import re

from assist.autofill.addresses import EN_STREET_SUFFIXES, NL_STREET_SUFFIXES, NL_STREET_WORDS
from assist.autofill.cues import PARTICLES
from assist.pii.lexicon import Lexicon
from assist.spoken import Token, read_number

POSTCODES = re.compile(r"\b(?:[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})\b")
# A UK postcode the ASR split: "M20, for WD" (M20 4WD), "E2 for JH", "G12. A QQ" (the
# inward digit heard as a word or a letter), and an inward code left alone beside a
# redacted outward one ("[number]. 3DL"). Inward letters never include C I K M O V, so
# "3PM" and "9AM" stay.
_IN = "[ABD-HJLNP-UW-Z]"
UK_SPLIT = re.compile(rf"\b[A-Z]{{1,2}}\d[A-Z\d]?[.,]?\s+(?:(?i:for|four|fore)|\d|[A-Z])[.,]?\s+"
                      rf"(?:{_IN}{{2}}|{_IN} {_IN})\b")
_OUTWARD = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?")
_INWARD_HEARD = re.compile(r"(?i)\d?[abd-hjlnp-uw-z]{2,3}")
# a turn about an address (or holding a postcode), where a house number and two
# capitalised words are one
ADDRESS_TALK = re.compile(r"(?i)\b(?:address|post ?codes?|live at|living at|moved to|adres|woon)")
UK_INWARD = re.compile(rf"(?<![\w-])\d{_IN}{{2}}(?![\w-])")
# English street words that name nothing else once capitalised after a capitalised word
_EN_SURE = {"street", "road", "lane", "avenue", "drive", "crescent", "terrace", "gardens",
            "grove", "mews", "boulevard", "close", "parade", "rd", "st", "ave"}
_LONG_SUFFIXES = sorted(s for s in EN_STREET_SUFFIXES if len(s) >= 5 and s not in ("close", "green"))
_UNITS = {"flat", "apartment", "apt", "unit", "suite", "appartement", "huisnummer"}
_NUMBER_WORD = re.compile(r"(?i)^(?:number|no|nummer|nr|huisnummer)$")


def _house_number(tokens: list[Token], i: int) -> int | None:
    """A house number at i ("22", "4a", "4-B", "twenty-two", "tweehonderdtien", "number 12"):
    the index after it, with a letter suffix ("4 a", "12 B") and "hoog"/"bis" included."""
    n = len(tokens)
    if i < n and _NUMBER_WORD.match(tokens[i].low) and i + 1 < n:
        i += 1
    if i >= n:
        return None
    t = tokens[i]
    if t.kind == "alnum" and re.match(r"^\d{1,5}[a-zA-Z]{0,2}$", t.text):
        j = i + 1
    else:
        num = read_number(tokens, i)
        if num is None or len(num.digits) > 5:
            return None
        j = num.i1
    if j < n and tokens[j].kind == "word" and (len(tokens[j].text) == 1 and tokens[j].text.isalpha()
                                                and tokens[j].text not in "Ia"
                                                or tokens[j].low in ("hoog", "bis", "zwart")):
        j += 1
    return j


def _misheard_suffix(low: str) -> bool:
    """A word the ASR may have made of a street suffix ("Terres" for Terrace, "Streak",
    "Avenew"): the first four letters of a suffix of five or more, not itself a suffix.
    Only trusted with a house number before the street (`find_addresses`)."""
    return len(low) >= 5 and low not in EN_STREET_SUFFIXES and any(
        low[:4] == s[:4] for s in _LONG_SUFFIXES)


def _capitalised(t: Token) -> bool:
    return t.kind == "word" and t.text[:1].isupper() and len(t.text) > 1 and t.text.isalpha()


def _nl_street(t: Token, lex: Lexicon, numbered: bool) -> bool:
    """One word that is a Dutch street name ("Keizersgracht", "Dorpsstraat"), not an
    everyday word that happens to end like one ("verzekering", "snelweg"); an everyday
    word counts only with a house number after it ("Dorpsstraat 4a")."""
    if t.kind != "word" or not t.text[:1].isupper() or (t.low in lex.common and not numbered):
        return False
    return any(t.low.endswith(s) and len(t.low) >= len(s) + 3 for s in NL_STREET_SUFFIXES)


def _street_start(tokens: list[Token], k: int, lex: Lexicon) -> int:
    """Where a street name ending at token k begins: capitalised words and particles
    before it ("Laan van Meerdervoort", "Burgemeester de Withstraat", "North Clark Street")."""
    a = k
    while a - 1 >= 0 and k - a < 4:
        p = tokens[a - 1]
        if _capitalised(p) and p.low not in lex.not_names and p.low not in PARTICLES and (
                a - 1 > 0 or p.low not in lex.common):
            a -= 1
        elif p.low in PARTICLES and (a - 2 < 0 or not tokens[a - 2].text[:1].islower()):
            a -= 1  # "Van Baerlestraat", "Laan van Meerdervoort"
        else:
            break
    return a


def find_addresses(tokens: list[Token], text: str, lex: Lexicon,
                   house_asked: bool = False, postcode_said: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, "address") of streets with house numbers, unit numbers and Dutch streets;
    with `house_asked`, the number that opens the answer ("Zesentachtig.")."""
    out: list[tuple[int, int, str]] = []
    n = len(tokens)
    if house_asked:
        k = 0
        while k < n and (tokens[k].kind == "punct" or tokens[k].low in ("yes", "yeah", "ja", "it's",
                                                                        "het", "is", "uh", "eh")):
            k += 1
        j = _house_number(tokens, k) if k < n else None
        if j is not None:
            out.append((tokens[k].start, tokens[j - 1].end, "address"))
    for k, t in enumerate(tokens):
        if t.kind != "word":
            continue
        # Dutch order: street (one word with a street suffix, or "Laan van X") then number
        nl_word = _nl_street(t, lex, _house_number(tokens, k + 1) is not None)
        nl_lead = t.text[:1].isupper() and t.low in NL_STREET_WORDS and k + 2 < n \
            and tokens[k + 1].low in PARTICLES and _capitalised(tokens[k + 2])
        if nl_word or nl_lead:
            end_k = k
            if nl_lead:  # "Laan van Meerdervoort": the name runs on after the particles
                end_k = k + 1
                while end_k + 1 < n and (tokens[end_k + 1].low in PARTICLES or _capitalised(tokens[end_k + 1])):
                    end_k += 1
            a = _street_start(tokens, k, lex)
            j = _house_number(tokens, end_k + 1)
            b = tokens[j - 1].end if j is not None else tokens[end_k].end
            if j is not None or nl_word or nl_lead:
                out.append((tokens[a].start, b, "address"))
            continue
        # English order: number, capitalised words, street suffix ("22 Mill Road"; with the
        # number, a suffix the ASR misheard: "31 Fenwick Terres")
        suffix = t.low in EN_STREET_SUFFIXES or _misheard_suffix(t.low)
        if suffix and _capitalised(t) and k > 0 and _capitalised(tokens[k - 1]):
            a = _street_start(tokens, k - 1, lex)
            number_at = None
            for b0 in range(max(0, a - 4), a):  # the house number just before the street name
                j = _house_number(tokens, b0)
                if j == a:
                    number_at = b0
                    break
            if number_at is not None:
                out.append((tokens[number_at].start, t.end, "address"))
            elif t.low in _EN_SURE:
                out.append((tokens[a].start, t.end, "address"))
    # "flat 3", "apartment 12B", "huisnummer 12": a unit or house number with its word
    for k, t in enumerate(tokens):
        if t.low in _UNITS or (
                t.low == "house" and k + 1 < n and tokens[k + 1].low == "number"):
            j = _house_number(tokens, k + (2 if t.low == "house" else 1))
            if j is not None:
                out.append((t.start, tokens[j - 1].end, "address"))
    for pat in (POSTCODES, UK_SPLIT, UK_INWARD):
        out += [(m.start(), m.end(), "postcode") for m in pat.finditer(text)]
    out += _heard_postcodes(tokens, lex)
    if postcode_said or ADDRESS_TALK.search(text) or any(kind == "postcode" for *_, kind in out):
        out += _heard_streets(tokens, lex)
    return out


def _heard_postcodes(tokens: list[Token], lex: Lexicon) -> list[tuple[int, int, str]]:
    """A UK outward code and what the ASR made of the inward one: "BS7, aqj" (BS7 8QJ),
    "M20 for WUD" (M20 4WD), "E2 4jh": two or three letters that could be one (no C I K
    M O V) and are no everyday word, after at most one word for the digit."""
    out = []
    n = len(tokens)
    for k, t in enumerate(tokens):
        if t.kind != "alnum" or not _OUTWARD.fullmatch(t.text):
            continue
        j = k + 1
        while j < n and tokens[j].text in ",.":
            j += 1
        if j < n and (tokens[j].low in ("for", "four", "fore") or len(tokens[j].text) == 1):
            j += 1
            while j < n and tokens[j].text in ",.":
                j += 1
        if j < n and (_INWARD_HEARD.fullmatch(tokens[j].text)
                      and (tokens[j].text.isupper() or tokens[j].low not in lex.common)):
            out.append((t.start, tokens[j].end, "postcode"))
    return out


def _heard_streets(tokens: list[Token], lex: Lexicon) -> list[tuple[int, int, str]]:
    """In talk of an address, a house number before a capitalised word and either another
    that is no everyday word or what the ASR made of a street suffix, in any case: "31
    Fenwick Tairs", "27 Hawthorne terrors" (Terrace misheard past recognition)."""
    out = []
    for k in range(len(tokens)):
        j = _house_number(tokens, k) if tokens[k].kind == "num" else None
        if j is None or j + 1 >= len(tokens):
            continue
        a, b = tokens[j], tokens[j + 1]
        if _capitalised(a) and a.low not in lex.common and (
                (_capitalised(b) and b.low not in lex.common) or (b.kind == "word" and _misheard_suffix(b.low))):
            out.append((tokens[k].start, b.end, "address"))
    return out


def with_town(spans: list[tuple[int, int, str]], tokens: list[Token],
              lex: Lexicon) -> list[tuple[int, int, str]]:
    """Address and postcode spans run on over the town said right after them
    ("Dorpsstraat 4a, 1234 AB Amsterdam", "22 Mill Road, Leeds"): with the street
    the town completes an address; said on its own it is left."""
    out = []
    for a, b, kind in spans:
        if kind == "address":  # "Victoria Road, number 5", "Laan op Zuid, nummer drie"
            k = next((i for i, t in enumerate(tokens) if t.start >= b), len(tokens))
            while k < len(tokens) and tokens[k].text == ",":
                k += 1
            if k < len(tokens) and _NUMBER_WORD.match(tokens[k].low):
                j = _house_number(tokens, k)
                b = tokens[j - 1].end if j is not None else b
        if kind in ("address", "postcode"):
            k = next((i for i, t in enumerate(tokens) if t.start >= b), len(tokens))
            while k < len(tokens) and tokens[k].text in (",", "in"):
                k += 1
            j = k
            while j < len(tokens) and j - k < 3 and (
                    _capitalised(tokens[j]) or (j > k and tokens[j].low in PARTICLES)
                    or tokens[j].text in ("'s", "-", "'s-")):
                j += 1
            town = " ".join(t.low for t in tokens[k:j]).replace(" - ", " ")
            if j > k and (town in lex.places or not any(t.low in lex.common for t in tokens[k:j])):
                b = tokens[j - 1].end
        out.append((a, b, kind))
    return out
