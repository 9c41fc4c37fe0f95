"""Spoken forms of numbers, letters, e-mail addresses and dates, English and Dutch.

Callers dictate values in pieces ("five one nine two, oh three seven four",
"N L eenentwintig, H R B B", "S E fifteen, four R J"), and an ASR may write the
same thing as numerals ("5192 0374"). Everything here works on tokens that keep
their character offsets, so every parsed value can point back at the exact text
it came from (the evidence).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, replace

# ----------------------------------------------------------------------------- tokens


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
_ORD_NUM = re.compile(r"^(\d{1,4})(?:st|nd|rd|th|ste|de|e)$")


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
        if t.isdigit() or _ORD_NUM.match(t.lower()):
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
        elif all(p.kind == "num" or _atomic_number(p.low) is not None
                 or _ordinal_word(p.low) is not None for p in parts):
            for k, p in enumerate(parts):
                out.append(Token(p.text, p.start, p.end, p.low, p.kind, p.space_before, k > 0))
        else:
            first, last = parts[0], parts[-1]
            t = text[first.start:last.end]
            kind = "alnum" if any(c.isdigit() for c in t) else "word"
            out.append(Token(t, first.start, last.end, fold(t), kind, first.space_before))
        i = j + 1
    return out


# ----------------------------------------------------------------------------- numbers

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


def _atomic_number(w: str) -> int | None:
    for table in (EN_UNITS, EN_TEENS, EN_TENS):
        if w in table:
            return table[w]
    if w in ("hundred", "thousand"):
        return 100 if w == "hundred" else 1000
    return nl_number(w)


def _ordinal_word(w: str) -> int | None:
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
        m = _ORD_NUM.match(t.low)
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
            nxt = _atomic_number(tokens[j + 1].low)
            if nxt is not None and nxt < 100 and tokens[j + 1].low not in ("oh", "nul", "zero"):
                j += 1
                continue
            break
        v = _atomic_number(w)
        ov = None
        if v is None and ordinals:
            ov = _ordinal_word(w)
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


# ----------------------------------------------------------------------------- value runs

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
            if t.text not in _RUN_JOINERS and not dotted:
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


# ----------------------------------------------------------------------------- e-mail

AT_WORDS = {"at", "@", "apenstaartje", "apenstaart", "apestaartje", "et"}
WEAK_AT_WORDS = {"that"}  # misheard "at"
DOT_WORDS = {"dot", "punt", "point", "."}
SEP_WORDS = {"underscore": "_", "dash": "-", "hyphen": "-", "streepje": "-", "minteken": "-",
             "koppelteken": "-", "minus": "-", "streep": "-", "_": "_", "-": "-",
             "liggendstreepje": "_", "laagstreepje": "_"}
TWO_WORD_SEPS = {("under", "score"): "_", ("laag", "streepje"): "_", ("liggend", "streepje"): "_",
                 ("lage", "streep"): "_", ("low", "dash"): "_"}
TLDS = {"com", "net", "org", "nl", "be", "uk", "co", "de", "fr", "eu", "info", "io", "biz",
        "edu", "gov", "ie", "us", "lu", "es", "it", "ch", "at", "online", "email", "me", "nu",
        "ac", "ca", "au", "nz", "za", "se", "dk", "no", "fi", "pl", "pt", "gr", "cz", "hu", "ro",
        "tr", "ma", "sr", "in", "jp", "cn", "br", "mx", "ar", "cl", "ng", "app", "dev", "tech",
        "shop", "amsterdam", "frl", "brussels", "vlaanderen", "gent", "london", "nyc", "name",
        "pro", "mobi", "tv", "cc", "ly"}
_LOCAL_STOP = {
    "is", "it's", "its", "it", "my", "email", "e-mail", "mail", "address", "adres", "the", "to",
    "that's", "thats", "yes", "yeah", "so", "and", "please", "sure", "be", "was", "new", "old",
    "send", "me", "on", "of", "for", "use", "as", "with", "het", "mijn", "e-mailadres",
    "mailadres", "naar", "maar", "dat", "ja", "dus", "en", "nieuwe", "oude", "op", "van", "stuur",
    "graag", "mag", "de", "still", "now", "nu", "no", "nee", "sorry", "wacht", "okay", "ok",
    "oke", "is't", "it’s", "right", "correct", "klopt", "via", "you", "u", "je", "can", "kunt",
    "zijn", "an", "a", "een", "i", "ik", "we", "our", "your", "uw", "jouw", "sent", "thanks",
    "thank", "cheers", "hi", "hello", "bedankt", "dank", "hoi", "hallo", "great", "lovely",
}


@dataclass(frozen=True)
class EmailMatch:
    value: str
    start: int
    end: int
    i0: int
    i1: int


def _sep_at(tokens: list[Token], i: int, allow_not: bool = False) -> tuple[str, int] | None:
    """A separator word at i: (character, tokens used)."""
    if i >= len(tokens):
        return None
    t = tokens[i]
    if t.low in DOT_WORDS:
        if t.text == "." and (t.space_before or (i + 1 < len(tokens)
                                                 and tokens[i + 1].space_before)):
            return None
        return ".", 1
    if t.low in SEP_WORDS:
        if t.text in "-_" and (t.space_before or (i + 1 < len(tokens)
                                                  and tokens[i + 1].space_before)):
            return (t.text, 1) if t.text == "_" else None
        return SEP_WORDS[t.low], 1
    if i + 1 < len(tokens) and (t.low, tokens[i + 1].low) in TWO_WORD_SEPS:
        return TWO_WORD_SEPS[(t.low, tokens[i + 1].low)], 2
    if allow_not and t.low == "not":
        return ".", 1
    return None


def _label_at(tokens: list[Token], i: int) -> tuple[str, int] | None:
    """An address label at i (word, spelled letters, digits): (text, next index)."""
    if i >= len(tokens):
        return None
    t = tokens[i]
    if t.kind in ("num", "alnum"):
        return t.low, i + 1
    if t.kind != "word" or t.low in AT_WORDS or t.low in DOT_WORDS or t.low in SEP_WORDS:
        return None
    num = read_number(tokens, i)
    if num is not None and not (num.i1 - num.i0 == 1 and t.low in WEAK_NUMBER_WORDS):
        return num.digits, num.i1
    if len(t.text) == 1 and t.text.isalpha():
        j = i + 1
        s = t.low
        while j < len(tokens) and len(tokens[j].text) == 1 and tokens[j].text.isalpha() and (
                tokens[j].letters_hyphen or tokens[j].text.isupper() == t.text.isupper()):
            s += tokens[j].low
            j += 1
        return s, j
    return t.low.replace("'", ""), i + 1


def _label_ending_at(tokens: list[Token], k: int) -> tuple[str, int] | None:
    """The address label whose last token is k: (text, first index)."""
    t = tokens[k]
    # "a punt de jong": a stop word is a label when separators surround it
    after_sep = k > 0 and _sep_at(tokens, k - 1) is not None
    before_sep = _sep_at(tokens, k + 1) is not None
    joined = (after_sep and t.low in ("de", "van")) or (before_sep and len(t.text) == 1)
    if t.kind == "punct" or (t.low in _LOCAL_STOP and not joined) or t.low in FILLERS \
            or "'" in t.low:
        return None
    if len(t.text) == 1 and t.text.isalpha():
        b = k
        while b - 1 >= 0 and len(tokens[b - 1].text) == 1 and tokens[b - 1].text.isalpha() and (
                tokens[b].letters_hyphen or tokens[b - 1].text.isupper() == t.text.isupper()):
            b -= 1
        return "".join(tk.low for tk in tokens[b:k + 1]), b
    for b in range(max(0, k - 3), k + 1):
        num = read_number(tokens, b)
        if num is not None and num.i1 == k + 1 and tokens[b].low not in _LOCAL_STOP:
            # "patel one at ...": a weak number word right after a name is a digit
            if num.i1 - num.i0 == 1 and tokens[b].low in WEAK_NUMBER_WORDS and not (
                    b > 0 and tokens[b - 1].kind == "word" and tokens[b - 1].low not in _LOCAL_STOP
                    and _sep_at(tokens, b - 1) is None):
                continue
            return num.digits, b
    lab = _label_at(tokens, k)
    return (lab[0], k) if lab is not None and lab[1] == k + 1 else None


def _domain_at(tokens: list[Token], j: int) -> tuple[str, int] | None:
    """Domain after the "at": labels joined by dots (or hyphens) ending in a known TLD."""
    n = len(tokens)
    lab = _label_at(tokens, j)
    if lab is None:
        return None
    parts, j, n_labels, best = [lab[0]], lab[1], 1, None
    while True:
        if n_labels >= 2 and parts[-1] in TLDS:
            best = ("".join(parts), j)
        sep = _sep_at(tokens, j, allow_not=True)
        if sep is None or sep[0] not in ".-":
            break
        if tokens[j].low == "not" and not (j + 1 < n and tokens[j + 1].low in TLDS):
            break
        lab = _label_at(tokens, j + sep[1])
        if lab is None:
            break
        parts += [sep[0], lab[0]]
        j = lab[1]
        n_labels += sep[0] == "."
    return best


def _local_part_before(tokens: list[Token], a: int) -> tuple[str, int] | None:
    """Local part ending just before the "at" token a: (text, first index).

    Separator words join labels; at most two bare words are run together
    ("sarah mitchell at ..."), and a stop word ("is", "naar", "my") ends the scan.
    """
    parts: list[str] = []
    k, start_i, bare, expect_label = a - 1, a, 0, True
    while k >= 0:
        if expect_label:
            lab = _label_ending_at(tokens, k)
            if lab is None:
                break
            if parts and parts[0] not in "._-" and not (parts[0].isdigit() or lab[0].isdigit()):
                bare += 1  # two words run together ("sarah mitchell"), not three
                if bare > 1:
                    break
            parts.insert(0, lab[0])
            start_i, k, expect_label = lab[1], lab[1] - 1, False
            continue
        sep = None
        for width in (2, 1):
            s = _sep_at(tokens, k - width + 1, allow_not=True) if k - width + 1 >= 0 else None
            if s is not None and s[1] == width:
                sep = s
                break
        expect_label = True
        if sep is not None:
            if tokens[k - sep[1] + 1].low == "not" and (
                    k - sep[1] < 0 or _label_ending_at(tokens, k - sep[1]) is None):
                break
            parts.insert(0, sep[0])
            k -= sep[1]
            bare = 0
    while parts and parts[0] in "._-":
        parts.pop(0)
    if not parts:
        return None
    return "".join(parts), start_i


_ASIDE_WORDS = {"that's", "thats", "spelled", "spelt", "dat", "that", "is", "so", "dus"}


def _skip_aside(tokens: list[Token], a: int) -> int:
    """Where the local part ends when a spelling aside sits before the "at":
    "pieter underscore bos, that's B O S, at example dot nl" -> the comma after "bos"."""
    k = a - 1
    if k < 0 or tokens[k].text != ",":
        return a
    k -= 1
    n_letters = 0
    while k >= 0 and len(tokens[k].text) == 1 and tokens[k].text.isalpha():
        k -= 1
        n_letters += 1
    n_words = 0
    while k >= 0 and tokens[k].low in _ASIDE_WORDS and n_words < 2:
        k -= 1
        n_words += 1
    if n_letters >= 2 and n_words and k >= 1 and tokens[k].text == ",":
        return k
    return a


def find_emails(tokens: list[Token]) -> list[EmailMatch]:
    """E-mail addresses dictated ("sarah dot mitchell at example dot com", "m punt yildiz
    apenstaartje example punt com") or written by the ASR ("at example.com")."""
    from assist.validators import email_valid  # local import keeps spoken.py a leaf for tests

    out: list[EmailMatch] = []
    for a in range(1, len(tokens) - 1):
        weak = tokens[a].low in WEAK_AT_WORDS
        if tokens[a].low not in AT_WORDS and not weak:
            continue
        dom = _domain_at(tokens, a + 1)
        if dom is None:
            continue
        if weak and not any(t.low in ("dot", "punt") for t in tokens[a + 1:dom[1]]):
            continue  # an ASR's "that" for "at": only before a dictated "example dot com"
        loc = _local_part_before(tokens, _skip_aside(tokens, a))
        if loc is None and tokens[a - 1].text == "," and a >= 2:
            loc = _local_part_before(tokens, a - 1)  # "nathan dot greaves, at example dot com"
        if loc is None:
            continue
        value = f"{loc[0]}@{dom[0]}".lower()
        if any(t.low == "not" for t in tokens[loc[1]:dom[1]]) and not any(
                t.low in DOT_WORDS and t.low != "." for t in tokens[loc[1]:dom[1]]):
            continue  # "not" read as "dot" only inside an address that says "dot" elsewhere
        if email_valid(value):
            out.append(EmailMatch(value, tokens[loc[1]].start, tokens[dom[1] - 1].end, loc[1],
                                  dom[1]))
    return out


# ----------------------------------------------------------------------------- dates

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
    for m in re.finditer(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b", text):
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
