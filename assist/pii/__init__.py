"""Personal data a call says that no form has to capture first: names, spellings,
addresses, postcodes. `assist.redact.Redactor` adds these spans to its own
(numbers, e-mails, dates, captured form values) for everything stored.

One module per kind: `names` (cues, lexicons, how people are addressed),
`spelled` (letters, spelling alphabets), `places` (streets, house numbers,
postcodes), `lexicon` (the word lists in `prompts/lexicons/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assist.pii.lexicon import Lexicon, lexicon
from assist.pii.names import NameFinder
from assist.pii.places import find_addresses, with_town
from assist.pii.spelled import find_spelled, run_kind
from assist.spoken import Run, Token

__all__ = ["CallMemory", "Lexicon", "find_pii", "lexicon", "run_kind"]


@dataclass
class CallMemory:
    """What one call's redactor has learnt: names and spellings heard so far (folded),
    so a name found once is removed wherever it recurs."""

    names: set[str] = field(default_factory=set)
    spellings: set[str] = field(default_factory=set)


def find_pii(text: str, tokens: list[Token], runs: list[Run], memory: CallMemory,
             expect: str | None = None) -> list[tuple[int, int, str]]:
    """(start, end, kind) of names, spelled runs, addresses and postcodes in one text;
    kinds: name, spelled, address, postcode. Runs that are spelled values or postcodes
    are classified here; the number rules in `assist.redact` see the rest. `expect`:
    what the other side just asked for ("name", "house"), so a bare answer
    ("Olumide Adebayo.", "Zesentachtig.") is read as one."""
    lex = lexicon()
    out: list[tuple[int, int, str]] = []
    spelled = find_spelled(tokens, lex)
    out += [(s.start, s.end, "spelled") for s in spelled]
    for r in runs:
        kind = run_kind(r)
        if kind is not None:
            out.append((r.start, r.end, kind))
    postcode = any(kind == "postcode" for *_, kind in out)  # a dictated one: the turn is an address
    out = with_town(out + find_addresses(tokens, text, lex, expect == "house", postcode), tokens, lex)
    finder = NameFinder(lex, memory.names, memory.spellings)
    out += [(a, b, "name") for a, b in finder.find(text, tokens, spelled, expect == "name")]
    return out
