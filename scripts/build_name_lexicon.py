#!/usr/bin/env python3
"""Regenerate the name and common-word lexicons in prompts/lexicons/names/.

The redactor (assist/pii/) recognises personal names without a form: after a cue,
as addressed by the agent, and from lexicons of first names and surnames. The
packages that hold such lists are too big or too awkward to install in CI (and
`names-dataset` is built from a leak of personal data, so it is not used at all),
so this script extracts compact lists once; the repository ships the result.

Sources (none is a runtime dependency):

* Faker (MIT): first and last names of every Latin-script locale of its person
  provider, for English, Dutch and the international names a Dutch or British
  contact centre hears.
* gender-guesser's `nam_dict.txt` (Jörg Michael, GNU FDL 1.2 or later): first
  names that are at least somewhat common (frequency >= 3 of 13) in any country.
* Word lists, to tell which names are also everyday words ("Grace", "Roos",
  "Mark"), and which capitalised words are ordinary words, not names: Debian's
  `wbritish`, `wamerican` (SCOWL) and `wdutch` (OpenTaal) dictionaries, filtered by
  `wordfreq` (Zipf >= 3.0 in that language): a lowercase entry that people use.

Run it in a scratch environment, never in the project's venv::

    apt-get install -y wbritish wamerican wdutch
    python3 -m venv /tmp/lexenv
    /tmp/lexenv/bin/pip install faker==40.63.0 gender-guesser==0.4.0 wordfreq==3.1.1
    /tmp/lexenv/bin/python scripts/build_name_lexicon.py

It is deterministic for the same package versions; the counts it prints go into
prompts/lexicons/names/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "prompts" / "lexicons" / "names"
DICTS = {"en": ["/usr/share/dict/british-english", "/usr/share/dict/american-english"],
         "nl": ["/usr/share/dict/dutch"]}
MIN_ZIPF = 3.0  # an everyday word: about once per 1,000,000 words or more
MIN_NAMDICT = 3  # nam_dict's log scale: 1 rare .. 13 extremely common
# A "name" that is a frequent everyday word and that no dictionary knows as a proper noun
# ("The" is a Vietnamese given name, "Company" a Catalan surname) is dropped: as a name it
# would make every "The ..." a name. Names the dictionaries also capitalise stay ("Will").
MAX_WORD_ZIPF = 4.5


def fold(s: str) -> str:
    """The key the redactor looks names up by (assist.spoken.fold: lower case, no accents)."""
    s = unicodedata.normalize("NFKD", s.replace("’", "'"))
    return "".join(c for c in s if not unicodedata.combining(c)).lower()


ASCII = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "ð": "d",
                       "þ": "th", "œ": "oe", "ŀ": "l", "ħ": "h"})


def keys(name: str) -> set[str]:
    """The folded name and, where letters do not decompose ("Yıldız", "Łukasz"), the ASCII
    spelling an English or Dutch transcript writes ("Yildiz")."""
    k = fold(name)
    return {k, k.translate(ASCII)}


def latin(name: str) -> bool:
    """Latin script only: an ASR writing English or Dutch never writes Cyrillic or Arabic."""
    return bool(name) and all(c.isascii() or (c.isalpha() and ord(c) < 0x250) for c in name)


def single_words(names: set[str]) -> set[str]:
    """Multi-word entries ("van den Berg", "Abu Bakr") split into their words; particles stay
    out (they are handled as particles, not as names)."""
    particles = {"van", "de", "der", "den", "ter", "ten", "te", "el", "al", "da", "dos", "das",
                 "di", "du", "le", "la", "von", "bin", "ibn", "op", "af", "y", "het", "'t", "in"}
    out = set()
    for n in names:
        for w in n.replace("-", " ").split():
            w = w.strip(".,'’()")
            if len(w) >= 2 and latin(w) and fold(w) not in particles:
                out |= keys(w)
    return out


def faker_names() -> tuple[set[str], set[str]]:
    import faker.providers.person as person

    def attr(cls: type, name: str) -> object:
        for k in cls.__mro__:
            if name in k.__dict__:
                return k.__dict__[name]
        return None

    first: set[str] = set()
    last: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        cls = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        for names, attrs in ((first, ("first_names", "first_names_male", "first_names_female",
                                       "first_names_nonbinary")),
                             (last, ("last_names", "last_names_male", "last_names_female"))):
            for a in attrs:
                v = attr(cls, a)
                if isinstance(v, dict):
                    v = list(v)
                if isinstance(v, (list, tuple, set, frozenset)):
                    names.update(str(x) for x in v if latin(str(x)))
    return single_words(first), single_words(last)


def namdict_names() -> set[str]:
    import gender_guesser

    path = Path(gender_guesser.__file__).parent / "data" / "nam_dict.txt"
    out: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line[0] in "#=":
            continue
        freqs = [int(c, 16) for c in line[30:-1] if c.strip() and c in "0123456789ABCDEFabcdef"]
        if freqs and max(freqs) >= MIN_NAMDICT:
            name = line.split()[1]
            for variant in ({name.replace("+", x) for x in ("", " ", "-")} if "+" in name else {name}):
                out |= single_words({variant})
    return out


def places() -> set[str]:
    """Town, province, county and country names (Faker's Dutch, Belgian, British and US
    address providers): a capitalised word that names a place is not taken for a person's
    name on the lexicon alone ("Den Haag", "Utrecht", "Kent")."""
    out: set[str] = set()
    for loc in ("nl_NL", "nl_BE", "en_GB", "en_US", "en_IE", "en_IN", "de_DE", "fr_FR"):
        cls = importlib.import_module(f"faker.providers.address.{loc}").Provider
        for a in ("cities", "provinces", "counties", "countries", "states"):
            v = getattr(cls, a, None)
            if isinstance(v, dict):
                v = list(v.values())
            if isinstance(v, (list, tuple)):
                out |= {fold(str(x)).replace("-", " ") for x in v if latin(str(x))}
    return out


def proper_nouns() -> dict[str, set[str]]:
    """Capitalised dictionary entries (folded), per language: words it knows as names."""
    out: dict[str, set[str]] = {}
    for lang, paths in DICTS.items():
        out[lang] = set()
        for p in paths:
            out[lang] |= {fold(w) for w in Path(p).read_text(encoding="utf-8").split() if w[:1].isupper()}
    return out


def drop_word_names(names: set[str], proper: dict[str, set[str]]) -> set[str]:
    """`names` less the frequent everyday words (MAX_WORD_ZIPF) that the dictionary of that
    language does not know as a proper noun."""
    from wordfreq import zipf_frequency

    return {n for n in names if all(zipf_frequency(n, lang) < MAX_WORD_ZIPF or n in proper[lang]
                                    for lang in DICTS)}


def common_words() -> dict[str, set[str]]:
    """Lowercase dictionary entries people use, per language."""
    from wordfreq import zipf_frequency

    out: dict[str, set[str]] = {}
    for lang, paths in DICTS.items():
        words: set[str] = set()
        for p in paths:
            for w in Path(p).read_text(encoding="utf-8").split():
                if w.islower() and w.isalpha() and len(w) >= 2:
                    words.add(w)
        out[lang] = {fold(w) for w in words if zipf_frequency(w, lang) >= MIN_ZIPF}
    return out


def write(path: Path, header: str, words: set[str]) -> None:
    lines = [f"# {h}" for h in header.strip().splitlines()]
    path.write_text("\n".join(lines + sorted(words)) + "\n", encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {len(words)} entries, {path.stat().st_size // 1024} KiB")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    proper = proper_nouns()
    f_first, f_last = faker_names()
    f_first, f_last = drop_word_names(f_first, proper), drop_word_names(f_last, proper)
    n_first = drop_word_names(namdict_names() - f_first, proper)
    words = common_words()
    everyday = words["en"] | words["nl"]
    names = f_first | f_last | n_first
    write(OUT / "first_names.txt", "First names from Faker's person providers (MIT licence), Latin-script\n"
          "locales; folded to lower case. Regenerate: scripts/build_name_lexicon.py", f_first)
    write(OUT / "surnames.txt", "Surnames from Faker's person providers (MIT licence), Latin-script\n"
          "locales; folded to lower case. Regenerate: scripts/build_name_lexicon.py", f_last)
    write(OUT / "first_names_namdict.txt", "First names from nam_dict.txt (c) Jörg Michael, as shipped by\n"
          "gender-guesser 0.4.0, under the GNU Free Documentation License 1.2 or later;\n"
          f"modified: names with frequency >= {MIN_NAMDICT} of 13 in some country, not already in\n"
          "first_names.txt, folded to lower case. Regenerate: scripts/build_name_lexicon.py", n_first)
    write(OUT / "common_en.txt", "Everyday English words: lowercase entries of Debian's wbritish and\n"
          f"wamerican (SCOWL) with wordfreq Zipf >= {MIN_ZIPF}. Regenerate: scripts/build_name_lexicon.py",
          words["en"])
    write(OUT / "common_nl.txt", "Everyday Dutch words: lowercase entries of Debian's wdutch (OpenTaal)\n"
          f"with wordfreq Zipf >= {MIN_ZIPF}. Regenerate: scripts/build_name_lexicon.py", words["nl"])
    write(OUT / "places.txt", "Place names (towns, provinces, counties, countries) from Faker's address\n"
          "providers (MIT licence); folded to lower case. Regenerate: scripts/build_name_lexicon.py",
          places())
    print(f"names that are also everyday words: {len(names & everyday)} of {len(names)}")


if __name__ == "__main__":
    main()
