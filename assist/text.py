"""Language-aware text helpers shared by hints, knowledge, sentiment and summary.

Everything here keeps character offsets aligned with the original text, because
every suggestion must point back at the exact words it came from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")

def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _wordlist(
        """a about above after again against all am an and any are aren't as at be because been
        before being below between both but by can can't cannot could did didn't do does doesn't
        doing don't down during each few for from further had has have haven't having he her here
        hers herself him himself his how i i'd i'll i'm i've if in into is isn't it it's its itself
        just let's me more most my myself no nor not of off on once only or other our ours
        ourselves out over own same she should so some such than that that's the their theirs them
        themselves then there there's these they this those through to too under until up very was
        we we'll we're we've were what what's when where which while who whom why will with would
        you you'd you'll you're you've your yours yourself yourselves um uh eh er oh okay ok yeah
        yes right well please thanks thank hi hello morning afternoon just also really actually
        get got go going want wanted like need know see say said tell told one ask asking
        question questions still now then again much many thing things way anyway sure mean means
        meant happen happens happened work works worked"""
    ),
    "nl": _wordlist(
        """aan al alles als altijd ander andere ben bij daar daarom dan dat de der deze die dit doch
        doen door dus een eens en er ge geen geweest haar had heb hebben heeft hem het hier hij hoe
        hun iemand iets ik in is ja je jij jou jouw jullie kan kon kunnen maar me meer men met mij
        mijn moet na naar niet niets nog nu of om omdat onder ons ook op over reeds te tegen toch toen
        tot u uit uw van veel voor want waren was wat we wel werd wezen wie wil worden wordt zal ze
        zei zelf zich zij zijn zo zonder zou eh uh uhm hm oke oké goed graag dank dankjewel
        dankuwel even eigenlijk gewoon hoor nou dus mag weet zeg vraag vragen willen wilde
        zit staat gaat ga krijg krijgen hallo goedemorgen goedemiddag daar gebeurt gebeuren
        betekent werkt nodig"""
    ),
}


def fold(text: str) -> str:
    """Lower-case and strip accents one character at a time, so offsets stay aligned."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)[:1] or ch
        low = base.lower()
        out.append(low[0] if low else base)
    return "".join(out).replace("’", "'")


def words(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (folded word, start, end) for each word in `text`."""
    for m in _WORD.finditer(fold(text)):
        yield m.group(0), m.start(), m.end()


def _undouble(stem: str) -> str:
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiou":
        return stem[:-1]
    return stem


@lru_cache(maxsize=50_000)
def stem(token: str, lang: str = "en") -> str:
    """A deliberately light suffix stripper: robust for retrieval, never clever.

    A full Porter/Snowball stemmer would be a dependency; for short FAQ passages
    folding plurals and common verb endings gets most of the benefit.
    """
    t = token.replace("'", "")
    if len(t) <= 3 or t.isdigit():
        return t
    if lang == "nl":
        for suf in ("heden", "heid", "tjes", "tje", "etjes", "ingen", "ing", "ens", "en", "es", "s", "e"):
            if t.endswith(suf) and len(t) - len(suf) >= 3:
                return _undouble(t[: -len(suf)])
        return t
    for suf, rep in (("ies", "y"), ("ied", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""),
                     ("ments", ""), ("ment", ""), ("ly", ""), ("es", ""), ("s", "")):
        if t.endswith(suf) and len(t) - len(suf) >= 3 and not t.endswith("ss"):
            return _undouble(t[: -len(suf)] + rep)
    return t


def content_tokens(text: str, lang: str = "en") -> list[str]:
    """Stemmed, stopword-free tokens: what retrieval and matching compare."""
    stops = STOPWORDS.get(lang, STOPWORDS["en"])
    return [stem(w, lang) for w, _, _ in words(text) if w not in stops and len(w) > 1]


def detect_language(text: str, default: str = "en") -> str:
    """Guess en/nl from stopword hits; good enough for KB passages and short turns."""
    toks = [w for w, _, _ in words(text)]
    en = sum(1 for t in toks if t in _EN_MARKERS)
    nl = sum(1 for t in toks if t in _NL_MARKERS)
    if en == nl:
        return default
    return "en" if en > nl else "nl"


_EN_MARKERS = _wordlist("the and is are you your of to with for can not we our be it this that have")
_NL_MARKERS = _wordlist("de het een en is zijn je uw van met voor kan niet we ons wordt bij dat die op")

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_FILLER = re.compile(r"^(?:(?:um|uh|eh|uhm|hm|oh|okay|ok|oke|ja|yeah|yes|no|nee)\b[,.]?\s+)+", re.IGNORECASE)


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text` (surrounding blanks trimmed)."""
    out = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def strip_fillers(text: str) -> str:
    """Drop leading hesitations ("Um, yes, ...") so an extract reads cleanly."""
    cleaned = _FILLER.sub("", text).strip()
    return cleaned[:1].upper() + cleaned[1:] if cleaned else text.strip()
