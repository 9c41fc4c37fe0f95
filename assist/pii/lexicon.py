"""The word lists redaction reads: names, everyday words, places, spelling alphabets.

Loaded once per process (about 0.04 s, a few MB) and shared by every call's redactor.
The generated lists come from `scripts/build_name_lexicon.py` (sources and
licences in `prompts/lexicons/names/README.md`); the hand-kept ones from
`prompts/lexicons/pii.yaml`. Every key is folded the way `assist.spoken.fold`
folds a token (lower case, accents stripped), so a lookup is one set test.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

LEXICONS = Path(__file__).resolve().parents[2] / "prompts" / "lexicons"


@dataclass(frozen=True)
class Lexicon:
    first: frozenset[str]  # first names
    surnames: frozenset[str]
    common: frozenset[str]  # everyday lowercase words, English or Dutch
    places: frozenset[str]  # towns, provinces, countries (whole names, words joined by spaces)
    not_names: frozenset[str]  # days, months, nationalities, languages, brands
    letters: dict[str, str]  # spelling-alphabet word -> letter(s) ("sierra" -> "S")

    def is_name(self, key: str) -> bool:
        return key in self.first or key in self.surnames

    def ambiguous(self, key: str) -> bool:
        """A name that is also an everyday word ("grace", "roos", "will"): capitalisation
        at a sentence start says nothing about it."""
        return key in self.common


def _words(path: Path) -> frozenset[str]:
    return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))


def _split(entries: list[str]) -> set[str]:
    return {w for e in entries for w in e.split()}


@functools.lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    names = LEXICONS / "names"
    hand = yaml.safe_load((LEXICONS / "pii.yaml").read_text(encoding="utf-8"))
    letters: dict[str, str] = {}
    for alphabet in hand["spelling"].values():
        for letter, words in alphabet.items():
            for w in str(words).split():
                letters[w] = str(letter).upper()
    hand_places = {p.strip() for line in hand["places"] for p in line.split(",") if p.strip()}
    return Lexicon(
        first=_words(names / "first_names.txt") | _words(names / "first_names_namdict.txt"),
        surnames=_words(names / "surnames.txt"),
        common=_words(names / "common_en.txt") | _words(names / "common_nl.txt"),
        places=_words(names / "places.txt") | frozenset(hand_places),
        not_names=frozenset(_split(hand["not_names"])),
        letters=letters,
    )
