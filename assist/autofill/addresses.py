"""Addresses: the street with its house number (Dutch "Biltstraat 145" or English
"1420 North Clark Street"), and the town said after it.

A street may come in two turns ("Biltstraat." ... "Honderdvijfenveertig."), so the
street family can leave a pending street for the number to complete. Postcodes are
dictated codes and belong to the number family.
"""

from __future__ import annotations

import re

from assist.autofill.base import Cand, Context, Pending, Scan, Turn, evidence_at
from assist.autofill.cues import MONTH_WORDS, NAME_INTRO_RE, NAME_STOP, PARTICLES
from assist.spoken import FILLERS, Token, read_number

ADDRESS_CUE_RE = re.compile(
    r"\b(?:i live (?:at|on|in)|live at|address is|adres is|ik woon (?:op|aan|in)|we wonen (?:op|"
    r"aan)|moved to|verhuisd naar|new address|nieuwe adres|woonadres)\b", re.IGNORECASE)
# The caller names their town: "ik woon in Rotterdam", "mijn woonplaats is Den Haag",
# "I live in Zwolle" (a street, when one follows, is the street family's).
LIVES_IN_RE = re.compile(
    r"\b(?:ik woon(?: nu| tegenwoordig| sinds kort)? in|w[ei]j? wonen(?: nu)? in|mijn woonplaats is|"
    r"i(?:'m| am)? liv(?:e|ing) in|we(?:'re| are)? liv(?:e|ing) in|my (?:town|city) is)\s+", re.IGNORECASE)
HOUSE_NO_RE = re.compile(r"^(?:number|no\.?|nummer|huisnummer|nr\.?|house number)$", re.IGNORECASE)
NL_STREET_SUFFIXES = (
    "straatweg", "straat", "laan", "weg", "gracht", "plein", "kade", "singel", "dijk", "pad",
    "hof", "dreef", "steeg", "markt", "plantsoen", "ring", "baan", "wal",
    "erf", "zijde", "allee", "lei", "steenweg", "kaai", "vest", "akker", "kamp", "weide", "poort",
    "vliet", "boulevard", "promenade", "dwarsstraat", "burgwal", "kanaal", "gaarde", "stede",
    "veste", "dries")
NL_STREET_WORDS = {"laan", "plein", "kade", "singel", "dreef", "markt", "weg", "straat", "dijk",
                   "boulevard", "plantsoen", "steenweg", "hof", "gracht", "wal"}
EN_STREET_SUFFIXES = {
    "road", "rd", "street", "st", "lane", "ln", "avenue", "ave", "drive", "dr", "close", "way",
    "crescent", "place", "pl", "court", "ct", "gardens", "terrace", "grove", "hill", "square",
    "row", "walk", "mews", "park", "parade", "rise", "view", "boulevard", "blvd", "parkway",
    "circle", "green", "vale", "wharf", "quay", "embankment", "broadway", "highway", "hwy",
    "approach", "gate", "yard", "passage", "path", "brow", "end"}
STREET_LEFT_STOP = {"ja", "nee", "dus", "het", "ik", "mijn", "dat", "op", "in", "aan", "naar",
                    "nou", "oh", "en", "my", "the", "it's", "it", "i", "yes", "yeah", "at", "on",
                    "so", "and", "new", "nieuwe", "is", "adres", "address", "we", "wij", "to",
                    "of", "uh", "um", "eh", "sure", "well", "wel", "woon", "live", "nu"}
CITY_STOP = NAME_STOP | {"klopt", "dat", "is", "right", "correct", "thanks", "please", "and",
                         "top", "brilliant", "great", "perfect", "prima", "oke", "super", "fijn",
                         "lovely", "cheers", "nice", "mooi", "goed", "helemaal", "precies",
                         "exactly", "bedankt", "dank", "yep", "yup", "nope", "sorry", "hang",
                         "netherlands", "nederland", "uk", "england", "belgium", "belgie"}

# Fields an address answer fills together (a read-back of one confirms the others).
ADDRESS_FAMILY = {"street_address", "postcode", "city"}


class StreetFamily:
    """Street and house number; runs before the number family so that house numbers
    are not read as dictated codes."""

    types = frozenset({"street_address"})
    agent_turns = True

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        return _streets(ctx, scan.turn, scan.used, scan.expected, scan.agent)


class CityFamily:
    """The town, read right after a postcode or street (or as the asked-for answer)."""

    types = frozenset({"city"})
    agent_turns = True

    def extract(self, ctx: Context, scan: Scan) -> list[Cand]:
        return _cities(ctx, scan.turn, scan.cands, scan.expected, scan.agent)


def _streets(ctx: Context, turn: Turn, used: set[int], expected: list[str],
             agent: bool) -> list[Cand]:
    street_f = ctx.fid("street_address")
    if not street_f:
        return []
    text = turn.seg.text
    cue = bool(ADDRESS_CUE_RE.search(text)) or any(
        fid == street_f for _, _, fid in ctx.cue_hits(text))
    want = agent or cue or street_f in expected
    toks = turn.toks
    out: list[Cand] = []
    pend = ctx.pending if ctx.pending and ctx.pending.field == "street" else None
    if pend is not None and not agent:  # "Biltstraat." ... "Honderdvijfenveertig."
        k = next((k for k in range(len(toks)) if k not in used), None)
        first_only = True
        while k is not None and k < len(toks):
            num = _house_number(toks, k, used)
            if num is None or (first_only and num[2] > 3):
                if first_only:
                    break
                k += 1
                continue
            value, i1, skipped = num
            ctx.pending = None
            a, b = toks[k + skipped].start, toks[i1 - 1].end
            used.update(range(k, i1))
            ev = pend.evidence + [evidence_at(turn, a, b)]
            out.append(Cand(street_f, _street_value(pend.street, value), 0.8, a, ev))
            if not turn.corrections:
                break
            first_only, k = False, i1  # "forty-two, no sorry, twenty-four"
        if out:
            return out
    if not want:
        return out
    if street_f in expected and not agent and not any(
            _street_name_at(toks, i) for i in range(len(toks))):
        got = _plain_street(ctx, turn, used)
        if got is not None:
            return [got]
    for i, t in enumerate(toks):
        if i in used or t.kind != "word":
            continue
        got = _street_name_at(toks, i)
        if got is None:
            continue
        name, s0, s1, dutch = got
        if not ctx.allowed(turn, street_f, toks[s0].start, agent):
            continue
        if dutch:
            num = _house_number(toks, s1, used)
            if num is not None:
                value, i1, _ = num
                used.update(range(s0, i1))
                a, b = toks[s0].start, toks[i1 - 1].end
                out.append(Cand(street_f, _street_value(name, value), 0.85, a,
                                 [evidence_at(turn, a, b)]))
                continue
            before = _house_number_before(toks, s0, used)
            if before is not None:  # "forty-seven Wilhelminastraat": written Dutch order
                value, i0 = before
                used.update(range(i0, s1))
                a, b = toks[i0].start, toks[s1 - 1].end
                out.append(Cand(street_f, _street_value(name, value), 0.8, a,
                                 [evidence_at(turn, a, b)]))
                continue
        else:
            num = _house_number_before(toks, s0, used)
            if num is not None:
                value, i0 = num
                used.update(range(i0, s1))
                a, b = toks[i0].start, toks[s1 - 1].end
                out.append(Cand(street_f, f"{value} {name}", 0.85, a,
                                 [evidence_at(turn, a, b)]))
                continue
        if not agent and not out and street_f in expected:  # number still to come
            used.update(range(s0, s1))
            ev = [evidence_at(turn, toks[s0].start, toks[s1 - 1].end)]
            ctx.pending = Pending("street", [], ev, street=name if dutch else "|" + name)
            return out
    return out


def _plain_street(ctx: Context, turn: Turn, used: set[int]) -> Cand | None:
    """An answer to "what's your address?" whose street has no street-type word:
    "Damrak 1" (name then number) or "12 Kingsway" (number then name)."""
    street_f = ctx.fid("street_address")
    toks, text = turn.toks, turn.seg.text
    for a, _ in turn.sentences:
        m = NAME_INTRO_RE.match(text, a)
        p = m.end() if m else a
        i = next((k for k, t in enumerate(toks) if t.start >= p), None)
        if i is None or i in used:
            continue
        j = i
        while j < len(toks) and j - i < 3 and _is_name_word(toks[j]) and \
                toks[j].low not in CITY_STOP and read_number(toks, j) is None:
            j += 1
        if j > i:
            num = _house_number(toks, j, used)
            if num is not None and num[2] <= 2 and (
                    num[1] == len(toks) or toks[num[1]].kind == "punct"):
                name = " ".join(t.text for t in toks[i:j])
                a0, b0 = toks[i].start, toks[num[1] - 1].end
                used.update(range(i, num[1]))
                return Cand(street_f, f"{name} {num[0]}", 0.7, a0,
                             [evidence_at(turn, a0, b0)])
        num = _house_number(toks, i, used, english=True)
        if num is not None and num[2] == 0:
            j = num[1]
            k = j
            while k < len(toks) and k - j < 3 and _is_name_word(toks[k]) and \
                    toks[k].low not in CITY_STOP:
                k += 1
            if k > j and (k == len(toks) or toks[k].kind == "punct"):
                name = " ".join(t.text for t in toks[j:k])
                a0, b0 = toks[i].start, toks[k - 1].end
                used.update(range(i, k))
                return Cand(street_f, f"{num[0]} {name}", 0.7, a0,
                             [evidence_at(turn, a0, b0)])
    return None


def _cities(ctx: Context, turn: Turn, cands: list[Cand], expected: list[str],
            agent: bool) -> list[Cand]:
    city_f = ctx.fid("city")
    if not city_f:
        return []
    _text, toks = turn.seg.text, turn.toks
    starts: list[int] = []
    pc_f = ctx.fid("postcode")
    street_f = ctx.fid("street_address")
    for c in cands:
        if c.field in (pc_f, street_f) and c.evidence and \
                c.evidence[-1].segment_id == turn.seg.segment_id:
            starts.append(c.evidence[-1].char_end)
    said = [] if agent else [m.end() for m in LIVES_IN_RE.finditer(_text)]
    starts = sorted(starts + said)
    if city_f in expected and not agent:
        starts.append(0)
    for s in starts:
        i = next((k for k, t in enumerate(toks) if t.start >= s), None)
        if i is None:
            continue
        while i < len(toks) and (toks[i].text in (",", "-") or toks[i].low in (
                "in", "te", "and", "en", "uh", "um", "eh", "it's", "het", "is", "yes", "ja",
                "city", "town", "woonplaats", "plaats", "stad", "the", "de", "that's", "thats",
                "dat", "which", "that", "dus", "so", "called")):
            i += 1
        words, a, b = [], None, None
        while i < len(toks) and len(words) < 4:
            t = toks[i]
            if t.kind != "word":
                break
            if t.low in ("op", "aan", "upon", "on", "de", "den", "'s") and words and \
                    i + 1 < len(toks) and toks[i + 1].text[:1].isupper():
                words.append(t.text)
                i += 1
                continue
            if not _capitalised(t) or t.low in CITY_STOP or t.low in MONTH_WORDS:
                break
            if read_number(toks, i) is not None:
                break
            words.append(t.text)
            a = t.start if a is None else a
            b = t.end
            i += 1
        if words and a is not None and b is not None:
            if not ctx.allowed(turn, city_f, a, agent):
                continue
            conf = 0.8 if s != 0 else 0.75
            return [Cand(city_f, " ".join(words), conf, a, [evidence_at(turn, a, b)])]
        if s and s not in said and i < len(toks) and toks[i].kind == "word" and \
                not _capitalised(toks[i]):
            # "Van Baerlestraat 112, second floor. Amsterdam.": the town on its own
            nxt = next((sa for sa, _ in turn.sentences if sa > s), None)
            k = next((k for k, t in enumerate(toks) if nxt is not None and t.start >= nxt), None)
            j = k
            while j is not None and j < len(toks) and _capitalised(toks[j]) and \
                    toks[j].kind == "word" and toks[j].low not in CITY_STOP and j - k < 3:
                j += 1
            if k is not None and j is not None and j > k and (
                    j == len(toks) or toks[j].text in ".!"):
                a, b = toks[k].start, toks[j - 1].end
                if ctx.allowed(turn, city_f, a, agent):
                    return [Cand(city_f, " ".join(t.text for t in toks[k:j]), 0.7, a,
                                  [evidence_at(turn, a, b)])]
    return []


def _capitalised(t: Token) -> bool:
    """Upper-case initial, looking past a Dutch "'s-" / "'t " prefix ("'s-Hertogenbosch")."""
    text = re.sub(r"^['’][st]-", "", t.text)
    return text[:1].isupper()


def _is_name_word(t: Token) -> bool:
    return t.kind == "word" and t.text[:1].isupper() and t.low not in STREET_LEFT_STOP \
        and len(t.text) > 1


def _street_name_at(toks: list[Token], i: int) -> tuple[str, int, int, bool] | None:
    """A street name whose head is token i: (name, first, after-last, dutch order?)."""
    t = toks[i]
    w = t.low
    n = len(toks)
    if not t.text[:1].isupper() and not (w in NL_STREET_WORDS and i > 0):
        return None
    if w in MONTH_WORDS:
        return None
    # Dutch: "Biltstraat", "Laan van Meerdervoort", "Prins Hendrikkade"
    if any(w.endswith(s) for s in NL_STREET_SUFFIXES) and (len(w) > 5 or w in NL_STREET_WORDS):
        s0 = i
        while s0 - 1 >= 0 and toks[s0 - 1].space_before is not None and (
                _is_name_word(toks[s0 - 1]) or (toks[s0 - 1].low in PARTICLES and s0 - 2 >= 0
                                                 and _is_name_word(toks[s0 - 2]))):
            if toks[s0 - 1].low in MONTH_WORDS or read_number(toks, s0 - 1) is not None:
                break
            s0 -= 1
        s1 = i + 1
        if w in NL_STREET_WORDS:  # "Laan van Meerdervoort", "Plein 1944"
            while s1 < n and (toks[s1].low in PARTICLES or _is_name_word(toks[s1])) and \
                    read_number(toks, s1) is None:
                s1 += 1
            while s1 - 1 > i and toks[s1 - 1].low in PARTICLES:
                s1 -= 1
            if s1 == i + 1 and s0 == i:
                return None
        while s0 < i and toks[s0].low in ("de", "het", "the", "'t"):
            s0 += 1  # "De Biltstraat" at the start of a sentence: the article is not the name
        name = " ".join(tk.text for tk in toks[s0:s1])
        return name, s0, s1, True
    # English: "Kingsley Road", "North Clark Street"
    if w in EN_STREET_SUFFIXES and i > 0 and _is_name_word(toks[i - 1]):
        s0 = i
        while s0 - 1 >= 0 and _is_name_word(toks[s0 - 1]) and i - s0 < 3 and \
                read_number(toks, s0 - 1) is None:
            s0 -= 1
        name = " ".join(tk.text for tk in toks[s0:i + 1])
        return name, s0, i + 1, False
    return None


def _house_number(toks: list[Token], i: int, used: set[int],
                  english: bool = False) -> tuple[str, int, int] | None:
    """House number (with an addition letter) at or just after i: (value, after, skipped).

    Digits said singly are joined ("een vier vijf" -> 145), as are two pairs in English
    order ("fourteen twenty North Clark Street" -> 1420); a comma ends the number."""
    skipped = 0
    while i < len(toks) and (toks[i].text in (",", ":", "-") or HOUSE_NO_RE.match(toks[i].low)
                             or toks[i].low in FILLERS or toks[i].low in (
                                 "is", "het", "it's", "op", "at", "the", "de", "ja", "yes")):
        i += 1
        skipped += 1
    if i >= len(toks) or i in used:
        return None
    if toks[i].kind == "alnum":
        m = re.fullmatch(r"(\d{1,5})-?([A-Za-z])", toks[i].text)
        return (m.group(1) + m.group(2).upper(), i + 1, skipped) if m else None
    num = read_number(toks, i)
    if num is None or not 1 <= num.value <= 99999 or num.digits.startswith("0"):
        return None
    value, j = num.digits, num.i1
    if not num.numeral:
        while j < len(toks) and j not in used and toks[j].kind == "word" \
                and not toks[j - 1].text.endswith(","):
            nxt = read_number(toks, j)
            if nxt is None or nxt.numeral:
                break
            single = len(value) == 1 or all(len(c) == 1 for c in (value[-1:], nxt.digits))
            pairs = english and len(value) == 2 and len(nxt.digits) == 2
            if not (single and len(nxt.digits) == 1 or pairs) or len(value) + len(nxt.digits) > 4:
                break
            value, j = value + nxt.digits, nxt.i1
    if j < len(toks) and toks[j].kind == "word" and len(toks[j].text) == 1 and \
            toks[j].text.isalpha() and toks[j].text.upper() not in ("I", "O") and \
            toks[j].text.isupper():
        value += toks[j].text.upper()
        j += 1
    return value, j, skipped


def _house_number_before(toks: list[Token], s0: int, used: set[int]) -> tuple[str, int] | None:
    for i in range(max(0, s0 - 4), s0):
        if i in used or (i > 0 and read_number(toks, i - 1) is not None
                         and not toks[i - 1].text.endswith(",") and i - 1 >= s0 - 4):
            continue  # start at the first number word of the group
        num = _house_number(toks, i, used, english=True)
        if num is not None and num[1] == s0 and num[2] == 0:
            return num[0], i
    return None


def _street_value(street: str, number: str) -> str:
    if street.startswith("|"):  # English order remembered from the street turn
        return f"{number} {street[1:]}"
    return f"{street} {number}"
