"""E-mail addresses dictated word by word ("sarah dot mitchell at example dot com").

Own module because an address has its own grammar (separator words, a domain
ending in a known TLD, a local part that stops at "is" or "my") that nothing
else shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from assist.spoken.numbers import read_number
from assist.spoken.tokens import Token
from assist.spoken.words import FILLERS, WEAK_NUMBER_WORDS

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
    from assist.validators import email_valid  # local import keeps assist.spoken a leaf for tests

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
