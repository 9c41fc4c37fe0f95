"""Personal names in what was said, with no form to say which: from cues, lexicons,
the way the agent addresses the caller, and spellings.

A name the ASR mishears ("Chivon" for Siobhan, "Jevon") is still the caller's name,
and the form, which only captures what it can read, may never see it. So names are
recognised the way a listener would:

* after a cue: "my name is", "mijn naam is", "ik heet", "u spreekt met", a title
  ("Mr", "Mrs", "meneer", "mevrouw"), "met <Name>" opening a Dutch answer; after
  a weaker cue ("this is", "it's", "I'm", "ik ben") only a known name counts
  ("it's Irish" is not one);
* as addressed: "Thank you, Jevon,", "Dank u, meneer Jansen", "..., Grace.";
* just before or matching a spelled-out run: "Chivon is S-I-O-B-H-N";
* from the lexicons: a capitalised word that is a first name or surname and not an
  everyday word, or two capitalised words one of which is a name ("Chivon Kelly").

Capitalisation carries much of this: Whisper writes names capitalised, and the
lexicons of everyday words keep "Harbour Bank", "Good Morning" and "Thanks" out.
Names found once are remembered per call (the `known` set) and removed wherever
they recur, capitalised, and the stored log is redacted again retroactively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assist.autofill.cues import NAME_INTRO_RE, PARTICLES
from assist.pii.lexicon import Lexicon
from assist.pii.spelled import Spelled
from assist.spoken import FILLERS, Token, edit_distance


def _rx(p: str) -> re.Pattern[str]:
    return re.compile(p, re.IGNORECASE)


TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "mister", "doctor", "professor", "prof", "madam",
          "meneer", "mevrouw", "mevr", "mw", "dhr", "juffrouw", "dokter", "heer", "sir", "lady"}
# cues after which any capitalised word is a name (the dialogue says a name comes)
STRONG_CUE = _rx(
    r"\b(?:my name is|my name's|the name is|the name's|name's|name is|(?:my )?(?:first|last|family|"
    r"christian|sur|given) ?name(?: is|'s)?|call me|you'?re (?:speaking|talking|through) (?:to|with)|"
    r"you are (?:speaking|talking|through) (?:to|with)|(?:speak|speaking|talk) (?:to|with)|ask for|"
    r"(?:is|was|are|were) (?:called|named)|under the name(?: of)?|in the name(?: of)?|"
    r"mijn (?:voor|achter)?naam is|(?:voor|achter)naam(?: is)?|ik heet|u spreekt met|je spreekt met|"
    r"spreek ik met|op (?:de )?naam van|ten name van|genaamd|(?:mijn )?naam is)\s*[,:]?\s+")
DUTCH_MET = _rx(r"^\W*(?:(?:ja|goedemorgen|goedemiddag|goedenavond|hallo|hoi|dag|goeiedag|"
                r"goeiemorgen)\W+)*met\s+")
# cues after which only a known name counts ("it's Irish", "this is Harbour Bank")
WEAK_CUE = _rx(r"\b(?:this is|it'?s|it is|that'?s|that is|i'?m|i am|here is|ik ben|het is|dit is|"
               r"dat is|hier is|hier met)\s+")
# how an agent (or caller) addresses someone: "Thank you, Jevon," "Dank u, meneer Jansen"
ADDRESS_CUE = _rx(
    r"\b(?:thank you(?: (?:so|very) much)?|thanks(?: a lot| very much| so much)?|cheers|hi|hello|hey|"
    r"hiya|morning|good (?:morning|afternoon|evening)|afternoon|evening|okay|ok|alright|all right|"
    r"right|lovely|great|perfect|brilliant|excellent|sorry|bye|goodbye|welcome|no problem|of course|"
    r"sure|dank (?:u|je)(?: wel)?|bedankt|hoi|hallo|dag|goedemorgen|goedemiddag|goedenavond|prima|"
    r"top|ok[eé]|mooi|fijn|helemaal goed|graag gedaan|tot ziens|welkom|excuses|nou)\s*[,!]?\s+")
_BEFORE_SPELLING = {"is", "that's", "thats", "that", "spelled", "spelt", "spelling", "gespeld",
                    "dat", "met", "with", "as", ",", ":", "-", "it's", "its", "it", "so", "dus",
                    "een", "an", "a", "geschreven", "written", "double", "i", "think"}
_FUNCTION = {"and", "or", "but", "the", "a", "an", "is", "was", "en", "of", "maar", "de", "het",
             "een", "to", "for", "from", "at", "on", "in", "with", "by", "my", "your"}


_CONTRACTION = re.compile(r"['’](?:s|t|re|ll|ve|d|m)$")  # "It's", "What's", "Let's": not names


def capitalised(t: Token) -> bool:
    """A word written with a capital: a name's shape. Spelled letters and acronyms
    ("S", "HRBB") and "I"/"I'm" are not."""
    x = t.text
    return (t.kind == "word" and len(x) >= 2 and x[0].isupper() and not x.startswith(("I'", "I’"))
            and not (x.isupper() and len(x) <= 4) and not _CONTRACTION.search(t.low))


def sentence_start(tokens: list[Token], i: int) -> bool:
    """The first word of the text or of a sentence: capitalised there by grammar alone."""
    k = i - 1
    while k >= 0 and tokens[k].text in "\"'“”‘’(":
        k -= 1
    return k < 0 or tokens[k].text in (".", "!", "?", "…", ":", "—", "–")


class NameFinder:
    """Finds name spans in one text; `known` holds the call's names found so far (folded)."""

    def __init__(self, lex: Lexicon, known: set[str], spellings: set[str]) -> None:
        self.lex = lex
        self.known = known  # names found earlier in the call, folded
        self.spellings = spellings  # letters spelled earlier in the call ("siobhn")

    # -- what a token is ------------------------------------------------------------
    def _blocked(self, t: Token) -> bool:
        return t.low in self.lex.not_names or t.low in TITLES or t.low in FILLERS

    def _everyday(self, t: Token) -> bool:
        """An ordinary word, not a name: capitalised "Bank", "Harbour", "Thanks"."""
        return t.low in self.lex.common and not self.lex.is_name(t.low) and t.low not in self.known

    def _strong(self, t: Token) -> bool:
        """A name on the lexicon alone: a first name or surname that is no everyday word
        and no place."""
        k = t.low
        return (k in self.known or (self.lex.is_name(k) and k not in self.lex.common
                                     and k not in self.lex.places))

    # -- chains of capitalised words ------------------------------------------------
    def chain(self, tokens: list[Token], i: int, lower_ok: bool = False) -> list[int]:
        """The capitalised words from i on that could form one name (particles inside:
        "Lotte van Dam"), at most four words."""
        out: list[int] = []
        j, n = i, len(tokens)
        while j < n and len([k for k in out if tokens[k].low not in PARTICLES]) < 4:
            t = tokens[j]
            if t.kind != "word" or self._blocked(t):
                break
            particle = t.low in PARTICLES and j + 1 < n and (capitalised(tokens[j + 1])
                                                             or tokens[j + 1].low in PARTICLES)
            # "my name is chivon kelly" as an ASR may write it: lowercase words no dictionary has
            lower = lower_ok and len(t.text) >= 2 and t.text.isalpha() and t.low not in _FUNCTION \
                and t.low not in self.lex.common
            if not (particle or capitalised(t) or lower):
                break
            out.append(j)
            j += 1
        while out and tokens[out[-1]].low in PARTICLES:
            out.pop()
        return out

    def _place(self, tokens: list[Token], idx: list[int]) -> bool:
        """A town or country ("Utrecht", "Den Haag"); one word that is also a first name
        ("Dave", "Victoria") counts as the name."""
        key = " ".join(tokens[k].low for k in idx)
        return key in self.lex.places and (len(idx) > 1 or key not in self.lex.first)

    def _names_in(self, tokens: list[Token], idx: list[int]) -> list[int]:
        return [k for k in idx if tokens[k].low not in PARTICLES]

    def bare(self, tokens: list[Token], idx: list[int]) -> list[int]:
        """The part of a chain that is a name with no cue to say so, or [] when none is.

        Leading everyday words go ("Thanks Grace", "Harbour Bank"); what is left is a
        name if it starts with a name that is no everyday word ("Lucy Hart", "Adeyemi"),
        or has two words one of which is a name ("Chivon Kelly", "Grace Adeyemi"), or is a
        first name inside a sentence ("put you through to Grace")."""
        while idx and (tokens[idx[0]].low in PARTICLES or self._everyday(tokens[idx[0]])):
            idx = idx[1:]
        words = self._names_in(tokens, idx)
        if not words or self._place(tokens, idx):
            return []
        head = tokens[words[0]]
        if self._strong(head):
            return idx
        rest = words[1:]
        if self.lex.is_name(head.low):  # a name that is also a word: needs a partner
            if any(not self._everyday(tokens[k]) for k in rest):
                return idx
            if not rest and head.low in self.lex.first and not sentence_start(tokens, words[0]):
                return idx
            return []
        # an unknown word ("Chivon"): a name when a name follows it
        if any(self.lex.is_name(tokens[k].low) or tokens[k].low in self.known for k in rest):
            return idx
        return []

    # -- the passes ---------------------------------------------------------------------
    def find(self, text: str, tokens: list[Token], spelled: Iterable[Spelled],
             expect_name: bool = False) -> list[tuple[int, int]]:
        """(start, end) of every name in text; names found are added to `known` at once,
        so a later pass over the same text sees them ("Marcus Bell. Bell like ...")."""
        found = _Found(tokens, self.known)

        def index_after(pos: int) -> int | None:
            for k, t in enumerate(tokens):
                if t.start >= pos:
                    return k
            return None

        def after_cue(pattern: re.Pattern[str], cue: str) -> None:
            for m in pattern.finditer(text):
                consider(m.end(), cue)

        def consider(pos: int, accept: str) -> None:
            """The chain after a cue ending at pos, accepted as the cue allows."""
            i = index_after(pos)
            if i is None:
                return
            while i < len(tokens) and (tokens[i].low in FILLERS or tokens[i].text == ","):
                i += 1
            if i < len(tokens) and tokens[i].low in TITLES:  # "Thanks, Mrs Kelly"
                i += 1
                while i < len(tokens) and tokens[i].text == ".":
                    i += 1
                accept = "strong"
            if i >= len(tokens):
                return
            idx = self.chain(tokens, i, lower_ok=accept == "strong")
            words = self._names_in(tokens, idx)
            if not words:
                return
            if accept in ("strong", "answer"):
                if any(self._everyday(tokens[k]) for k in words) and not any(
                        self.lex.is_name(tokens[k].low) for k in words):
                    return  # "you're through to Harbour Bank"
                found.append(idx)
            elif accept == "weak":
                if not self._place(tokens, idx) and any(
                        self.lex.is_name(tokens[k].low) or tokens[k].low in self.known for k in words) \
                        and not any(self._everyday(tokens[k]) for k in words):
                    found.append(idx)
            elif accept == "address":
                # "Thank you, Jevon," - a known name, or a word that is no everyday one,
                # ending the phrase
                end = idx[-1] + 1
                closes = end >= len(tokens) or tokens[end].kind == "punct"
                if self._place(tokens, idx) or any(self._everyday(tokens[k]) for k in words):
                    return
                if closes or all(self.lex.is_name(tokens[k].low) for k in words):
                    found.append(idx)

        if expect_name:  # the answer to "and your name?": "Olumide Adebayo.", "Yes, it's ..."
            m = NAME_INTRO_RE.match(text)
            consider(m.end() if m else 0, "answer")
        after_cue(STRONG_CUE, "strong")
        after_cue(DUTCH_MET, "strong")
        after_cue(WEAK_CUE, "weak")
        after_cue(ADDRESS_CUE, "address")
        for k, t in enumerate(tokens):  # titles: "Mr Kelly", "mevrouw de Vries"
            if t.low in TITLES and t.low not in ("sir", "lady", "heer") or (
                    t.low == "heer" and k > 0 and tokens[k - 1].low == "de"):
                j = k + 1
                while j < len(tokens) and tokens[j].text == ".":
                    j += 1
                idx = self.chain(tokens, j) if j < len(tokens) else []
                if idx:  # a capitalised word after a title is a name, "Mr Bell" too
                    found.append(idx)
        # ", Grace." / ", Jevon," - a first name addressed at the end of a clause
        for k, t in enumerate(tokens):
            if t.text == "," and k + 1 < len(tokens):
                idx = self.chain(tokens, k + 1)
                end = idx[-1] + 1 if idx else 0
                if idx and (end >= len(tokens) or tokens[end].text in ".!?,") and all(
                        tokens[x].low in self.lex.first or tokens[x].low in self.known
                        for x in self._names_in(tokens, idx)) and not self._place(tokens, idx):
                    found.append(idx)
        # the word spelled out next to it: "Chivon is S-I-O-B-H-N", "Greaves, G-R-E-A-V-E-S"
        for sp in spelled:
            if sp.digits:  # "Postcode G twelve, eight Q Q", "Het is N L eenenzeventig": an id
                continue
            k = sp.i0 - 1
            hops = 0
            while k >= 0 and tokens[k].low in _BEFORE_SPELLING and hops < 3:
                k -= 1
                hops += 1
            if k >= 0 and capitalised(tokens[k]) and not self._blocked(tokens[k]) \
                    and not self._everyday(tokens[k]):
                # an everyday word spelled out ("Pronk, P-R-O-N-K") is matched by its letters below
                a = k
                while a - 1 >= 0 and (capitalised(tokens[a - 1]) or tokens[a - 1].low in PARTICLES) \
                        and not self._blocked(tokens[a - 1]) and not self._everyday(tokens[a - 1]):
                    a -= 1
                found.append(list(range(a, k + 1)))
            if len(sp.letters) >= 4:
                self.spellings.add(sp.letters.lower())
        # a word the call spelled out, however it was heard; beside its spelling even an
        # everyday word in lower case ("Rhiannon in price. That's P-R-Y-C-E")
        here = {sp.letters.lower() for sp in spelled if not sp.digits and len(sp.letters) >= 4}
        for x, t in enumerate(tokens):
            if t.kind != "word" or self._blocked(t):
                continue
            if (capitalised(t) and any(close(t.low, s) for s in self.spellings)) or any(
                    close(t.low, s) for s in here):
                found.append([x])
        # the lexicons and the names already known in this call
        k = 0
        while k < len(tokens):
            t = tokens[k]
            if capitalised(t) and not self._blocked(t):
                idx = self.chain(tokens, k)
                got = self.bare(tokens, idx) if idx else []
                if got:
                    found.append(got)
                    k = idx[-1] + 1
                    continue
            if t.kind == "word" and t.low in self.known and (capitalised(t) or t.low not in self.lex.common) \
                    and not self._blocked(t):
                found.append([k])
            k += 1
        return found.spans


class _Found(list[list[int]]):
    """Name chains found in one text; appending one teaches the call its words (everyday
    words among them, "Bell", then match only capitalised)."""

    def __init__(self, tokens: list[Token], known: set[str]) -> None:
        super().__init__()
        self.tokens = tokens
        self.known = known

    def append(self, idx: list[int]) -> None:
        super().append(idx)
        for x in idx:
            if len(self.tokens[x].low) >= 2 and self.tokens[x].low not in PARTICLES:
                self.known.add(self.tokens[x].low)

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [(self.tokens[idx[0]].start, self.tokens[idx[-1]].end) for idx in self]


def close(a: str, b: str) -> bool:
    """A spelling of the word, allowing what an ASR or a caller gets wrong: one letter
    for words up to six letters, two for longer ones."""
    if abs(len(a) - len(b)) > 2 or min(len(a), len(b)) < 3:
        return False
    return edit_distance(a, b) <= (1 if max(len(a), len(b)) <= 6 else 2)
